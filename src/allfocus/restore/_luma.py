"""Work on luminance only, so sharpening never shifts colours.

Every single-image method of :mod:`allfocus.restore` changes the Rec. 601
luma ``Y`` (the ``Y`` of YCrCb) and puts the colour back with
:func:`merge_luma`: the change of ``Y`` is added to all three channels, which
keeps the colour differences ``R - Y`` and ``B - Y`` (and therefore hue and
chroma) unchanged. Where the result would leave ``[0, 1]`` the chroma is
scaled toward the grey axis just enough to fit, which keeps the hue (HSV and
Lab hue angle) and lowers only the saturation.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from allfocus._core.errors import InputError
from allfocus._core.validate import (
    FLOAT,
    as_float_image,
    luminance,
    move_channels_last,
)


def prepare_image(image: NDArray, channel_axis: int | None) -> tuple[NDArray[np.float32], bool]:
    """Validate a single image; return it float32 channels-last and whether it has colour.

    Grey images are ``(M, N)``; colour images ``(M, N, C)`` once the channel
    axis is last. One channel is treated as grey; three or four as RGB(A).
    """
    arr = np.asarray(image)
    expected = 2 if channel_axis is None else 3
    if arr.ndim != expected:
        hint = (
            " (pass channel_axis=-1 for a colour image)"
            if channel_axis is None and arr.ndim == 3
            else ""
        )
        raise InputError(
            f"image must have {expected} dimensions ({'M, N' if expected == 2 else 'M, N, C'}) "
            f"with channel_axis={channel_axis}; got shape {arr.shape}{hint}"
        )
    arr = move_channels_last(arr, channel_axis, stack=False)
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        raise InputError(f"image must be at least 2x2 pixels; got {arr.shape[:2]}")
    if arr.ndim == 3 and arr.shape[-1] not in (1, 3, 4):
        raise InputError(
            f"a colour image needs 1, 3 (RGB) or 4 (RGBA) channels; got {arr.shape[-1]}"
        )
    out = as_float_image(arr, name="image")
    if out.min() < 0 or out.max() > 1:
        raise InputError(
            f"image values must lie in [0, 1]; got [{out.min():.3g}, {out.max():.3g}] "
            "(scale floating-point images to [0, 1] first)"
        )
    return out, arr.ndim == 3


def finish_image(image: NDArray[np.float32], channel_axis: int | None) -> NDArray[np.float32]:
    """Move the channel axis back where the caller had it."""
    if channel_axis is None:
        return image
    return np.moveaxis(image, -1, channel_axis % 3)


def get_luma(image: NDArray[np.float32], *, color: bool) -> NDArray[np.float32]:
    """Luma ``Y`` (M, N) of a channels-last image (copy-free for grey)."""
    return np.ascontiguousarray(luminance(image, color=color), dtype=FLOAT)


def merge_luma(
    image: NDArray[np.float32],
    luma: NDArray[np.float32],
    new_luma: NDArray[np.float32],
    *,
    color: bool,
    chroma: NDArray[np.float32] | None = None,
) -> NDArray[np.float32]:
    """Replace the luma of ``image`` by ``new_luma`` keeping hue and chroma.

    Parameters
    ----------
    image : (M, N[, C]) ndarray of float32
        The input, channels last.
    luma : (M, N) ndarray of float32
        Its luma, as returned by :func:`get_luma`.
    new_luma : (M, N) ndarray of float32
        The processed luma (any range; it is clipped to [0, 1]).
    color : bool
        Whether ``image`` has a channel axis.
    chroma : (M, N, 3) ndarray of float32, optional
        New colour differences ``(R - Y, G - Y, B - Y)`` to use instead of
        those of ``image`` (for methods that also restore colour detail).

    Returns
    -------
    (M, N[, C]) ndarray of float32
        In [0, 1]; alpha (a fourth channel) is passed through.
    """
    new_luma = np.clip(new_luma, 0.0, 1.0).astype(FLOAT, copy=False)
    if not color:
        return new_luma
    if image.shape[-1] == 1:
        return new_luma[..., None]
    if chroma is None:
        chroma = image[..., :3] - luma[..., None]  # R-Y, G-Y, B-Y: kept under a luma change
    # Largest t in [0, 1] keeping new_luma + t * chroma inside [0, 1]:
    # t <= (1 - Y) / max(chroma) and t <= Y / -min(chroma).
    hi = np.maximum(chroma.max(axis=-1), 1e-7)
    lo = np.maximum(-chroma.min(axis=-1), 1e-7)
    t = np.minimum((1.0 - new_luma) / hi, new_luma / lo)
    np.clip(t, 0.0, 1.0, out=t)
    out = chroma * t[..., None]
    out += new_luma[..., None]
    np.clip(out, 0.0, 1.0, out=out)
    if image.shape[-1] == 4:
        out = np.concatenate([out, image[..., 3:]], axis=-1)
    return out.astype(FLOAT, copy=False)


def check_strength(strength: float) -> float:
    """Validate the ``strength`` every sharpening method takes."""
    if isinstance(strength, bool) or not isinstance(strength, int | float | np.number):
        raise InputError(f"strength must be a number; got {type(strength).__name__}")
    if not np.isfinite(strength) or strength < 0:
        raise InputError(f"strength must be a finite number >= 0; got {strength}")
    return float(strength)


def apply_to_luma(
    image: NDArray,
    operator: Callable[[NDArray[np.float32]], NDArray],
    *,
    channel_axis: int | None,
    strength: float,
) -> NDArray[np.float32]:
    """Run ``operator`` on the luma of ``image`` and put the colour back.

    ``strength`` blends the luma linearly: 0 keeps the input, 1 is the
    operator's result, above 1 extrapolates. The output is float32 in
    [0, 1] with the channel axis where the input had it.
    """
    strength = check_strength(strength)
    arr, color = prepare_image(image, channel_axis)
    luma = get_luma(arr, color=color)
    new = np.asarray(operator(luma), dtype=FLOAT)
    if strength != 1.0:
        new = luma + FLOAT(strength) * (new - luma)
    return finish_image(merge_luma(arr, luma, new, color=color), channel_axis)
