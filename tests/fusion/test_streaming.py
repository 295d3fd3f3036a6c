"""Streaming fusion: equal, or within a stated tolerance, to in-memory fusion; bounded memory."""

from __future__ import annotations

import numpy as np
import pytest

from allfocus.fusion import fuse
from allfocus.fusion.depthmap import fuse_depthmap, remove_small_regions
from allfocus.fusion.pyramid import fuse_pyramid
from allfocus.fusion.streaming import STREAMING_METHODS, clean_labels, fuse_streaming
from allfocus.metrics import psnr
from allfocus.synth import synthetic_stack


@pytest.fixture(scope="module")
def colour():
    # 300 rows: more than one band of rows, so band seams are exercised.
    return synthetic_stack((300, 64), 6, rng=2, noise=0.003)


@pytest.fixture(scope="module")
def grey():
    return synthetic_stack((150, 90), 5, color=False, rng=5, noise=0.003)


def _differing(a, b, tol=1 / 255):
    diff = np.abs(a - b)
    if diff.ndim == 3:
        diff = diff.max(axis=-1)
    return float((diff > tol).mean())


@pytest.mark.parametrize("dtype", [np.float32, np.uint8, np.uint16])
def test_depthmap_matches_in_memory(colour, dtype):
    if dtype == np.float32:
        stack = colour.frames
    else:
        stack = np.round(colour.frames * np.iinfo(dtype).max).astype(dtype)
    whole = fuse_depthmap(stack, channel_axis=-1, unmix_rims=False, sharpen_between=False)
    streamed = fuse_streaming(iter(stack), channel_axis=-1)
    assert streamed.image.dtype == np.float32
    assert streamed.image.shape == whole.image.shape
    # Documented tolerance: differences only where the in-memory refinement
    # blends a frame the streaming state no longer holds (merged small
    # regions, junctions of four frames).
    assert psnr(streamed.image, whole.image, channel_axis=-1) > 50
    assert _differing(streamed.image, whole.image) < 0.01
    assert (np.abs(streamed.depth - whole.depth) < 1e-5).mean() > 0.99
    np.testing.assert_allclose(streamed.confidence, whole.confidence, atol=1e-6)
    # and as close to the ground truth as the in-memory result
    truth = psnr(whole.image, colour.sharp, channel_axis=-1)
    assert abs(psnr(streamed.image, colour.sharp, channel_axis=-1) - truth) < 0.1


def test_depthmap_grey_matches_in_memory(grey):
    whole = fuse_depthmap(grey.frames, unmix_rims=False, sharpen_between=False)
    streamed = fuse_streaming(list(grey.frames))
    assert streamed.image.ndim == 2
    assert psnr(streamed.image, whole.image) > 50
    assert _differing(streamed.image, whole.image) < 0.01


def test_hard_selection_without_cleanup_is_exact(colour):
    params = {"refine_radius": 0, "min_region": 0}
    whole = fuse_depthmap(
        colour.frames, channel_axis=-1, unmix_rims=False, sharpen_between=False, **params
    )
    streamed = fuse_streaming(colour.frames, channel_axis=-1, **params)
    np.testing.assert_array_equal(streamed.image, whole.image)
    np.testing.assert_array_equal(streamed.depth, whole.depth)


def test_refinement_without_cleanup_is_nearly_exact(colour):
    whole = fuse_depthmap(
        colour.frames, channel_axis=-1, min_region=0, unmix_rims=False, sharpen_between=False
    )
    streamed = fuse_streaming(colour.frames, channel_axis=-1, min_region=0)
    np.testing.assert_array_equal(streamed.depth, whole.depth)
    assert _differing(streamed.image, whole.image, tol=1e-4) < 0.001


@pytest.mark.parametrize("levels", [None, 3])
def test_pyramid_matches_in_memory_without_vote(colour, levels):
    whole = fuse_pyramid(colour.frames, channel_axis=-1, levels=levels, consistency_radius=0)
    streamed = fuse_streaming(colour.frames, method="pyramid", channel_axis=-1, levels=levels)
    np.testing.assert_allclose(streamed.image, whole.image, atol=1e-5)
    np.testing.assert_array_equal(streamed.depth, whole.depth)
    np.testing.assert_allclose(streamed.confidence, whole.confidence, atol=1e-6)


