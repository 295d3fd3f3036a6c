"""Non-blind deconvolution: uniform and spatially varying disc blur."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from allfocus._core.errors import InputError
from allfocus.restore import (
    blur_levels,
    deconvolve_by_map,
    estimate_noise,
    wiener_deconvolve,
)
from allfocus.restore.psf import disc_psf
from allfocus.synth import make_scene


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((np.asarray(a, np.float64) - b) ** 2)))


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    return make_scene((96, 112), rng=4).image


def _blur(image: np.ndarray, radius: float) -> np.ndarray:
    return cv2.filter2D(image, -1, disc_psf(radius), borderType=cv2.BORDER_REFLECT)


@pytest.mark.parametrize("radius", [2.0, 4.0])
def test_uniform_disc_blur_is_undone(radius, scene, rng):
    blurred = _blur(scene, radius)
    noisy = np.clip(blurred + rng.normal(0, 0.003, blurred.shape), 0, 1).astype(np.float32)
    before = psnr(noisy, scene)
    uniform = wiener_deconvolve(noisy, radius, channel_axis=-1)
    by_map = deconvolve_by_map(noisy, np.full(scene.shape[:2], radius), channel_axis=-1)
    assert psnr(uniform, scene) > before + 1.5
    assert psnr(by_map, scene) > before + 1.5


def test_noise_free_blur_gains_more(scene):
    grey = scene.mean(axis=-1)
    # Reflect the borders as the deconvolution pads them, so only the prior limits it.
    blurred = cv2.filter2D(grey, -1, disc_psf(3.0), borderType=cv2.BORDER_REFLECT_101)
    restored = wiener_deconvolve(blurred, 3.0, noise_sigma=0.0, regularization=1e-3)
    assert psnr(restored, grey) > psnr(blurred, grey) + 4.0


def test_constant_map_matches_uniform(scene):
    """Tiles join without seams: the tiled level equals the one-piece filter."""
    grey = _blur(scene.mean(axis=-1), 2.5)
    radius_map = np.full(grey.shape, 2.5, np.float32)
    tiled = deconvolve_by_map(
        grey, radius_map, noise_sigma=0.0, radius_tolerance=0.0, overshoot=None
    )
    whole = wiener_deconvolve(grey, 2.5, noise_sigma=0.0)
    np.testing.assert_allclose(tiled, whole, atol=2e-3)


def test_tiles_do_not_leave_seams(rng, monkeypatch):
    from allfocus.restore import deconv

    image = _blur(rng.random((150, 170)).astype(np.float32), 3.0)
    radius_map = np.full(image.shape, 3.0, np.float32)
    whole = deconvolve_by_map(image, radius_map, noise_sigma=0.001)
    monkeypatch.setattr(deconv, "_TILE", 48)
    tiled = deconvolve_by_map(image, radius_map, noise_sigma=0.001)
    # Tiny tiles on blurred noise are the worst case; seams stay under 2 grey levels.
    np.testing.assert_allclose(tiled, whole, atol=2 / 255)


def test_in_focus_pixels_are_left_alone(scene):
    radius_map = np.zeros(scene.shape[:2], np.float32)
    radius_map[:, 60:] = 3.0
    out = deconvolve_by_map(scene, radius_map, channel_axis=-1)
    np.testing.assert_allclose(out[:, :40], scene[:, :40], atol=1e-6)
    assert not np.allclose(out[:, 70:], scene[:, 70:])
    untouched = deconvolve_by_map(scene, radius_map * 0.0, channel_axis=-1)
    np.testing.assert_allclose(untouched, scene, atol=1e-6)


def test_sharp_object_in_front_of_blurred_background_does_not_ring(scene):
    """The halo classic: deconvolving a blurred layer must not ring around a sharp object."""
    grey = scene.mean(axis=-1)
    mask = np.zeros(grey.shape, bool)
    mask[30:66, 36:76] = True
    background = _blur(grey, 4.0)
    image = np.where(mask, grey, background).astype(np.float32)
    radius_map = np.where(mask, 0.0, 4.0).astype(np.float32)
    out = deconvolve_by_map(image, radius_map, noise_sigma=0.0)
    ring = cv2.dilate(mask.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool) & ~mask
    # Near the object the background gets closer to the truth, not further.
    assert np.abs(out - grey)[ring].mean() < np.abs(image - grey)[ring].mean()


def test_blur_levels():
    assert blur_levels(0.5) == [0.9]
    assert blur_levels(2.2) == [0.9, 1.0, 1.5, 2.0, 2.5]
    assert blur_levels(3.0, min_radius=0.9, step=1.0) == [0.9, 1.0, 2.0, 3.0]
    with pytest.raises(InputError, match="level_step"):
        blur_levels(3.0, step=0.0)


def test_estimate_noise(rng):
    flat = 0.5 + rng.normal(0, 0.01, (128, 128))
    assert estimate_noise(flat) == pytest.approx(0.01, rel=0.1)
    assert estimate_noise(np.full((16, 16), 0.3)) == 0.0
    with pytest.raises(InputError, match="2-D"):
        estimate_noise(np.zeros((4, 4, 3)))


def test_bad_arguments(scene):
    radius_map = np.ones(scene.shape[:2], np.float32)
    with pytest.raises(InputError, match="spatial shape"):
        deconvolve_by_map(scene, radius_map[:-1], channel_axis=-1)
    with pytest.raises(InputError, match="finite and >= 0"):
        deconvolve_by_map(scene, -radius_map, channel_axis=-1)
    with pytest.raises(InputError, match="regularization"):
        deconvolve_by_map(scene, radius_map, channel_axis=-1, regularization=0.0)
    with pytest.raises(InputError, match="min_radius"):
        deconvolve_by_map(scene, radius_map, channel_axis=-1, min_radius=0.2)
    with pytest.raises(InputError, match="radius_tolerance"):
        deconvolve_by_map(scene, radius_map, channel_axis=-1, radius_tolerance=1.5)
    with pytest.raises(InputError, match="radius"):
        wiener_deconvolve(scene, -1.0, channel_axis=-1)


def test_overshoot_limits_rings(scene):
    """With a wrong (too large) radius the limit keeps values near the local range."""
    grey = _blur(scene.mean(axis=-1), 2.0)
    radius_map = np.full(grey.shape, 4.0, np.float32)
    free = deconvolve_by_map(grey, radius_map, noise_sigma=0.0, overshoot=None)
    limited = deconvolve_by_map(grey, radius_map, noise_sigma=0.0, overshoot=0.1)
    low = cv2.erode(grey, np.ones((9, 9), np.uint8))
    high = cv2.dilate(grey, np.ones((9, 9), np.uint8))
    slack = 0.1 * (high - low) + 1e-5
    assert ((limited >= low - slack) & (limited <= high + slack)).all()
    assert not ((free >= low - slack) & (free <= high + slack)).all()
