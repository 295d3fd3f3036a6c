"""align_stack / apply_transforms contract: errors, dropping, crop, validity, dtype, progress."""

from __future__ import annotations

import numpy as np
import pytest

from allfocus._core.errors import InputError
from allfocus.align import (
    ALIGN_MODELS,
    AlignmentError,
    AlignResult,
    align_stack,
    apply_transforms,
    estimate_transforms,
)
from allfocus.align import _warp as warp_module
from allfocus.align._synthetic import corner_errors


def _shift(dx: float, dy: float) -> np.ndarray:
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


def test_align_models_constant():
    assert ALIGN_MODELS == ("translation", "similarity", "affine", "homography", "auto")


def test_result_fields(make_stack):
    stack = make_stack(0)
    result = align_stack(stack.frames)
    assert isinstance(result, AlignResult)
    s, m, n = result.frames.shape
    assert result.frames.dtype == np.float32
    assert result.transforms.shape == (5, 3, 3)
    assert result.transforms.dtype == np.float64
    assert result.valid.shape == (s, m, n)
    assert result.valid.dtype == bool
    assert result.kept == [0, 1, 2, 3, 4]
    assert result.dropped == {}
    assert result.model == "similarity"
    y0, y1, x0, x1 = result.crop_box
    assert (y1 - y0, x1 - x0) == (m, n)
    np.testing.assert_array_equal(result.transforms[2], np.eye(3))


def test_identity_stack_is_not_resampled(make_stack, monkeypatch):
    stack = make_stack(3, still=True)
    calls = []
    monkeypatch.setattr(warp_module, "resample", lambda *a, **k: calls.append(1))
    result = align_stack(stack.frames)
    assert calls == []
    assert result.model == "identity"
    np.testing.assert_array_equal(result.transforms, np.broadcast_to(np.eye(3), (5, 3, 3)))
    assert np.shares_memory(result.frames, stack.frames)
    assert result.valid.all()
    assert result.crop_box == (0, 256, 0, 256)


def test_identity_check_only_in_auto(make_stack):
    stack = make_stack(3, still=True)
    transforms, model, _ = estimate_transforms(stack.frames, model="similarity")
    assert model == "similarity"
    assert corner_errors(transforms, stack.transforms, (256, 256)).max() < 0.1


def _with_stranger(make_stack, index=3):
    stack = make_stack(0)
    other = make_stack(10)
    frames = stack.frames.copy()
    frames[index] = other.frames[index]
    return stack, frames


def test_frame_from_another_scene_raises(make_stack):
    _, frames = _with_stranger(make_stack)
    with pytest.raises(AlignmentError, match="frame 3") as info:
        align_stack(frames)
    assert info.value.frame == 3
    assert set(info.value.reasons) == {3}
    assert "correlation" in info.value.reasons[3]
    assert isinstance(info.value, InputError)
    assert isinstance(info.value, ValueError)


def test_frame_from_another_scene_dropped(make_stack):
    stack, frames = _with_stranger(make_stack)
    result = align_stack(frames, drop_unaligned=True)
    assert result.kept == [0, 1, 2, 4]
    assert list(result.dropped) == [3]
    assert "correlation" in result.dropped[3]
    assert result.frames.shape[0] == 4
    assert result.valid.shape[0] == 4
    assert np.isnan(result.transforms[3]).all()
    kept = result.kept
    errs = corner_errors(result.transforms[kept], stack.transforms[kept], (256, 256))
    assert errs.max() <= 0.5


def test_estimate_reports_failures_without_raising(make_stack):
    _, frames = _with_stranger(make_stack, index=0)
    transforms, _, failed = estimate_transforms(frames)
    assert list(failed) == [0]
    assert np.isnan(transforms[0]).all()
    assert np.isfinite(transforms[1:]).all()


def test_crop_none_keeps_reference_size_and_marks_borders(make_stack):
    stack = make_stack(1)
    result = align_stack(stack.frames, crop="none")
    assert result.frames.shape == stack.frames.shape
    assert result.crop_box == (0, 256, 0, 256)
    assert result.valid[2].all()  # the reference
    for i, k in enumerate(result.kept):
        # Exact check: output pixel p is valid iff T^-1 p lies inside the frame.
        inv = np.linalg.inv(result.transforms[k])
        yy, xx = np.mgrid[0:256, 0:256]
        src = inv @ np.stack([xx.ravel(), yy.ravel(), np.ones(xx.size)])
        src = src[:2] / src[2]
        inside = ((src >= -1e-6) & (src <= 255 + 1e-6)).all(axis=0).reshape(256, 256)
        np.testing.assert_array_equal(result.valid[i], inside)
        if k != 2:
            assert not result.valid[i].all()


def test_common_crop_is_covered_by_every_frame(make_stack):
    stack = make_stack(1)
    full = align_stack(stack.frames, crop="none")
    common = align_stack(stack.frames)
    y0, y1, x0, x1 = common.crop_box
    assert common.valid.all()
    assert full.valid[:, y0:y1, x0:x1].all()
    # Same pixels, whichever crop (up to OpenCV's 1/32-pixel warp positions).
    diff = np.abs(common.frames - full.frames[:, y0:y1, x0:x1])
    assert diff.mean() < 1e-3
    assert diff.max() < 0.05
    # Largest: growing the box by one pixel on any side leaves the covered area.
    grown = [(y0 - 1, y1, x0, x1), (y0, y1 + 1, x0, x1), (y0, y1, x0 - 1, x1), (y0, y1, x0, x1 + 1)]
    for a, b, c, d in grown:
        if a < 0 or c < 0 or b > 256 or d > 256:
            continue
        assert not full.valid[:, a:b, c:d].all()


