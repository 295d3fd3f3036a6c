"""Contract and behaviour tests of every registered focus measure."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from allfocus.focus import FOCUS_MEASURES, focus_measure
from allfocus.focus.measures import halo

MEASURES = FOCUS_MEASURES.names()


@pytest.fixture(scope="module")
def texture():
    rng = np.random.default_rng(0)
    return ndi.gaussian_filter(rng.random((64, 64)), 0.7).astype(np.float32)


def test_registry_is_filled():
    assert set(MEASURES) >= {"laplacian_energy", "sum_modified_laplacian", "tenengrad", "variance"}


@pytest.mark.parametrize("name", MEASURES)
def test_shape_dtype_and_sign(name, texture):
    out = FOCUS_MEASURES.get(name)(texture, window=5)
    assert out.shape == texture.shape
    assert out.dtype == np.float32
    assert (out >= 0).all()


@pytest.mark.parametrize("name", MEASURES)
def test_flat_image_scores_zero(name):
    out = FOCUS_MEASURES.get(name)(np.full((16, 16), 0.3), window=3)
    np.testing.assert_allclose(out, 0, atol=1e-6)


@pytest.mark.parametrize("name", MEASURES)
def test_decreases_with_blur(name, texture):
    means = [
        float(FOCUS_MEASURES.get(name)(ndi.gaussian_filter(texture, s), window=9).mean())
        for s in (0.0, 0.8, 1.6, 3.2)
    ]
    assert means == sorted(means, reverse=True)


@pytest.mark.parametrize("name", MEASURES)
def test_peaks_at_sharpest_frame(name, texture):
    # A stack focused on frame 2: blur grows with distance from it, and each
    # region of the image is sharpest in its own frame.
    sigmas = [2.4, 1.2, 0.0, 1.2, 2.4]
    stack = np.stack([ndi.gaussian_filter(texture, s) for s in sigmas])
    scores = np.stack([FOCUS_MEASURES.get(name)(f, window=7) for f in stack])
    best = np.argmax(scores, axis=0)[8:-8, 8:-8]
    assert (best == 2).mean() > 0.95


@pytest.mark.parametrize("name", MEASURES)
def test_integer_input_is_scaled(name, texture):
    as_uint8 = np.round(texture * 255).astype(np.uint8)
    out = FOCUS_MEASURES.get(name)(as_uint8, window=3)
    ref = FOCUS_MEASURES.get(name)(as_uint8 / np.float32(255), window=3)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("window", [0, 4, 2.5])
def test_bad_window(window, texture):
    with pytest.raises(ValueError, match="window"):
        focus_measure(texture, window=window)


def test_colour_input_rejected(texture):
    with pytest.raises(ValueError, match="grey"):
        focus_measure(np.stack([texture] * 3, axis=-1))


def test_dispatch_and_unknown_name(texture):
    np.testing.assert_array_equal(
        focus_measure(texture, measure="tenengrad", window=3),
        FOCUS_MEASURES.get("tenengrad")(texture, window=3),
    )
    with pytest.raises(ValueError, match="laplacian_energy"):
        focus_measure(texture, measure="nope")


def test_halo():
    assert halo(window=9) == 5


@pytest.mark.parametrize("name", MEASURES)
@pytest.mark.parametrize("shape", [(64, 64), (37, 90), (1, 9), (3, 2)])
def test_focus_into_equals_the_registered_measure(name, shape):
    # In-place computation with reused scratch arrays (streaming fusion's
    # path) gives the registered measure's values bit for bit, also for the
    # rows of a band cut out of a larger window.
    from allfocus.focus.measures import Workspace, focus_into

    rng = np.random.default_rng(3)
    work = Workspace()
    for window in (1, 3, 5):
        img = rng.random(shape).astype(np.float32)
        expected = FOCUS_MEASURES.get(name)(img, window=window)
        out = np.empty(shape, dtype=np.float32)
        got = focus_into(name, img, window=window, out=out, work=work)
        assert got is out
        np.testing.assert_array_equal(got, expected)
        rows = slice(shape[0] // 3, shape[0] - shape[0] // 3)
        part = np.empty_like(expected[rows])
        focus_into(name, img, window=window, out=part, work=work, rows=rows)
        np.testing.assert_array_equal(part, expected[rows])
