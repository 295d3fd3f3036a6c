"""Gaussian and Laplacian pyramids (Burt and Adelson) on top of ``cv2.pyrDown``/``pyrUp``."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
from numpy.typing import NDArray

from allfocus._core.errors import InputError
from allfocus._core.validate import FLOAT

#: Radius of the 5-tap binomial kernel of ``cv2.pyrDown``/``pyrUp``.
KERNEL_RADIUS = 2


def max_levels(shape: tuple[int, ...], *, min_size: int = 8) -> int:
    """Most pyramid levels whose coarsest level is still ``min_size`` pixels or more.

    Parameters
    ----------
    shape : tuple of int
        ``(M, N, ...)``; only the first two entries count.
    min_size : int
        Smallest side allowed at the top level.

    Returns
    -------
    int
        At least 1 (the image itself).

    Examples
    --------
    >>> max_levels((256, 300))
    6
    """
    side = min(shape[:2])
    levels = 1
    while side >= 2 * min_size:
        side = (side + 1) // 2
        levels += 1
    return levels


def _check_levels(image: NDArray, levels: int) -> None:
    if int(levels) != levels or levels < 1:
        raise InputError(f"levels must be a positive integer; got {levels}")
    if image.ndim not in (2, 3):
        raise InputError(f"image must be (M, N) or (M, N, C) channels-last; got {image.shape}")
    if levels > max_levels(image.shape, min_size=1):
        raise InputError(
            f"levels={levels} is too many for an image of shape {image.shape[:2]}; "
            f"at most {max_levels(image.shape, min_size=1)}"
        )


def gaussian_pyramid(image: NDArray, *, levels: int) -> list[NDArray[np.float32]]:
    """Successively blurred and halved copies of ``image``.

    Parameters
    ----------
    image : (M, N[, C]) ndarray
        Channels last (``cv2`` convention); float32 is used as is.
    levels : int
        Number of levels, the full-size image included.

    Returns
    -------
    list of ndarray of float32
        ``levels`` arrays, finest first; sizes round up when odd.

    Examples
    --------
    >>> import numpy as np
    >>> [g.shape for g in gaussian_pyramid(np.zeros((9, 16), np.float32), levels=3)]
    [(9, 16), (5, 8), (3, 4)]
    """
    img = np.asarray(image, dtype=FLOAT)
    _check_levels(img, levels)
    pyr = [img]
    for _ in range(int(levels) - 1):
        down = cv2.pyrDown(pyr[-1])
        if down.ndim < img.ndim:  # cv2 drops a trailing axis of length 1
            down = down[..., None]
        pyr.append(down)
    return pyr


def _up(image: NDArray[np.float32], shape: tuple[int, ...]) -> NDArray[np.float32]:
    up = cv2.pyrUp(image, dstsize=(shape[1], shape[0]))
    if up.ndim < image.ndim:
        up = up[..., None]
    return up


def laplacian_pyramid(image: NDArray, *, levels: int) -> list[NDArray[np.float32]]:
    """Band-pass decomposition whose levels add back up to ``image``.

    Parameters
    ----------
    image : (M, N[, C]) ndarray
        Channels last; float32 is used as is.
    levels : int
        Number of levels; the last one is the low-pass residual.

    Returns
    -------
    list of ndarray of float32
        ``levels`` arrays, finest first.

    See Also
    --------
    collapse_laplacian_pyramid : the exact inverse.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.random.default_rng(0).random((20, 24)).astype(np.float32)
    >>> pyr = laplacian_pyramid(img, levels=3)
    >>> bool(np.allclose(collapse_laplacian_pyramid(pyr), img, atol=1e-5))
    True
    """
    gauss = gaussian_pyramid(image, levels=levels)
    pyr = [fine - _up(coarse, fine.shape) for fine, coarse in itertools.pairwise(gauss)]
    pyr.append(gauss[-1])
    return pyr


def collapse_laplacian_pyramid(pyramid: list[NDArray]) -> NDArray[np.float32]:
    """Sum a Laplacian pyramid back into an image.

    Parameters
    ----------
    pyramid : list of ndarray
        As returned by :func:`laplacian_pyramid` (finest first).

    Returns
    -------
    ndarray of float32
        The reconstructed image, shape of ``pyramid[0]``.
    """
    if not pyramid:
        raise InputError("pyramid is empty")
    out = np.asarray(pyramid[-1], dtype=FLOAT)
    for band in reversed(pyramid[:-1]):
        out = _up(out, band.shape) + band
    return out


def halo(*, levels: int) -> int:
    """Pixels a ``levels``-level pyramid round trip looks beyond a tile."""
    return KERNEL_RADIUS * (2 ** int(levels) - 1) * 2


__all__ = [
    "collapse_laplacian_pyramid",
    "gaussian_pyramid",
    "halo",
    "laplacian_pyramid",
    "max_levels",
]
