"""Tests of Gaussian/Laplacian pyramids."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allfocus.filters import (
    collapse_laplacian_pyramid,
    gaussian_pyramid,
    laplacian_pyramid,
    max_levels,
)


@settings(max_examples=25, deadline=None)
@given(
    rows=st.integers(2, 70),
    cols=st.integers(2, 70),
    channels=st.sampled_from([0, 1, 3]),
    data=st.data(),
)
def test_laplacian_round_trip(rows, cols, channels, data):
    levels = data.draw(st.integers(1, max_levels((rows, cols), min_size=1)))
    shape = (rows, cols) if channels == 0 else (rows, cols, channels)
    img = np.random.default_rng(rows * 100 + cols).random(shape).astype(np.float32)
    pyr = laplacian_pyramid(img, levels=levels)
    assert len(pyr) == levels
    assert all(band.dtype == np.float32 and band.ndim == img.ndim for band in pyr)
    np.testing.assert_allclose(collapse_laplacian_pyramid(pyr), img, atol=1e-5)


def test_gaussian_pyramid_shapes_and_mean():
    img = np.random.default_rng(0).random((33, 64)).astype(np.float32)
    pyr = gaussian_pyramid(img, levels=4)
    assert [p.shape for p in pyr] == [(33, 64), (17, 32), (9, 16), (5, 8)]
    assert abs(pyr[-1].mean() - img.mean()) < 0.02


def test_bands_of_constant_image_vanish():
    pyr = laplacian_pyramid(np.full((32, 32, 3), 0.4, np.float32), levels=4)
    for band in pyr[:-1]:
        np.testing.assert_allclose(band, 0, atol=1e-6)
    np.testing.assert_allclose(pyr[-1], 0.4, atol=1e-6)


def test_max_levels():
    assert max_levels((8, 8)) == 1
    assert max_levels((16, 100)) == 2
    assert max_levels((1024, 768)) == 7


@pytest.mark.parametrize("levels", [0, 2.5, 99])
def test_bad_levels(levels):
    with pytest.raises(ValueError, match="levels"):
        laplacian_pyramid(np.zeros((16, 16), np.float32), levels=levels)


def test_collapse_empty():
    with pytest.raises(ValueError, match="empty"):
        collapse_laplacian_pyramid([])
