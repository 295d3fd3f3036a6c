"""The seed report's sharpening filters: kernels, box blur, unsharp mask, repeats.

These are global filters: they raise contrast at every scale everywhere and
cannot undo a blur that changes across the photo (docs/sharpen.md measures
them against the defocus method). All run on luma so colours do not shift.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from allfocus._core.errors import InputError
from allfocus._core.validate import FLOAT
from allfocus.restore import SHARPEN_METHODS
from allfocus.restore._luma import apply_to_luma


def sharpening_kernel(size: int) -> NDArray[np.float32]:
    """The seed's sharpening kernel of side ``size`` (3, 5 or 7); it sums to 1.

    3x3 is the common cross ``[[0, -1, 0], [-1, 5, -1], [0, -1, 0]]``; 5x5
    and 7x7 are -1 everywhere with ``size**2`` at the centre, i.e.
    ``identity + size**2 * (identity - box)``: very strong.

    Examples
    --------
    >>> sharpening_kernel(3)
    array([[ 0., -1.,  0.],
           [-1.,  5., -1.],
           [ 0., -1.,  0.]], dtype=float32)
    >>> float(sharpening_kernel(7).sum())
    1.0
    """
    if size == 3:
        return np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=FLOAT)
    if size in (5, 7):
        kernel = -np.ones((size, size), dtype=FLOAT)
        kernel[size // 2, size // 2] = size * size
        return kernel
    raise InputError(f"kernel size must be 3, 5 or 7; got {size}")


def _convolve(luma: NDArray[np.float32], kernel: NDArray[np.float32]) -> NDArray[np.float32]:
    return cv2.filter2D(luma, cv2.CV_32F, kernel, borderType=cv2.BORDER_REFLECT)


def _kernel_method(size: int):
    def method(
        image: NDArray, *, channel_axis: int | None = None, strength: float = 1.0
    ) -> NDArray[np.float32]:
        kernel = sharpening_kernel(size)
        return apply_to_luma(
            image, lambda y: _convolve(y, kernel), channel_axis=channel_axis, strength=strength
        )

    method.__name__ = f"kernel{size}"
    method.__doc__ = f"""Convolve luma with the seed's {size}x{size} sharpening kernel.

    See :func:`sharpening_kernel` for the kernel. ``strength`` blends between
    the input (0) and the filtered luma (1).

    Parameters
    ----------
    image : (M, N[, C]) ndarray
        Image in [0, 1].
    channel_axis : int or None
        Axis of the colour channels, ``None`` for grey.
    strength : float
        Blend factor (>= 0).

    Returns
    -------
    (M, N[, C]) ndarray of float32
    """
    return method


kernel3 = SHARPEN_METHODS.register("kernel3")(_kernel_method(3))
kernel5 = SHARPEN_METHODS.register("kernel5")(_kernel_method(5))
kernel7 = SHARPEN_METHODS.register("kernel7")(_kernel_method(7))


def _check_size(kernel_size: int) -> int:
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int | np.integer):
        raise InputError(f"kernel_size must be an odd integer >= 1; got {kernel_size!r}")
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise InputError(f"kernel_size must be an odd integer >= 1; got {kernel_size}")
    return int(kernel_size)


@SHARPEN_METHODS.register("box")
def box(
    image: NDArray,
    *,
    channel_axis: int | None = None,
    strength: float = 1.0,
    kernel_size: int = 3,
) -> NDArray[np.float32]:
    """Box blur of luma (the seed's first step before sharpening; it blurs).

    Parameters
    ----------
    image : (M, N[, C]) ndarray
        Image in [0, 1].
    channel_axis : int or None
        Axis of the colour channels, ``None`` for grey.
    strength : float
        Blend factor (>= 0).
    kernel_size : int
        Odd side of the box.

    Returns
    -------
    (M, N[, C]) ndarray of float32
    """
    size = _check_size(kernel_size)
    return apply_to_luma(
        image,
        lambda y: cv2.blur(y, (size, size), borderType=cv2.BORDER_REFLECT),
        channel_axis=channel_axis,
        strength=strength,
    )


def _unsharp(luma: NDArray[np.float32], radius: float, amount: float) -> NDArray[np.float32]:
    from skimage.filters import unsharp_mask

    return unsharp_mask(luma, radius=radius, amount=amount, preserve_range=True).astype(FLOAT)


@SHARPEN_METHODS.register("unsharp")
def unsharp(
    image: NDArray,
    *,
    channel_axis: int | None = None,
    strength: float = 1.0,
    radius: float = 2.0,
) -> NDArray[np.float32]:
    """Unsharp mask of luma (:func:`skimage.filters.unsharp_mask`).

    ``luma + strength * (luma - gaussian(luma, radius))``: ``strength`` is
    the mask's amount.

    Parameters
    ----------
    image : (M, N[, C]) ndarray
        Image in [0, 1].
    channel_axis : int or None
        Axis of the colour channels, ``None`` for grey.
    strength : float
        Amount (>= 0).
    radius : float
        Gaussian sigma of the blurred copy, pixels.

    Returns
    -------
    (M, N[, C]) ndarray of float32
    """
    if not np.isfinite(radius) or radius <= 0:
        raise InputError(f"radius must be a positive number; got {radius}")
    return apply_to_luma(
        image, lambda y: _unsharp(y, radius, 1.0), channel_axis=channel_axis, strength=strength
    )


@SHARPEN_METHODS.register("repeated")
def repeated(
    image: NDArray,
    *,
    channel_axis: int | None = None,
    strength: float = 1.0,
    num_iter: int = 3,
) -> NDArray[np.float32]:
    """The seed's chain: 3x3 box blur, unsharp mask, then the 3x3 kernel ``num_iter`` times.

    Parameters
    ----------
    image : (M, N[, C]) ndarray
        Image in [0, 1].
    channel_axis : int or None
        Axis of the colour channels, ``None`` for grey.
    strength : float
        Blend factor (>= 0) of the whole chain.
    num_iter : int
        Passes of the sharpening kernel (>= 1).

    Returns
    -------
    (M, N[, C]) ndarray of float32
    """
    if isinstance(num_iter, bool) or not isinstance(num_iter, int | np.integer) or num_iter < 1:
        raise InputError(f"num_iter must be an integer >= 1; got {num_iter!r}")
    kernel = sharpening_kernel(3)

    def chain(luma: NDArray[np.float32]) -> NDArray[np.float32]:
        out = cv2.blur(luma, (3, 3), borderType=cv2.BORDER_REFLECT)
        out = np.clip(_unsharp(out, 2.0, 1.0), 0.0, 1.0)
        for _ in range(int(num_iter)):
            out = np.clip(_convolve(out, kernel), 0.0, 1.0)
        return out

    return apply_to_luma(image, chain, channel_axis=channel_axis, strength=strength)
