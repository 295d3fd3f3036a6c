"""Tests of the box-filter guided filter against a direct float64 implementation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from allfocus.filters import box_mean, guided_filter
from allfocus.filters.guided import halo


def _reference_grey(p, guide, radius, eps):
    """He et al. Algorithm 1 in float64 with scipy's uniform filter (reflect borders)."""

    def mean(x):
        return ndi.uniform_filter(x, size=2 * radius + 1, mode="reflect")

    p, guide = p.astype(np.float64), guide.astype(np.float64)
    mean_i, mean_p = mean(guide), mean(p)
    var_i = mean(guide * guide) - mean_i**2
    cov = mean(guide * p) - mean_i * mean_p
    a = cov / (var_i + eps)
    b = mean_p - a * mean_i
    return mean(a) * guide + mean(b)


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    guide = ndi.gaussian_filter(rng.random((40, 50)), 1.5).astype(np.float32)
    src = rng.random((40, 50)).astype(np.float32)
    return src, guide


@pytest.mark.parametrize(("radius", "eps"), [(1, 1e-4), (3, 1e-2), (8, 0.3)])
def test_matches_reference(images, radius, eps):
    src, guide = images
    out = guided_filter(src, guide, radius=radius, eps=eps)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, _reference_grey(src, guide, radius, eps), atol=2e-4)


def test_box_mean_matches_uniform_filter(images):
    src, _ = images
    expected = ndi.uniform_filter(src.astype(np.float64), size=7, mode="reflect")
    np.testing.assert_allclose(box_mean(src, 3), expected, atol=1e-5)
    np.testing.assert_array_equal(box_mean(src, 0), src)


def test_constant_is_preserved(images):
    _, guide = images
    out = guided_filter(np.full(guide.shape, 0.25, np.float32), guide, radius=4, eps=1e-3)
    np.testing.assert_allclose(out, 0.25, atol=1e-5)


def test_self_guided_keeps_strong_edge_and_smooths_noise():
    rng = np.random.default_rng(1)
    step = np.zeros((32, 32), np.float32)
    step[:, 16:] = 1.0
    noisy = step + rng.normal(0, 0.02, step.shape).astype(np.float32)
    out = guided_filter(noisy, noisy, radius=3, eps=1e-3)
    assert np.abs(out - step)[:, [0, 1, 30, 31]].std() < 0.5 * noisy[:, [0, 1, 30, 31]].std()
    assert out[:, 13].mean() < 0.1
    assert out[:, 18].mean() > 0.9


def test_colour_image_grey_guide_equals_per_channel(images):
    src, guide = images
    rgb = np.stack([src, 1 - src, 0.5 * src], axis=-1)
    out = guided_filter(rgb, guide, radius=2, eps=1e-3, channel_axis=-1)
    for c in range(3):
        np.testing.assert_allclose(
            out[..., c], guided_filter(rgb[..., c], guide, radius=2, eps=1e-3), atol=1e-6
        )
    first = guided_filter(np.moveaxis(rgb, -1, 0), guide, radius=2, eps=1e-3, channel_axis=0)
    np.testing.assert_allclose(np.moveaxis(first, 0, -1), out, atol=1e-6)


def test_colour_guide_with_grey_copies_equals_grey_guide(images):
    src, guide = images
    colour_guide = np.repeat(guide[..., None], 3, axis=-1)
    # A grey guide repeated in three channels has a singular covariance; eps regularises it,
    # and the colour filter then equals the grey one with eps scaled by the channel count.
    out = guided_filter(src, colour_guide, radius=2, eps=3e-3, channel_axis=-1)
    np.testing.assert_allclose(out, guided_filter(src, guide, radius=2, eps=1e-3), atol=2e-3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"radius": -1}, "radius"),
        ({"radius": 1.5}, "radius"),
        ({"eps": 0}, "eps"),
    ],
)
def test_bad_options(images, kwargs, match):
    src, guide = images
    with pytest.raises(ValueError, match=match):
        guided_filter(src, guide, **kwargs)


def test_bad_shapes(images):
    src, guide = images
    with pytest.raises(ValueError, match="spatial shape"):
        guided_filter(src, guide[:-1])
    with pytest.raises(ValueError, match="channel_axis"):
        guided_filter(src, np.stack([guide] * 3, axis=-1))


def test_halo():
    assert halo(radius=7) == 14


@pytest.mark.parametrize("channels", [None, 3])
def test_shared_guide_statistics_give_the_same_filter(channels):
    from allfocus.filters.guided import _guided_grey, guide_statistics

    rng = np.random.default_rng(5)
    guide = rng.random((40, 50), dtype=np.float32)
    src = rng.random((40, 50) if channels is None else (40, 50, channels), dtype=np.float32)
    stats = guide_statistics(guide, 3, 1e-2)
    np.testing.assert_array_equal(
        _guided_grey(src, guide, 3, 1e-2, stats=stats), _guided_grey(src, guide, 3, 1e-2)
    )
    assert (stats[1] >= 1e-2).all()  # variance (never negative) plus eps
