"""Tests of brightness matching before fusion."""

from __future__ import annotations

import numpy as np
import pytest

from allfocus.fusion import fuse
from allfocus.fusion.exposure import gain_fields, match_exposure
from allfocus.synth import synthetic_stack


@pytest.fixture(scope="module")
def synth():
    return synthetic_stack((128, 128), 5, rng=0)


def drift_fields(num, shape):
    """Exposure drift plus vignetting: frame 0 darker with strong fall-off, last brighter."""
    rows, cols = shape
    yy, xx = np.mgrid[0:rows, 0:cols]
    r2 = ((yy - rows / 2) ** 2 + (xx - cols / 2) ** 2) / (rows / 2) ** 2
    gains = np.ones((num, rows, cols), np.float32)
    gains[0] = 0.8 * (1 - 0.25 * r2)
    gains[-1] = 1.15 * (1 - 0.1 * r2)
    return gains


def test_no_op_without_drift(synth):
    out = match_exposure(synth.frames, channel_axis=-1)
    assert out.dtype == np.float32
    assert out.shape == synth.frames.shape
    np.testing.assert_allclose(out, synth.frames, atol=1e-3)


def test_identical_frames_unchanged(synth):
    stack = np.repeat(synth.sharp[None], 3, axis=0)
    np.testing.assert_array_equal(match_exposure(stack, channel_axis=-1), stack)


def test_corrects_gain_and_vignetting(synth):
    num = synth.frames.shape[0]
    gains = drift_fields(num, synth.frames.shape[1:3])[..., None]
    drifted = np.clip(synth.frames * gains, 0, 1)
    # The reference (middle) frame has gain 1, so the target is the undrifted stack.
    before = np.abs(drifted - synth.frames).mean()
    after = np.abs(match_exposure(drifted, channel_axis=-1) - synth.frames).mean()
    assert after < 0.005
    assert after < 0.1 * before


def test_matching_helps_fusion(synth):
    gains = drift_fields(synth.frames.shape[0], synth.frames.shape[1:3])[..., None]
    drifted = np.clip(synth.frames * gains, 0, 1)

    def psnr(img):
        return 10 * np.log10(1 / ((img - synth.sharp) ** 2).mean())

    raw = fuse(drifted, channel_axis=-1).image
    matched = fuse(match_exposure(drifted, channel_axis=-1), channel_axis=-1).image
    assert psnr(matched) > psnr(raw) + 3


def test_reference_frame_is_kept(synth):
    drifted = synth.frames * np.float32(0.9)
    drifted[2] = synth.frames[2]
    for ref in (0, -1):
        out = match_exposure(drifted, channel_axis=-1, reference=ref)
        np.testing.assert_array_equal(out[ref], drifted[ref])
        assert abs(out[2].mean() - 0.9 * synth.frames[2].mean()) < 2e-3


def test_global_gain_only(synth):
    drifted = synth.frames.copy()
    drifted[0] *= np.float32(0.7)
    out = match_exposure(drifted, channel_axis=-1, degree=0)
    np.testing.assert_allclose(out[0], synth.frames[0], atol=5e-3)


def test_channel_axis_and_grey(synth):
    gains = drift_fields(5, synth.frames.shape[1:3])[..., None]
    drifted = np.clip(synth.frames * gains, 0, 1)
    last = match_exposure(drifted, channel_axis=-1)
    first = match_exposure(np.moveaxis(drifted, -1, 1), channel_axis=1)
    np.testing.assert_allclose(np.moveaxis(first, 1, -1), last, atol=1e-6)
    grey = match_exposure(drifted[..., 1])
    assert grey.shape == drifted.shape[:3]
    assert np.abs(grey - synth.frames[..., 1]).mean() < 0.005


def test_dark_frames_do_not_explode():
    rng = np.random.default_rng(0)
    frames = (0.005 * rng.random((3, 32, 32))).astype(np.float32)
    gains = gain_fields(frames, reference=1)
    np.testing.assert_array_equal(gains, 1)


def test_uint8_input(synth):
    ints = np.round(synth.frames * 255).astype(np.uint8)
    out = match_exposure(ints, channel_axis=-1)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ints / np.float32(255), atol=1e-3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"reference": 5}, "reference"),
        ({"reference": -6}, "reference"),
        ({"reference": True}, "reference"),
        ({"reference": 1.0}, "reference"),
        ({"degree": -1}, "degree"),
        ({"smoothing": 0}, "smoothing"),
        ({"tolerance": -0.1}, "tolerance"),
    ],
)
def test_bad_options(synth, kwargs, match):
    with pytest.raises(ValueError, match=match):
        match_exposure(synth.frames, channel_axis=-1, **kwargs)


def test_alpha_channel_untouched(synth):
    rgba = np.concatenate([synth.frames, np.full_like(synth.frames[..., :1], 0.5)], axis=-1)
    rgba[0, ..., :3] *= np.float32(0.8)
    out = match_exposure(rgba, channel_axis=-1)
    np.testing.assert_array_equal(out[..., 3], 0.5)
    assert np.abs(out[0, ..., :3] - synth.frames[0]).mean() < 0.005


def test_input_left_unchanged_unless_overwrite_is_allowed(synth):
    gains = drift_fields(synth.frames.shape[0], synth.frames.shape[1:3])[..., None]
    drifted = np.clip(synth.frames * gains, 0, 1).astype(np.float32)
    kept = drifted.copy()
    copied = match_exposure(drifted, channel_axis=-1)
    np.testing.assert_array_equal(drifted, kept)
    assert not np.shares_memory(copied, drifted)
    # Allowed, the float32 channels-last stack itself holds the same result.
    in_place = match_exposure(drifted, channel_axis=-1, overwrite_input=True)
    assert np.shares_memory(in_place, drifted)
    np.testing.assert_array_equal(in_place, copied)
    # Frames first and colours on axis 1: a converted copy, the input kept.
    moved = np.ascontiguousarray(np.moveaxis(kept, -1, 1))
    before = moved.copy()
    out = match_exposure(moved, channel_axis=1, overwrite_input=True)
    np.testing.assert_array_equal(moved, before)
    np.testing.assert_allclose(np.moveaxis(out, 1, -1), copied, atol=1e-6)