def test_pyramid_grey(grey):
    whole = fuse_pyramid(grey.frames, consistency_radius=0)
    streamed = fuse_streaming(grey.frames, method="pyramid")
    np.testing.assert_allclose(streamed.image, whole.image, atol=1e-5)


def test_pyramid_vote_needs_whole_stack(colour):
    with pytest.raises(ValueError, match="consistency_radius=0"):
        fuse_streaming(colour.frames, method="pyramid", channel_axis=-1, consistency_radius=2)


def test_guided_needs_whole_stack(colour):
    assert "guided" not in STREAMING_METHODS
    with pytest.raises(ValueError, match="needs the whole stack"):
        fuse_streaming(colour.frames, method="guided", channel_axis=-1)


def test_unknown_method_lists_choices(colour):
    with pytest.raises(ValueError, match=r"choose one of: depthmap, .*pyramid"):
        fuse_streaming(colour.frames, method="nope", channel_axis=-1)


def test_bad_option(colour):
    with pytest.raises(ValueError, match="window"):
        fuse_streaming(colour.frames, channel_axis=-1, window=0)
    with pytest.raises(ValueError, match="threads"):
        fuse_streaming(colour.frames, channel_axis=-1, threads=0)


def test_generator_is_read_once_and_progress_reported(grey):
    seen = []
    done = []

    def frames():
        for frame in grey.frames:
            seen.append(1)
            yield frame

    fuse_streaming(frames(), progress=done.append)
    assert len(seen) == len(grey.frames)
    assert done == list(range(1, len(grey.frames) + 1))


@pytest.mark.parametrize("method", STREAMING_METHODS)
def test_copies_return_the_image(method, colour):
    res = fuse_streaming([colour.sharp] * 3, method=method, channel_axis=-1)
    np.testing.assert_allclose(res.image, colour.sharp, atol=1e-3)


def test_one_sharp_frame_is_returned(grey):
    from scipy.ndimage import gaussian_filter

    blurred = [gaussian_filter(grey.sharp, s).astype(np.float32) for s in (2.0, 3.0)]
    res = fuse_streaming([blurred[0], grey.sharp, blurred[1]])
    inner = (slice(8, -8), slice(8, -8))
    assert np.abs(res.image - grey.sharp)[inner].mean() < 2e-3
    assert (np.round(res.depth[inner]) == 1).mean() > 0.95


def test_channel_axis_first(colour):
    frames = [np.moveaxis(f, -1, 0) for f in colour.frames]
    first = fuse_streaming(frames, channel_axis=0)
    last = fuse_streaming(colour.frames, channel_axis=-1)
    assert first.image.shape == (3, *colour.frames.shape[1:3])
    np.testing.assert_array_equal(np.moveaxis(first.image, 0, -1), last.image)


def test_threads_do_not_change_the_result(colour):
    one = fuse_streaming(colour.frames, channel_axis=-1, threads=1)
    two = fuse_streaming(colour.frames, channel_axis=-1, threads=3)
    np.testing.assert_array_equal(one.image, two.image)
    np.testing.assert_array_equal(one.depth, two.depth)


def test_frames_must_agree(colour):
    frames = list(colour.frames[:3])
    with pytest.raises(ValueError, match="frame 1 has shape"):
        fuse_streaming([frames[0], frames[1][:-1]], channel_axis=-1)
    with pytest.raises(ValueError, match="frame 1 has dtype"):
        fuse_streaming([frames[0], (frames[1] * 255).astype(np.uint8)], channel_axis=-1)
    with pytest.raises(ValueError, match="at least 2 frames"):
        fuse_streaming(frames[:1], channel_axis=-1)
    with pytest.raises(ValueError, match="channel_axis=-1"):
        fuse_streaming(frames)
    bad = frames[1].copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fuse_streaming([frames[0], bad], channel_axis=-1)


