"""Input handling shared by the metrics: shapes, sources, luma, quantisation.

Every metric converts its inputs once with :func:`allfocus._core.validate.as_float_image`
(integers scaled to [0, 1], by their sensor's range: :func:`sensor_scale`) and then
computes in ``float64``: the metrics are scalars, so the extra precision costs little
and keeps sums over large images exact enough to compare with published tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from allfocus._core.errors import InputError
from allfocus._core.validate import (
    as_float_image,
    dtype_range,
    luminance,
    move_channels_last,
    stack_sensor_range,
)

__all__ = ["as_luma", "check_image", "fused_and_sources", "quantise", "sensor_scale"]


def sensor_scale(*images: ArrayLike) -> float:
    """Factor that takes integer images, once scaled to [0, 1] by their type's range,
    to span [0, 1] by their sensor's range: ``dtype max / sensor max``, the sensor's
    largest value (:func:`allfocus._core.validate.sensor_range`) taken over all the
    images together, so that images compared with each other get one scale.

    12-bit camera data in 16-bit files (and 10- or 14-bit) then scores as the same
    data at 16 bits; floats, 8-bit and full-range data, and images of differing
    dtypes, keep their scale (1.0).

    >>> import numpy as np
    >>> sensor_scale(np.uint16([[0, 4095]]), np.uint16([[0, 100]]))  # 65535 / 4095
    16.003663003663004
    >>> sensor_scale(np.uint8([[0, 7]])), sensor_scale(np.float32([[0.1]]), np.uint16([[7]]))
    (1.0, 1.0)
    """
    arrays = [np.asarray(image) for image in images]
    dtypes = {array.dtype for array in arrays}
    if len(dtypes) != 1:
        return 1.0
    (dtype,) = dtypes
    return dtype_range(dtype) / stack_sensor_range(arrays, dtype)


def check_image(
    image: ArrayLike, *, channel_axis: int | None, name: str, scale: float = 1.0
) -> NDArray[np.float32]:
    """Validate one image and return it as float32 in [0, 1], channels last.

    Parameters
    ----------
    image : (M, N[, C]) array_like
        A grey image (``channel_axis=None``) or a colour image.
    channel_axis : int or None
        Axis of the colour channels of ``image``.
    name : str
        Name used in error messages.
    scale : float
        Factor applied after the conversion to [0, 1] (:func:`sensor_scale`).

    Raises
    ------
    InputError
        If the number of dimensions does not fit ``channel_axis``, the image is
        smaller than 2x2 or the channel count is not 1, 3 or 4.
    """
    arr = np.asarray(image)
    expected = 2 if channel_axis is None else 3
    if arr.ndim != expected:
        hint = ""
        if channel_axis is None and arr.ndim == 3:
            hint = " (pass channel_axis=-1 for a colour image)"
        elif channel_axis is not None and arr.ndim == 2:
            hint = " (pass channel_axis=None for a grey image)"
        raise InputError(
            f"{name} must have {expected} dimensions with channel_axis={channel_axis}; "
            f"got shape {arr.shape}{hint}"
        )
    arr = move_channels_last(arr, channel_axis, stack=False)
    if channel_axis is not None and arr.shape[-1] not in (1, 3, 4):
        raise InputError(
            f"{name} must have 1, 3 (RGB) or 4 (RGBA) channels on channel_axis="
            f"{channel_axis}; got {arr.shape[-1]} (shape {np.shape(image)})"
        )
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        raise InputError(f"{name} must be at least 2x2 pixels; got shape {np.shape(image)}")
    out = as_float_image(arr, name=name)
    if scale != 1.0:
        out *= np.float32(scale)
    return out


def as_luma(
    image: ArrayLike, *, channel_axis: int | None, name: str, scale: float | None = None
) -> NDArray[np.float64]:
    """Validate ``image`` and return its grey level (Rec. 601 luma) as float64.

    ``scale`` as in :func:`check_image`; by default the image's own
    :func:`sensor_scale`.
    """
    if scale is None:
        scale = sensor_scale(image)
    arr = check_image(image, channel_axis=channel_axis, name=name, scale=scale)
    return luminance(arr, color=channel_axis is not None).astype(np.float64)


def _split_sources(sources: ArrayLike | Sequence[ArrayLike], fused_ndim: int) -> list:
    """Turn a sequence of images or an (S, ...) stack into a list of frames."""
    if isinstance(sources, np.ndarray):
        if sources.ndim != fused_ndim + 1:
            raise InputError(
                f"sources as an array must be a stack with one more dimension than fused "
                f"(frames on axis 0); got sources of shape {sources.shape} and fused with "
                f"{fused_ndim} dimensions (wrap a single source in a list: [source])"
            )
        return list(sources)
    if isinstance(sources, (str, bytes)) or not isinstance(sources, Sequence):
        raise InputError(
            f"sources must be a sequence of images or an (S, M, N[, C]) array; "
            f"got {type(sources).__name__}"
        )
    return list(sources)


def fused_and_sources(
    fused: ArrayLike,
    sources: ArrayLike | Sequence[ArrayLike],
    *,
    channel_axis: int | None,
    min_sources: int = 1,
) -> tuple[NDArray[np.float64], list[NDArray[np.float64]]]:
    """Validate a fused image and its sources; return their lumas as float64.

    Parameters
    ----------
    fused : (M, N[, C]) array_like
        The fused image.
    sources : sequence of (M, N[, C]) array_like or (S, M, N[, C]) array_like
        The images that were fused.
    channel_axis : int or None
        Axis of the colour channels of ``fused`` and of every source image (for a
        stacked array, the axis within one frame, so ``-1`` suits both).
    min_sources : int
        Fewest sources accepted.

    Returns
    -------
    fused_luma : (M, N) ndarray of float64
    source_lumas : list of (M, N) ndarray of float64

    Raises
    ------
    InputError
        If any shape differs from the fused image's (the message names the source
        and both shapes) or there are too few sources.
    """
    fused_arr = np.asarray(fused)
    frames = _split_sources(sources, fused_arr.ndim)
    if len(frames) < min_sources:
        raise InputError(f"at least {min_sources} source image(s) needed; got {len(frames)}")
    scale = sensor_scale(fused_arr, *frames)
    fused_luma = as_luma(fused_arr, channel_axis=channel_axis, name="fused", scale=scale)
    lumas = []
    for index, frame in enumerate(frames):
        frame_arr = np.asarray(frame)
        if frame_arr.shape != fused_arr.shape:
            raise InputError(
                f"sources[{index}] has shape {frame_arr.shape} but fused has shape "
                f"{fused_arr.shape}; every source must match the fused image (resize or "
                "crop them to one size first)"
            )
        lumas.append(
            as_luma(frame_arr, channel_axis=channel_axis, name=f"sources[{index}]", scale=scale)
        )
    return fused_luma, lumas


def quantise(image: NDArray[np.floating], levels: int) -> NDArray[np.intp]:
    """Map [0, 1] values to integer levels ``0 .. levels - 1`` by rounding.

    With ``levels=256`` this gives the grey values of an 8-bit image, the way
    MATLAB metrics see ``uint8`` input; values outside [0, 1] are clipped.
    """
    return np.rint(np.clip(image, 0.0, 1.0) * (levels - 1)).astype(np.intp)
