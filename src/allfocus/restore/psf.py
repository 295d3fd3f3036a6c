"""Point-spread functions shared by synthesis and deconvolution."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from allfocus._core.errors import InputError


def disc_psf(radius: float, *, oversample: int = 8) -> NDArray[np.float32]:
    """Anti-aliased uniform disc (pillbox) PSF of a defocused thin lens.

    Parameters
    ----------
    radius : float
        Radius of the circle of confusion in pixels. Below 0.5 the PSF is a
        single pixel (in focus).
    oversample : int
        Sub-pixel samples per axis used to anti-alias the disc edge.

    Returns
    -------
    (K, K) ndarray of float32
        Normalised kernel (sums to 1), ``K = 2 * ceil(radius) + 1``.

    Examples
    --------
    >>> k = disc_psf(2.0)
    >>> k.shape, round(float(k.sum()), 6)
    ((5, 5), 1.0)
    """
    if not np.isfinite(radius) or radius < 0:
        raise InputError(f"radius must be a finite number >= 0; got {radius}")
    if radius < 0.5:
        return np.ones((1, 1), dtype=np.float32)
    half = int(np.ceil(radius))
    size = 2 * half + 1
    # Sample each pixel on an oversample x oversample grid and count the
    # samples inside the disc: exact area coverage in the limit.
    offsets = (np.arange(oversample) + 0.5) / oversample - 0.5
    coords = np.arange(-half, half + 1)[:, None] + offsets[None, :]
    sub = coords.reshape(-1)
    inside = (sub[:, None] ** 2 + sub[None, :] ** 2) <= radius**2
    kernel = inside.reshape(size, oversample, size, oversample).mean(axis=(1, 3))
    return (kernel / kernel.sum()).astype(np.float32)


def gaussian_psf(sigma: float, *, truncate: float = 3.0) -> NDArray[np.float32]:
    """Normalised isotropic Gaussian PSF of standard deviation ``sigma`` pixels."""
    if not np.isfinite(sigma) or sigma < 0:
        raise InputError(f"sigma must be a finite number >= 0; got {sigma}")
    if sigma < 1e-3:
        return np.ones((1, 1), dtype=np.float32)
    half = max(1, int(np.ceil(truncate * sigma)))
    x = np.arange(-half, half + 1, dtype=np.float64)
    g = np.exp(-0.5 * (x / sigma) ** 2)
    kernel = np.outer(g, g)
    return (kernel / kernel.sum()).astype(np.float32)