def test_apply_integer_shifts_is_exact(rng):
    base = rng.random((40, 60)).astype(np.float32)
    frames = np.stack([base, np.roll(base, (2, -3), axis=(0, 1))])
    # Frame 1 pixel (x, y) shows base at (x + 3, y - 2): map it there. Frame 1
    # then covers reference columns 3..59 and rows 0..37.
    result = apply_transforms(frames, np.stack([np.eye(3), _shift(3, -2)]))
    assert result.crop_box == (0, 38, 3, 60)
    assert result.model == "translation"
    np.testing.assert_allclose(result.frames[0], base[0:38, 3:60], atol=1e-6)
    np.testing.assert_allclose(result.frames[1], base[0:38, 3:60], atol=1e-6)


def test_apply_transforms_round_trip(make_stack):
    stack = make_stack(2)
    result = align_stack(stack.frames)
    again = apply_transforms(stack.frames, result.transforms)
    np.testing.assert_array_equal(again.frames, result.frames)
    assert again.crop_box == result.crop_box
    assert again.model == "similarity"


def test_apply_transforms_drops_nan_rows(rng):
    frames = rng.random((3, 32, 32)).astype(np.float32)
    mats = np.stack([np.eye(3), np.full((3, 3), np.nan), _shift(1, 0)])
    result = apply_transforms(frames, mats, crop="none")
    assert result.kept == [0, 2]
    assert list(result.dropped) == [1]
    assert not result.valid[1][:, 0].any()  # shifted right by one column
    assert result.valid[1][:, 1:].all()


def test_apply_transforms_checks_shapes(rng):
    frames = rng.random((3, 32, 32)).astype(np.float32)
    with pytest.raises(InputError, match=r"shape \(3, 3, 3\)"):
        apply_transforms(frames, np.stack([np.eye(3)] * 2))
    with pytest.raises(InputError, match="singular"):
        apply_transforms(frames, np.stack([np.eye(3), np.zeros((3, 3)), np.eye(3)]))


def test_no_common_area(rng):
    frames = rng.random((2, 32, 32)).astype(np.float32)
    with pytest.raises(InputError, match="no common area"):
        apply_transforms(frames, np.stack([np.eye(3), _shift(40, 0)]))


def test_integer_input_gives_float32_in_range(make_stack):
    stack = make_stack(0)
    u8 = np.round(stack.frames * 255).astype(np.uint8)
    result = align_stack(u8)
    assert result.frames.dtype == np.float32
    assert result.frames.min() >= 0.0
    assert result.frames.max() <= 1.0


def test_progress_is_monotonic_and_complete(make_stack):
    calls = []
    align_stack(make_stack(0).frames, progress=lambda done, total: calls.append((done, total)))
    totals = {t for _, t in calls}
    assert len(totals) == 1
    dones = [d for d, _ in calls]
    assert dones == sorted(dones)
    assert dones[-1] == totals.pop()


def test_single_frame_stack(rng):
    frame = rng.random((1, 32, 48)).astype(np.float32)
    result = align_stack(frame)
    assert result.model == "identity"
    np.testing.assert_array_equal(result.transforms[0], np.eye(3))
    np.testing.assert_array_equal(result.frames, frame)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model": "rigid"}, "unknown alignment model 'rigid'; choose one of: translation"),
        ({"crop": "max"}, "unknown crop 'max'"),
        ({"reference": 5}, "reference=5 is out of range"),
        ({"reference": 1.5}, "reference must be a frame index"),
    ],
)
def test_bad_arguments(rng, kwargs, match):
    frames = rng.random((3, 32, 32)).astype(np.float32)
    with pytest.raises(InputError, match=match):
        align_stack(frames, **kwargs)


def test_bad_stack_shapes(rng):
    with pytest.raises(InputError, match="channel_axis=-1"):
        align_stack(rng.random((3, 32, 32, 3)))
    with pytest.raises(InputError, match="at least 16x16"):
        align_stack(rng.random((3, 8, 32)))
    with pytest.raises(InputError, match="NaN"):
        align_stack(np.full((2, 32, 32), np.nan))


def test_too_little_overlap_names_frames_and_reference():
    from allfocus.synth import synthetic_stack

    wide = synthetic_stack((128, 480), 3, color=False, rng=2, max_radius=2.0).frames
    # The middle (reference) frame overlaps the others by 15 %.
    frames = np.stack([wide[0][:, 0:200], wide[1][:, 170:370], wide[2][:, 0:200]])
    with pytest.raises(AlignmentError, match="too little overlap") as info:
        align_stack(frames)
    assert set(info.value.reasons) == {0, 2}
    assert "frame 1 itself may be the odd one out" in str(info.value)
    # With the first frame as reference only the middle frame fails.
    result = align_stack(frames, reference=0, drop_unaligned=True)
    assert result.kept == [0, 2]
    assert "overlap" in result.dropped[1]


def test_small_strongly_defocused_still_stack_is_identity():
    # Occlusion rims make such frames look shifted by a few tenths of a pixel,
    # but no motion explains their difference: they count as aligned.
    from allfocus.synth import synthetic_stack

    frames = synthetic_stack((96, 128), 4, max_radius=5.0, rng=3).frames
    result = align_stack(frames, channel_axis=-1)
    assert result.model == "identity"
    assert result.frames.shape == frames.shape


def test_small_real_shift_is_not_ignored():
    from allfocus.synth import synthetic_stack

    frames = synthetic_stack((96, 128), 4, max_radius=5.0, rng=3).frames.copy()
    frames[3] = np.roll(frames[3], 1, axis=1)  # one whole pixel
    result = align_stack(frames, channel_axis=-1, crop="none")
    assert result.model != "identity"
    assert abs(result.transforms[3, 0, 2] + 1.0) < 0.3
