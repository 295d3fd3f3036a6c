"""Histogram equalisation of luma: HE, AHE, CLAHE and CLAHE + sharpening.

The seed report found that CLAHE followed by sharpening shifts colours; here
every operator changes only luma and recombines it with the unchanged colour
differences, so hues stay put (tested). They raise contrast, they do not
remove blur.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from allfocus._core.errors import InputError
from allfocus._core.validate import FLOAT
from allfocus.restore import SHARPEN_METHODS
from allfocus.restore._luma import apply_to_luma
from allfocus.restore.sharpen_ops import sharpening_kernel


def _check_clip(clip_limit: float) -> float:
    if not np.isfinite(clip_limit) or not 0 < clip_limit <= 1:
        raise InputError(f"clip_limit must be in (0, 1]; got {clip_limit}")
    return float(clip_limit)


def _check_kernel(kernel_size: int | None) -> int | None:
    if kernel_size is None:
        return None
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int | np.integer):
        raise InputError(f"kernel_size must be an integer >= 2 or None; got {kernel_size!r}")
    if kernel_size < 2:
        raise InputError(f"kernel_size must be an integer >= 2 or None; got {kernel_size}")
    return int(kernel_size)


def _adapthist(luma: NDArray[np.float32], clip_limit: float, kernel_size: int | None):
    from skimage.exposure import equalize_adapthist

    return equalize_adapthist(luma, kernel_size=kernel_size, clip_limit=clip_limit).astype(FLOAT)


@SHARPEN_METHODS.register("he")
def he(
    image: NDArray, *, channel_axis: int | None = None, strength: float = 1.0, nbins: int = 256
) -> NDArray[np.float32]:
    """Global histogram equalisation of luma (:func:`skimage.exposure.equalize_hist`).

    Parameters
    ----------
    image : (M, N[, C]) ndarray
        Image in [0, 1].
    channel_axis : int or None
        Axis of the colour channels, ``None`` for grey.
    strength : float
        Blend factor (>= 0).
    nbins : int
        Histogram bins.

    Returns
    -------
    (M, N[, C]) ndarray of float32
    """
    from skimage.exposure import equalize_hist

    if isinstance(nbins, bool) or not isinstance(nbins, int | np.integer) or nbins < 2:
        raise InputError(f"nbins must be an integer >= 2; got {nbins!r}")
    return apply_to_luma(
        image,
        lambda y: equalize_hist(y, nbins=int(nbins)).astype(FLOAT),
        channel_axis=channel_axis,
        strength=strength,
    )


@SHARPEN_METHODS.register("ahe")
def ahe(
    image: NDArray,
    *,
    channel_axis: int | None = None,
    strength: float = 1.0,
    kernel_size: int | None = None,
) -> NDArray[np.float32]:
    """Adaptive histogram equalisation of luma, without contrast limit.

    :func:`skimage.exposure.equalize_adapthist` with ``clip_limit=1``; it
    amplifies noise in flat regions, which CLAHE was invented to prevent.

    Parameters
    ----------
    image : (M, N[, C]) ndarray
        Image in [0, 1].
    channel_axis : int or None
        Axis of the colour channels, ``None`` for grey.
    strength : float
        Blend factor (>= 0).
    kernel_size : int or None
        Tile size; ``None`` is 1/8 of the image.

    Returns
    -------
    (M, N[, C]) ndarray of float32
    """
    size = _check_kernel(kernel_size)
    return apply_to_luma(
        image, lambda y: _adapthist(y, 1.0, size), channel_axis=channel_axis, strength=strength
    )


@SHARPEN_METHODS.register("clahe")
def clahe(
    image: NDArray,
    *,
    channel_axis: int | None = None,
    strength: float = 1.0,
    clip_limit: float = 0.01,
    kernel_size: int | None = None,
) -> NDArray[np.float32]:
    """Contrast-limited adaptive histogram equalisation (CLAHE) of luma.

    :func:`skimage.exposure.equalize_adapthist`.

    Parameters
    ----------
    image : (M, N[, C]) ndarray
        Image in [0, 1].
    channel_axis : int or None
        Axis of the colour channels, ``None`` for grey.
    strength : float
        Blend factor (>= 0).
    clip_limit : float
        Normalised clip limit in (0, 1]; higher is more contrast.
    kernel_size : int or None
        Tile size; ``None`` is 1/8 of the image.

    Returns
    -------
    (M, N[, C]) ndarray of float32
    """
    limit = _check_clip(clip_limit)
    size = _check_kernel(kernel_size)
    return apply_to_luma(
        image, lambda y: _adapthist(y, limit, size), channel_axis=channel_axis, strength=strength
    )


@SHARPEN_METHODS.register("clahe_sharpen")
def clahe_sharpen(
    image: NDArray,
    *,
    channel_axis: int | None = None,
    strength: float = 1.0,
    clip_limit: float = 0.01,
    kernel_size: int | None = None,
) -> NDArray[np.float32]:
    """CLAHE of luma followed by the 3x3 sharpening kernel (the seed's Fig. 7).

    Parameters
    ----------
    image : (M, N[, C]) ndarray
        Image in [0, 1].
    channel_axis : int or None
        Axis of the colour channels, ``None`` for grey.
    strength : float
        Blend factor (>= 0).
    clip_limit : float
        Normalised CLAHE clip limit in (0, 1].
    kernel_size : int or None
        CLAHE tile size; ``None`` is 1/8 of the image.

    Returns
    -------
    (M, N[, C]) ndarray of float32
    """
    limit = _check_clip(clip_limit)
    size = _check_kernel(kernel_size)
    kernel = sharpening_kernel(3)

    def chain(luma: NDArray[np.float32]) -> NDArray[np.float32]:
        equalised = _adapthist(luma, limit, size)
        return cv2.filter2D(equalised, cv2.CV_32F, kernel, borderType=cv2.BORDER_REFLECT)

    return apply_to_luma(image, chain, channel_axis=channel_axis, strength=strength)
