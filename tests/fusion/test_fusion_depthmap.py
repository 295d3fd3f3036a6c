"""Tests of the decision-map helpers of the depth-map method."""

from __future__ import annotations

import numpy as np
import pytest

from allfocus.fusion.depthmap import focus_volume, fuse_depthmap, remove_small_regions


def test_remove_small_regions():
    labels = np.zeros((20, 20), int)
    labels[:, 10:] = 2
    labels[5, 3] = 1  # isolated pixel inside region 0
    labels[12:14, 15:17] = 0  # 2x2 island inside region 2
    out = remove_small_regions(labels, min_size=5)
    expected = np.zeros((20, 20), int)
    expected[:, 10:] = 2
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(remove_small_regions(labels, min_size=0), labels)


def test_remove_small_regions_is_label_agnostic():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, (16, 16))
    swap = np.array([2, 0, 1])
    cleaned = remove_small_regions(labels, min_size=4)
    np.testing.assert_array_equal(remove_small_regions(swap[labels], min_size=4), swap[cleaned])


def test_focus_volume_shape():
    luma = np.random.default_rng(0).random((3, 16, 20)).astype(np.float32)
    vol = focus_volume(luma, measure="variance", window=3)
    assert vol.shape == luma.shape
    assert vol.dtype == np.float32


@pytest.mark.parametrize("refine_radius", [0, 1, 3])
def test_hard_and_soft_selection_agree_inside_regions(refine_radius):
    rng = np.random.default_rng(1)
    sharp = rng.random((32, 32)).astype(np.float32)
    soft = np.full_like(sharp, sharp.mean())
    a, b = sharp.copy(), sharp.copy()
    a[:, 16:] = soft[:, 16:]
    b[:, :16] = soft[:, :16]
    res = fuse_depthmap(np.stack([a, b]), refine_radius=refine_radius)
    reach = 2 * refine_radius + 3  # guided filter reach plus a decision pixel or two
    np.testing.assert_allclose(res.image[:, : 16 - reach], sharp[:, : 16 - reach], atol=1e-5)
    np.testing.assert_allclose(res.image[:, 16 + reach :], sharp[:, 16 + reach :], atol=1e-5)


@pytest.mark.parametrize("color", [False, True])
@pytest.mark.parametrize("radius", [1, 4])
def test_blend_along_edges_is_the_whole_image_guided_filter(color, radius):
    # Each frame is filtered only in a window around its pixels: the same weights.
    from allfocus.filters.guided import _guided_grey
    from allfocus.fusion.depthmap import blend_along_edges

    rng = np.random.default_rng(1)
    num, shape = 4, (90, 110)
    frames = rng.random((num, *shape, 3) if color else (num, *shape), dtype=np.float32)
    luma = frames.mean(axis=-1) if color else frames
    labels = np.zeros(shape, dtype=np.intp)
    labels[10:30, 20:45] = 1  # a small region inside
    labels[60:, 80:] = 2  # one at the corner
    # (frame 3 wins nowhere)
    guide = np.take_along_axis(luma, labels[None], axis=0)[0]
    weights = [
        np.maximum(_guided_grey((labels == k).astype(np.float32), guide, radius, 1e-2), 0)
        for k in range(num)
    ]
    expected = sum(f * (w[..., None] if color else w) for f, w in zip(frames, weights, strict=True))
    total = np.maximum(sum(weights), 1e-6)
    expected /= total[..., None] if color else total
    got = blend_along_edges(frames, luma, labels, radius, 1e-2)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert not np.allclose(
        got,
        np.take_along_axis(frames, (labels[None, ..., None] if color else labels[None]), axis=0)[0],
        atol=1e-3,
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_argmax_frames_is_numpys_without_its_copy(dtype):
    from allfocus.fusion._common import argmax_frames

    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=(6, 30, 40)).astype(dtype)  # many ties
    index = argmax_frames(scores)
    assert index.dtype == np.intp
    np.testing.assert_array_equal(index, np.argmax(scores, axis=0))  # ties: the lower index
    np.testing.assert_array_equal(argmax_frames(scores[:1]), np.zeros((30, 40)))


def test_subframe_depth_refines_the_end_frames_inward_when_asked():
    from allfocus.fusion._common import subframe_depth

    def scores(vertex, num=4):
        x = np.arange(num, dtype=np.float32)
        return -((x - vertex) ** 2)[:, None, None] * np.ones((1, 1, 2), np.float32)

    half = scores(0.5)  # a surface halfway between the first and second frame
    first, second = np.zeros((1, 2), int), np.ones((1, 2), int)
    assert subframe_depth(half, second) == pytest.approx(0.5)
    assert subframe_depth(half, first) == pytest.approx(0.0)
    # either winner gives the same depth
    assert subframe_depth(half, first, ends=True) == pytest.approx(0.5)
    # inward only: a vertex beyond the first frame stays at it
    assert subframe_depth(scores(-0.3), first, ends=True) == pytest.approx(0.0)
    last = np.full((1, 2), 3)
    assert subframe_depth(scores(2.7), last, ends=True) == pytest.approx(2.7)
    assert subframe_depth(scores(3.4), last, ends=True) == pytest.approx(3.0)
    # not peaked: no offset
    assert subframe_depth(np.ones((4, 1, 2), np.float32), first, ends=True) == pytest.approx(0.0)


