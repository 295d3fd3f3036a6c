"""Noise level of a single image."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from allfocus._core.errors import InputError


def estimate_noise(image: NDArray) -> float:
    """Standard deviation of additive white noise in a grey image.

    Immerkaer's fast estimator: the image is filtered with a mask that
    cancels smooth structure (the difference of two Laplacians) and the
    noise level is read from the median absolute response, which edges do
    not move much.

    Parameters
    ----------
    image : (M, N) ndarray
        Grey image in [0, 1].

    Returns
    -------
    float
        Noise standard deviation in [0, 1] units.

    References
    ----------
    .. [1] J. Immerkaer, "Fast noise variance estimation", Computer Vision
           and Image Understanding 64(2), 300-302, 1996.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> noisy = 0.5 + 0.01 * rng.standard_normal((128, 128))
    >>> round(estimate_noise(noisy), 3)
    0.01
    """
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2 or min(img.shape) < 3:
        raise InputError(f"image must be a 2-D array of at least 3x3; got shape {img.shape}")
    c = img[1:-1, 1:-1]
    n, s, w, e = img[:-2, 1:-1], img[2:, 1:-1], img[1:-1, :-2], img[1:-1, 2:]
    nw, ne, sw, se = img[:-2, :-2], img[:-2, 2:], img[2:, :-2], img[2:, 2:]
    # Mask [[1, -2, 1], [-2, 4, -2], [1, -2, 1]]; its squared norm is 36.
    resp = 4 * c - 2 * (n + s + w + e) + (nw + ne + sw + se)
    # Median absolute deviation is robust to the edges that a mean would count.
    mad = float(np.median(np.abs(resp)))
    return mad / 0.6745 / 6.0
