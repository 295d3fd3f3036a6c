"""Alignment recovers known transforms of defocused synthetic stacks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allfocus.align import align_stack, estimate_transforms
from allfocus.align._synthetic import corner_errors, misaligned_stack

# Acceptance: mean corner error <= 0.15 px, worst corner <= 0.5 px.
MEAN_TOL = 0.15
WORST_TOL = 0.5


def _errors(estimated, stack):
    errs = corner_errors(estimated, stack.transforms, stack.frames.shape[1:3])
    return float(errs.mean()), float(errs.max())


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_similarity_stacks_recovered(make_stack, seed):
    stack = make_stack(seed)
    transforms, model, failed = estimate_transforms(stack.frames)
    assert failed == {}
    assert model == "similarity"
    mean, worst = _errors(transforms, stack)
    assert mean <= MEAN_TOL
    assert worst <= WORST_TOL


def test_strong_defocus_recovered(make_stack):
    stack = make_stack(7, max_radius=6.0)
    transforms, _, _ = estimate_transforms(stack.frames)
    mean, worst = _errors(transforms, stack)
    assert mean <= MEAN_TOL
    assert worst <= WORST_TOL


def test_colour_stack_and_channel_axis(make_stack):
    stack = make_stack(4, shape=(192, 288), num_frames=4, color=True)
    last = align_stack(stack.frames, channel_axis=-1)
    mean, worst = _errors(last.transforms, stack)
    assert mean <= MEAN_TOL
    assert worst <= WORST_TOL
    first = align_stack(np.moveaxis(stack.frames, -1, 1), channel_axis=1)
    np.testing.assert_allclose(first.transforms, last.transforms, atol=1e-9)
    # Output colour is always last.
    assert first.frames.shape == last.frames.shape
    assert last.frames.shape[-1] == 3
    np.testing.assert_array_equal(first.frames, last.frames)


@pytest.mark.parametrize("model", ["affine", "homography"])
def test_auto_picks_richer_model_when_needed(make_stack, model):
    stack = make_stack(1, shape=(320, 320), model=model)
    transforms, used, _ = estimate_transforms(stack.frames)
    assert used == model
    mean, worst = _errors(transforms, stack)
    assert mean <= MEAN_TOL
    assert worst <= WORST_TOL


@pytest.mark.parametrize("model", ["similarity", "affine", "homography"])
def test_explicit_models(make_stack, model):
    stack = make_stack(2)
    transforms, used, _ = estimate_transforms(stack.frames, model=model)
    assert used == model
    mean, worst = _errors(transforms, stack)
    assert mean <= MEAN_TOL
    assert worst <= WORST_TOL


def test_translation_model_returns_pure_shifts():
    stack = misaligned_stack((256, 256), 4, max_scale=0.0, max_rotation=0.0, rng=5)
    transforms, used, _ = estimate_transforms(stack.frames, model="translation")
    assert used == "translation"
    np.testing.assert_allclose(transforms[:, :2, :2], np.broadcast_to(np.eye(2), (4, 2, 2)))
    mean, worst = _errors(transforms, stack)
    assert mean <= 0.1
    assert worst <= 0.3


def test_reference_frame_is_identity_and_selectable(make_stack):
    stack = make_stack(0)
    transforms, _, _ = estimate_transforms(stack.frames, reference=-1)
    np.testing.assert_array_equal(transforms[-1], np.eye(3))
    truth = np.linalg.inv(stack.transforms[-1]) @ stack.transforms
    errs = corner_errors(transforms, truth, stack.frames.shape[1:3])
    assert errs.mean() <= MEAN_TOL
    assert errs.max() <= WORST_TOL


@settings(max_examples=6, deadline=None)
@given(
    dx=st.floats(-30, 30, allow_nan=False),
    dy=st.floats(-30, 30, allow_nan=False),
)
def test_known_shift_recovered(dx, dy):
    motions = np.stack([np.eye(3), np.eye(3)])
    motions[1, :2, 2] = dx, dy
    stack = misaligned_stack((160, 192), 2, motions=motions, reference=0, max_radius=2.0, rng=11)
    shifts, _, failed = estimate_transforms(stack.frames, reference=0, model="translation")
    assert failed == {}
    np.testing.assert_allclose(shifts[1], stack.transforms[1], atol=0.1)
    auto, _, _ = estimate_transforms(stack.frames, reference=0)
    assert corner_errors(auto, stack.transforms, (160, 192)).max() <= 0.2


def test_large_rotation_found_from_features():
    # 30 degrees is beyond the Gauss-Newton basin from a phase-correlation
    # start; the SIFT + RANSAC start recovers it.
    stack = misaligned_stack((256, 256), 3, max_rotation=30.0, rng=3)
    transforms, _, failed = estimate_transforms(stack.frames)
    assert failed == {}
    mean, worst = _errors(transforms, stack)
    assert mean <= MEAN_TOL
    assert worst <= WORST_TOL