@pytest.mark.parametrize("ends", [False, True])
def test_subframe_depth_in_strips_is_the_whole_map_at_once(ends, monkeypatch):
    from allfocus.fusion import _common

    rng = np.random.default_rng(2)
    scores = rng.random((5, 37, 23), dtype=np.float32)
    index = np.argmax(scores, axis=0)
    whole = _common.subframe_depth(scores, index, ends=ends)
    monkeypatch.setattr(_common, "_STRIP_PIXELS", 50)  # strips of 2 rows, the last of 1
    np.testing.assert_array_equal(_common.subframe_depth(scores, index, ends=ends), whole)
    assert np.abs(whole - index).max() > 0.1  # offsets were computed


def test_subframe_depth_holds_no_whole_map_temporaries(traced_peak):
    # Its nine float32 temporaries of the whole map were 36 bytes per pixel
    # above its result; in strips they are a few megabytes at most.
    from allfocus.fusion._common import subframe_depth

    rng = np.random.default_rng(3)
    scores = rng.random((3, 2000, 1000), dtype=np.float32)
    index = rng.integers(0, 3, (2000, 1000))
    per_pixel = traced_peak(lambda: subframe_depth(scores, index, ends=True)) / index.size
    assert per_pixel <= 12, f"{per_pixel:.1f} bytes per pixel"


def test_blend_along_edges_peak_memory(traced_peak):
    # Colour frames whose labels are everywhere (every frame's window is the
    # whole image): the guide, its statistics, the sums and one frame's
    # weight, no weighted copy of a frame. 61 bytes per pixel before the
    # weighted sum went channel by channel and the guided filter in place.
    from allfocus.fusion.depthmap import blend_along_edges

    rng = np.random.default_rng(4)
    num, shape = 4, (300, 400)
    frames = [rng.random((*shape, 3), dtype=np.float32) for _ in range(num)]
    luma = rng.random((num, *shape), dtype=np.float32)
    labels = rng.integers(0, num, shape).astype(np.intp)
    per_pixel = traced_peak(lambda: blend_along_edges(iter(frames), luma, labels, 1, 1e-2))
    per_pixel /= labels.size
    assert per_pixel <= 52, f"{per_pixel:.1f} bytes per pixel"


def test_blend_along_edges_takes_the_selected_guide():
    from allfocus.fusion.depthmap import blend_along_edges

    rng = np.random.default_rng(5)
    frames = rng.random((3, 40, 50, 3), dtype=np.float32)
    luma = rng.integers(0, 65536, (3, 40, 50)).astype(np.uint16)
    labels = rng.integers(0, 3, (40, 50)).astype(np.intp)
    guide = np.take_along_axis(luma, labels[None], axis=0)[0]
    np.testing.assert_array_equal(
        blend_along_edges(frames, guide, labels, 2, 1e-2),
        blend_along_edges(frames, luma, labels, 2, 1e-2),
    )


def test_remove_small_regions_takes_the_nearest_large_pixels_label():
    # Against scipy's exact Euclidean feature transform: OpenCV's 5 x 5 mask
    # may pick a large pixel up to 0.2 px farther, so a small pixel may take
    # another label only where two large regions are at nearly equal distance.
    from scipy import ndimage

    rng = np.random.default_rng(1)
    labels = (rng.random((120, 160)) * 3).astype(np.intp)
    labels[:, :60] = 0
    labels[40:80, 100:140] = 1
    out = remove_small_regions(labels, min_size=6)
    small = out != labels
    assert small.sum() > 1000
    regions = [ndimage.label(labels == v)[0] for v in range(3)]
    big = np.zeros(labels.shape, bool)
    for v, reg in enumerate(regions):
        sizes = np.bincount(reg.ravel())
        big |= (labels == v) & (sizes[reg] >= 6)
    dist, (rows, cols) = ndimage.distance_transform_edt(~big, return_indices=True)
    exact = labels[rows, cols]
    assert (out == exact).mean() > 0.98
    # where they differ, the label taken is that of a large pixel at most 0.2 px farther
    for r, c in zip(*np.nonzero(out != exact), strict=True):
        near = big & (labels == out[r, c])
        yy, xx = np.nonzero(near)
        assert np.hypot(yy - r, xx - c).min() <= dist[r, c] + 0.2


def test_remove_small_regions_memory(traced_peak):
    # Two large regions sprinkled with single pixels: the nearest large pixel
    # of each comes from OpenCV's labelled distance transform (int32 numbers).
    # With scipy's transform and its distances as well (float64 and their
    # int32 and float64 temporaries) the peak was 38 bytes a pixel; a sorted
    # copy for the labels present and np.isin added more.
    rng = np.random.default_rng(0)
    labels = np.zeros((1000, 1000), np.intp)
    labels[:, 500:] = 1
    rows, cols = rng.integers(0, 1000, (2, 2000))
    labels[rows, cols] = 2
    out = None

    def run():
        nonlocal out
        out = remove_small_regions(labels, min_size=4)

    peak = traced_peak(run)
    assert peak / labels.size <= 24
    expected = np.zeros_like(labels)
    expected[:, 500:] = 1
    # a sprinkled pixel takes its nearest large pixel's label: its own side's
    np.testing.assert_array_equal(out[:, 2:498], expected[:, 2:498])
    np.testing.assert_array_equal(out[:, 502:], expected[:, 502:])
    assert set(np.unique(out)) <= {0, 1}
