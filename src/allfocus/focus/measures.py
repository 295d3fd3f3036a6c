"""Focus measures: how sharp an image is around each pixel.

Every measure has the signature ``measure(image, *, window=9) -> ndarray``: a
grey ``(M, N)`` image in, an ``(M, N)`` float32 map out, larger where the image
is sharper, averaged over a ``window`` x ``window`` box. They are registered by
name in :data:`allfocus.focus.FOCUS_MEASURES`.

References
----------
.. [1] S. Pertuz, D. Puig and M. A. Garcia, "Analysis of focus measure
   operators for shape-from-focus", Pattern Recognition 46(5), pp. 1415-1432,
   2013. :DOI:`10.1016/j.patcog.2012.11.011`
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from allfocus._core.errors import InputError
from allfocus._core.registry import Registry
from allfocus._core.validate import FLOAT, as_float_image
from allfocus.filters.guided import box_mean

FOCUS_MEASURES: Registry = Registry("focus measure")

_BORDER = cv2.BORDER_REFLECT


def _prepare(image: NDArray, window: int) -> NDArray[np.float32]:
    if int(window) != window or window < 1 or window % 2 == 0:
        raise InputError(f"window must be a positive odd integer; got {window}")
    img = as_float_image(image)
    if img.ndim != 2:
        raise InputError(
            f"focus measures take a grey (M, N) image; got shape {img.shape} "
            "(convert colour with allfocus._core.validate.luminance first)"
        )
    return img


def _window_mean(values: NDArray[np.float32], window: int) -> NDArray[np.float32]:
    return box_mean(values, (int(window) - 1) // 2)


@FOCUS_MEASURES.register("laplacian_energy")
def laplacian_energy(image: NDArray, *, window: int = 9) -> NDArray[np.float32]:
    """Mean squared Laplacian in a window (energy of the Laplacian).

    Parameters
    ----------
    image : (M, N) ndarray
        Grey image.
    window : int
        Odd side of the square averaging window.

    Returns
    -------
    (M, N) ndarray of float32
        Non-negative focus measure.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.ndimage import gaussian_filter
    >>> img = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    >>> bool(laplacian_energy(img).mean() > laplacian_energy(gaussian_filter(img, 2)).mean())
    True
    """
    img = _prepare(image, window)
    lap = cv2.Laplacian(img, cv2.CV_32F, ksize=1, borderType=_BORDER)
    return _window_mean(lap * lap, window)


@FOCUS_MEASURES.register("tenengrad")
def tenengrad(image: NDArray, *, window: int = 9) -> NDArray[np.float32]:
    """Mean squared Sobel gradient magnitude in a window (Tenengrad).

    Parameters
    ----------
    image : (M, N) ndarray
        Grey image.
    window : int
        Odd side of the square averaging window.

    Returns
    -------
    (M, N) ndarray of float32
        Non-negative focus measure.

    Examples
    --------
    >>> import numpy as np
    >>> tenengrad(np.full((8, 8), 0.5)).max()
    np.float32(0.0)
    """
    img = _prepare(image, window)
    gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3, borderType=_BORDER)
    gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3, borderType=_BORDER)
    return _window_mean(gx * gx + gy * gy, window)


@FOCUS_MEASURES.register("sum_modified_laplacian")
def sum_modified_laplacian(image: NDArray, *, window: int = 9) -> NDArray[np.float32]:
    """Mean modified Laplacian ``|d2I/dx2| + |d2I/dy2|`` in a window (Nayar).

    Parameters
    ----------
    image : (M, N) ndarray
        Grey image.
    window : int
        Odd side of the square averaging window.

    Returns
    -------
    (M, N) ndarray of float32
        Non-negative focus measure.

    References
    ----------
    .. [1] S. K. Nayar and Y. Nakagawa, "Shape from focus", IEEE TPAMI 16(8),
       pp. 824-831, 1994. :DOI:`10.1109/34.308479`

    Examples
    --------
    >>> import numpy as np
    >>> sum_modified_laplacian(np.eye(9), window=1)[4, 4]
    np.float32(4.0)
    """
    img = _prepare(image, window)
    kernel = np.array([[1.0, -2.0, 1.0]], dtype=FLOAT)
    dxx = cv2.filter2D(img, cv2.CV_32F, kernel, borderType=_BORDER)
    dyy = cv2.filter2D(img, cv2.CV_32F, kernel.T, borderType=_BORDER)
    return _window_mean(np.abs(dxx) + np.abs(dyy), window)


@FOCUS_MEASURES.register("variance")
def variance(image: NDArray, *, window: int = 9) -> NDArray[np.float32]:
    """Local grey-level variance in a window.

    Parameters
    ----------
    image : (M, N) ndarray
        Grey image.
    window : int
        Odd side of the square window.

    Returns
    -------
    (M, N) ndarray of float32
        Non-negative focus measure.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.tile([0.0, 1.0], (8, 4))
    >>> round(float(variance(img, window=3)[4, 4]), 4)  # 2 / 9
    0.2222
    """
    img = _prepare(image, window)
    mean = _window_mean(img, window)
    var = _window_mean(img * img, window) - mean * mean
    return np.maximum(var, 0.0, out=var)


@FOCUS_MEASURES.register("multiscale_laplacian")
def multiscale_laplacian(
    image: NDArray, *, window: int = 3, levels: int = 3
) -> NDArray[np.float32]:
    """Sum-modified-Laplacian summed over the levels of a Gaussian pyramid.

    The finest level keeps pixel-sharp decisions at occlusion edges; the
    coarser ones (each brought back to full size with ``cv2.pyrUp``) carry
    the detail of oversampled or noisy images, where the pixel-scale
    Laplacian sees mostly noise.

    Parameters
    ----------
    image : (M, N) ndarray
        Grey image.
    window : int
        Odd side of the averaging window at every level.
    levels : int
        Pyramid levels summed (1 = :func:`sum_modified_laplacian`).

    Returns
    -------
    (M, N) ndarray of float32
        Non-negative focus measure.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.ndimage import gaussian_filter
    >>> img = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    >>> sharp, soft = multiscale_laplacian(img), multiscale_laplacian(gaussian_filter(img, 1))
    >>> bool((sharp > soft).mean() > 0.95)
    True
    """
    img = _prepare(image, window)
    if int(levels) != levels or levels < 1:
        raise InputError(f"levels must be a positive integer; got {levels}")
    pyramid = [img]
    for _ in range(int(levels) - 1):
        if min(pyramid[-1].shape) < 2:
            break
        pyramid.append(cv2.pyrDown(pyramid[-1]))
    total = sum_modified_laplacian(pyramid[-1], window=window)
    for level in reversed(pyramid[:-1]):
        total = cv2.pyrUp(total, dstsize=(level.shape[1], level.shape[0]))
        total += sum_modified_laplacian(level, window=window)
    return np.maximum(total, 0.0, out=total)


def halo(*, measure: str = "laplacian_energy", window: int = 9, levels: int = 3) -> int:
    """Pixels the focus measure ``measure`` with this ``window`` looks beyond a tile.

    Examples
    --------
    >>> halo(window=9)
    5
    >>> halo(measure="multiscale_laplacian", window=3, levels=3)
    20
    """
    FOCUS_MEASURES.get(measure)
    reach = (int(window) - 1) // 2 + 1
    if measure != "multiscale_laplacian":
        return reach
    scale = 2 ** (int(levels) - 1)
    # window and derivative at the coarsest scale, plus the pyrDown/pyrUp kernels.
    return reach * scale + 2 * 2 * (scale - 1)


__all__ = [
    "FOCUS_MEASURES",
    "halo",
    "laplacian_energy",
    "multiscale_laplacian",
    "sum_modified_laplacian",
    "tenengrad",
    "variance",
]