def test_memory_does_not_grow_with_frames(grey, traced_peak):
    # Frames are made as they are consumed, so only the fusion state counts.
    def frames(num):
        for k in range(num):
            yield grey.frames[k % len(grey.frames)].copy()

    def peak(num):
        return traced_peak(lambda: fuse_streaming(frames(num), threads=1))

    few, many = peak(4), peak(24)
    assert many < 1.1 * few


@pytest.mark.parametrize("seed", [0, 1])
def test_clean_labels_agrees_with_remove_small_regions(seed):
    from scipy import ndimage as ndi
    from skimage.measure import label

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, (70, 90))
    labels[10:40, 20:60] = 2  # a large region among noise
    np.testing.assert_array_equal(clean_labels(labels, min_size=0), labels)
    for size in (4, 6):
        expected = remove_small_regions(labels, min_size=size)
        got = clean_labels(labels, min_size=size)
        regions = label(labels, connectivity=1, background=-1)
        small = (np.bincount(regions.ravel()) < size)[regions]
        np.testing.assert_array_equal(got[~small], labels[~small])
        assert (got[small] == expected[small]).mean() > 0.85  # ties may differ
        # each merged pixel takes the label of a large pixel at the least
        # distance (OpenCV's label propagation may miss by a little far away)
        dist = ndi.distance_transform_edt(small)
        yy, xx = np.nonzero(~small)
        nearest = []
        for y, x in zip(*np.nonzero(small), strict=True):
            far = np.hypot(yy - y, xx - x)
            nearest.append(got[y, x] in labels[yy, xx][np.isclose(far, dist[y, x])])
            assert got[y, x] in labels[yy, xx][far <= dist[y, x] + 1]
        assert np.mean(nearest) > 0.995


@pytest.mark.parametrize("size", [2, 4, 9])
def test_clean_labels_in_bands_equals_one_pass(size):
    # Regions are labelled in bands of rows with size - 1 rows of context,
    # on a thread pool: the same small regions as labelling the whole map.
    from concurrent.futures import ThreadPoolExecutor

    from skimage.measure import label

    rng = np.random.default_rng(size)
    coarse = rng.integers(0, 3, (140, 12))
    labels = np.kron(coarse, np.ones((5, 5), dtype=int))[:700, :57]  # several bands
    labels[rng.random(labels.shape) < 0.03] = 3
    regions = label(labels, connectivity=1, background=-1)
    small = (np.bincount(regions.ravel()) < size)[regions]
    with ThreadPoolExecutor(2) as pool:
        banded = clean_labels(labels, min_size=size, pool=pool)
    np.testing.assert_array_equal(banded, clean_labels(labels, min_size=size))
    np.testing.assert_array_equal(banded[~small], labels[~small])
    assert small.any()
    assert (banded[small] != labels[small]).mean() > 0.5


def test_wide_frames_match_in_memory():
    # Frames wide enough for bands of fewer rows than the default (64 here).
    stack = synthetic_stack((150, 4000), 4, rng=4, noise=0.003)
    whole = fuse_depthmap(
        stack.frames, channel_axis=-1, min_region=0, unmix_rims=False, sharpen_between=False
    )
    streamed = fuse_streaming(stack.frames, channel_axis=-1, min_region=0)
    np.testing.assert_array_equal(streamed.depth, whole.depth)
    assert _differing(streamed.image, whole.image, tol=1e-4) < 0.001


def test_fuse_and_stream_share_the_registry(colour):
    streamed = fuse_streaming(colour.frames, method="pyramid", channel_axis=-1, levels=3)
    whole = fuse(colour.frames, method="pyramid", channel_axis=-1, levels=3, consistency_radius=0)
    np.testing.assert_allclose(streamed.image, whole.image, atol=1e-5)


def test_opencv_threads_are_restored(grey):
    import cv2

    before = cv2.getNumThreads()
    try:
        cv2.setNumThreads(3)
        fuse_streaming(grey.frames)
        assert cv2.getNumThreads() == 3
        with pytest.raises(ValueError, match="at least 2 frames"):
            fuse_streaming(grey.frames[:1])
        assert cv2.getNumThreads() == 3
    finally:
        cv2.setNumThreads(before)
