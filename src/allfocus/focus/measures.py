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

import math

import cv2
import numpy as np
from numpy.typing import NDArray

from allfocus._core.errors import InputError
from allfocus._core.registry import Registry
from allfocus._core.validate import FLOAT, as_float_image
from allfocus.filters.guided import box_mean

FOCUS_MEASURES: Registry = Registry("focus measure")

_BORDER = cv2.BORDER_REFLECT
_D2X = np.array([[1.0, -2.0, 1.0]], dtype=FLOAT)  # second derivative along x
_D2Y = np.ascontiguousarray(_D2X.T)


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
    return _sml_into(img, int(window), np.empty(img.shape, dtype=FLOAT), np.empty_like(img))


class Workspace:
    """Float32 scratch arrays kept by name and reused while their shape fits.

    Fresh arrays of a few megabytes cost a page fault per 4 KiB on every
    call; code that computes a measure many times (bands of a frame, frame
    after frame) keeps one workspace per thread and passes it to
    :func:`focus_into`.

    Examples
    --------
    >>> work = Workspace()
    >>> work("a", (2, 3)) is work("a", (2, 3))
    True
    """

    def __init__(self) -> None:
        self._arrays: dict[str, NDArray[np.float32]] = {}
        self._memory: dict[str, NDArray[np.float32]] = {}

    def __call__(self, name: str, shape: tuple[int, ...]) -> NDArray[np.float32]:
        """The float32 array ``name`` of ``shape`` (uninitialised when new).

        A new shape is a view of the memory the name already holds when it
        is big enough (band windows differ by a few rows from band to band),
        so a new shape invalidates the arrays given out before under that name.
        """
        buf = self._arrays.get(name)
        if buf is None or buf.shape != shape:
            size = math.prod(shape)
            memory = self._memory.get(name)
            if memory is None or memory.size < size:
                memory = self._memory[name] = np.empty(size, dtype=FLOAT)
            buf = self._arrays[name] = memory[:size].reshape(shape)
        return buf


def _sml_into(
    img: NDArray[np.float32], window: int, out: NDArray[np.float32], scratch: NDArray[np.float32]
) -> NDArray[np.float32]:
    """:func:`sum_modified_laplacian` of a checked float32 image into ``out``; no checks."""
    dxx = cv2.filter2D(img, cv2.CV_32F, _D2X, dst=scratch, borderType=_BORDER)
    np.abs(dxx, out=dxx)
    dyy = cv2.filter2D(img, cv2.CV_32F, _D2Y, dst=out, borderType=_BORDER)
    np.abs(dyy, out=dyy)
    np.add(dxx, dyy, out=dxx)
    if window <= 1:
        np.copyto(out, dxx)
        return out
    return cv2.boxFilter(dxx, -1, (window, window), dst=out, normalize=True, borderType=_BORDER)


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
    return _multiscale_into(img, int(window), int(levels), None, Workspace())


def _multiscale_into(
    img: NDArray[np.float32],
    window: int,
    levels: int,
    out: NDArray[np.float32] | None,
    work: Workspace,
    rows: slice = slice(None),
) -> NDArray[np.float32]:
    """:func:`multiscale_laplacian` of a checked float32 image; its ``rows`` into ``out``.

    With ``out=None`` the whole measure is returned in ``work``'s array ``total0``.
    """
    pyramid = [img]
    for level in range(1, levels):
        height, width = pyramid[-1].shape
        if min(height, width) < 2:
            break
        shape = ((height + 1) // 2, (width + 1) // 2)
        pyramid.append(cv2.pyrDown(pyramid[-1], dst=work(f"down{level}", shape)))
    total = None
    for index in range(len(pyramid) - 1, -1, -1):  # coarsest first
        level = pyramid[index]
        target = work(f"total{index}", level.shape)
        scratch = work(f"scratch{index}", level.shape)
        _sml_into(level, window, target, scratch)
        if total is not None:  # the coarser levels, brought up to this one
            up = cv2.pyrUp(total, dst=scratch, dstsize=(level.shape[1], level.shape[0]))
            np.add(up, target, out=target)
        total = target
    if out is None:
        return np.maximum(total, 0.0, out=total)
    return np.maximum(total[rows], 0.0, out=out)


def focus_into(
    measure: str,
    image: NDArray[np.float32],
    *,
    window: int,
    out: NDArray[np.float32],
    work: Workspace,
    rows: slice = slice(None),
) -> NDArray[np.float32]:
    """The focus measure ``measure`` of ``image`` (its ``rows``), written into ``out``.

    The same values as the registered function, without its checks (the
    caller passes a finite float32 grey image) and, for
    ``multiscale_laplacian`` and ``sum_modified_laplacian``, without fresh
    full-size arrays: their temporaries come from ``work``.

    Parameters
    ----------
    measure : str
        Name in :data:`FOCUS_MEASURES` (default parameters otherwise).
    image : (M, N) ndarray of float32
        Grey image, finite.
    window : int
        Odd side of the averaging window.
    out : (R, N) ndarray of float32
        Where the rows ``rows`` of the measure are written.
    work : Workspace
        Scratch arrays, reused from call to call (one per thread).
    rows : slice
        Rows of the measure wanted (all by default): a band computed with a
        halo of rows around it keeps only the band.

    Returns
    -------
    (R, N) ndarray of float32
        ``out``.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.random.default_rng(0).random((20, 30)).astype(np.float32)
    >>> out = focus_into("multiscale_laplacian", img, window=3,
    ...                  out=np.empty((10, 30), np.float32), work=Workspace(), rows=slice(5, 15))
    >>> bool((out == multiscale_laplacian(img, window=3)[5:15]).all())
    True
    """
    if measure == "multiscale_laplacian":
        return _multiscale_into(image, int(window), 3, out, work, rows)
    if measure == "sum_modified_laplacian":
        full = work("total0", image.shape)
        np.copyto(out, _sml_into(image, int(window), full, work("scratch0", image.shape))[rows])
        return out
    np.copyto(out, FOCUS_MEASURES.get(measure)(image, window=window)[rows])
    return out


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
    "Workspace",
    "focus_into",
    "halo",
    "laplacian_energy",
    "multiscale_laplacian",
    "sum_modified_laplacian",
    "tenengrad",
    "variance",
]
