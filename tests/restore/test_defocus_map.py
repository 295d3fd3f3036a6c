"""Defocus-map estimation: known blur on step edges and texture."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from allfocus._core.errors import InputError
from allfocus.restore import estimate_defocus_map
from allfocus.restore.defocus import auto_tolerance
from allfocus.restore.defocus_map import (
    combine_cues,
    edge_blur,
    estimate_defocus_map_with_agreement,
)
from allfocus.restore.psf import disc_psf


def _blur(image: np.ndarray, radius: float) -> np.ndarray:
    return cv2.filter2D(image, -1, disc_psf(radius), borderType=cv2.BORDER_REFLECT)


def _texture(rng: np.random.Generator, shape=(128, 128)) -> np.ndarray:
    """Power-law (1/f) texture, std about 0.1 around 0.5."""
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    f = np.hypot(fy, fx)
    f[0, 0] = 1.0
    spec = (rng.normal(size=f.shape) + 1j * rng.normal(size=f.shape)) / f
    spec[0, 0] = 0
    field = np.fft.irfft2(spec, s=shape)
    return (0.5 + 0.1 * field / field.std()).astype(np.float32)


@pytest.mark.parametrize("radius", [1.5, 3.0, 5.0])
@pytest.mark.parametrize("noise", [0.0, 0.005])
def test_step_edge_radius_within_25_percent(radius, noise, rng):
    """Zhuo-Sim gradient ratio at a straight step edge blurred by a known disc."""
    yy, xx = np.mgrid[0:96, 0:96]
    step = np.where(np.cos(0.3) * xx + np.sin(0.3) * yy > 48, 0.75, 0.25).astype(np.float32)
    image = _blur(step, radius) + rng.normal(0, noise, step.shape).astype(np.float32)
    sparse, conf = edge_blur(np.clip(image, 0, 1), noise_sigma=noise if noise else None)
    measured = np.median(sparse[conf > 0])
    assert measured == pytest.approx(radius, rel=0.25)
    dense = estimate_defocus_map(np.clip(image, 0, 1), cue="edges")
    assert np.median(dense[16:-16, 16:-16]) == pytest.approx(radius, rel=0.25)


@pytest.mark.parametrize("radius", [2.0, 4.0])
def test_texture_radius_within_25_percent(radius, rng):
    """The default (spectral, capped by edges) on uniformly blurred texture."""
    image = _blur(_texture(rng), radius)
    image = np.clip(image + rng.normal(0, 0.003, image.shape).astype(np.float32), 0, 1)
    radius_map = estimate_defocus_map(image)
    assert radius_map.shape == image.shape and radius_map.dtype == np.float32
    assert np.median(radius_map) == pytest.approx(radius, rel=0.25)
    assert np.percentile(np.abs(radius_map - radius), 90) < 0.5 * radius


def test_two_depths_are_told_apart(rng):
    """Left half blurred by 1 px, right half by 4 px: the map follows."""
    tex = _texture(rng, (96, 160))
    image = np.where(np.arange(160)[None, :] < 80, _blur(tex, 1.0), _blur(tex, 4.0))
    radius_map = estimate_defocus_map(image, noise_sigma=0.0)
    assert np.median(radius_map[:, 8:56]) < 1.6
    assert np.median(radius_map[:, 104:152]) == pytest.approx(4.0, rel=0.25)


def test_sharp_texture_reads_in_focus(rng):
    radius_map = estimate_defocus_map(_texture(rng))
    assert np.percentile(radius_map, 90) < 1.0


def test_flat_image_is_in_focus_everywhere():
    radius_map = estimate_defocus_map(np.full((40, 40), 0.5, np.float32))
    np.testing.assert_array_equal(radius_map, 0.0)


def test_colour_and_channel_axis(rng):
    grey = _blur(_texture(rng, (64, 64)), 3.0)
    colour = np.stack([grey, grey * 0.9, grey * 0.8])  # channels first
    a = estimate_defocus_map(colour, channel_axis=0)
    b = estimate_defocus_map(np.moveaxis(colour, 0, -1), channel_axis=-1)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_agreement_high_for_disc_blur(rng):
    image = _blur(_texture(rng), 3.0)
    _, agreement = estimate_defocus_map_with_agreement(image, noise_sigma=0.0)
    assert agreement > 0.9
    assert auto_tolerance(agreement) == pytest.approx(0.1)


def test_combine_caps_spectrum_by_edges():
    spectrum = np.array([[2.0, 9.0]], np.float32)
    edges = np.array([[2.2, 3.0]], np.float32)
    radius, agreement = combine_cues(spectrum, edges)
    np.testing.assert_allclose(radius, [[2.0, 3.0 + 0.5 + 0.75]])
    assert agreement == pytest.approx(0.5)


def test_bad_arguments(rng):
    image = _texture(rng, (32, 32))
    with pytest.raises(InputError, match="cue"):
        estimate_defocus_map(image, cue="phase")
    with pytest.raises(InputError, match="scales"):
        estimate_defocus_map(image, scales=())
    with pytest.raises(InputError, match="max_radius"):
        estimate_defocus_map(image, max_radius=0)
    with pytest.raises(InputError, match="at least 8x8"):
        estimate_defocus_map(image[:4, :4])
    with pytest.raises(InputError, match="noise_sigma"):
        estimate_defocus_map(image, noise_sigma=-1.0)
