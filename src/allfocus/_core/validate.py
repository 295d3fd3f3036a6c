"""Input checks and the one dtype rule of allfocus.

Dtype rule
----------
Every computation runs in ``float32`` with values in ``[0, 1]``: integer
images are scaled by their dtype range (``uint8`` / 255, ``uint16`` / 65535),
floating images are cast to ``float32`` without rescaling and must be finite.
Library functions return ``float32``. Converting back to the input's integer
dtype happens only at the IO edge (:func:`allfocus.io.write_image`). float32
halves the memory of float64 and its 24-bit mantissa is ample for 16-bit data.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import DTypeLike, NDArray

from allfocus._core.errors import InputError

FLOAT = np.float32


def dtype_range(dtype: np.dtype) -> float:
    """Largest value of an integer dtype, 1.0 for float and bool."""
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        return float(np.iinfo(dtype).max)
    return 1.0


#: Bit depths of sensors whose values 16-bit (and wider) files often hold.
_SENSOR_BITS = (8, 10, 12, 14, 16)


def sensor_range(image: NDArray) -> float:
    """The largest value ``image``'s sensor gives: ``2**bits - 1`` for the fewest
    of 8, 10, 12, 14 or 16 bits that hold every value of an integer image wider
    than 8 bits (12-bit camera data in 16-bit files: 4095), else
    :func:`dtype_range`.

    Examples
    --------
    >>> import numpy as np
    >>> sensor_range(np.array([[0, 4000]], np.uint16)), sensor_range(np.uint16([[0, 5000]]))
    (4095.0, 16383.0)
    >>> sensor_range(np.uint8([[0, 12]])), sensor_range(np.float32([[0.5]]))
    (255.0, 1.0)
    """
    arr = np.asarray(image)
    full = dtype_range(arr.dtype)
    if arr.dtype.kind not in "ui" or arr.dtype.itemsize < 2 or not arr.size:
        return full
    top = int(arr.max())
    for bits in _SENSOR_BITS:
        if top <= 2**bits - 1 < full:
            return float(2**bits - 1)
    return full


def stack_sensor_range(frames: Iterable[NDArray], dtype: DTypeLike) -> float:
    """:func:`sensor_range` of a whole stack of ``dtype`` given frame by frame (read
    lazily from any iterable), stopping at the first frame that needs the type's
    full range: one frame of full-range data, every frame of 12-bit data in
    16-bit files, none for floats and 8-bit data.
    """
    full = dtype_range(dtype)
    if np.dtype(dtype).kind not in "ui" or np.dtype(dtype).itemsize < 2:
        return full
    top = 0.0
    for frame in frames:
        top = max(top, sensor_range(frame))
        if top >= full:
            return full
    return top or full


def to_span(image: NDArray, top: float) -> NDArray[np.float32]:
    """An integer image as float32 divided by its sensor's largest value ``top``
    (:func:`sensor_range`), so that it spans [0, 1]."""
    out = np.asarray(image).astype(FLOAT)
    out *= FLOAT(1.0 / top)  # in place: one float copy, as as_float_image makes
    return out


def spanning_sensor_range(image: NDArray) -> tuple[NDArray, float]:
    """``image`` brought to span [0, 1] when its sensor has fewer bits than its type
    (:func:`sensor_range`), and the factor that takes a result back to the type's
    scale; ``(image, 1.0)`` as it is otherwise (floats, full-range integers).

    Filters and thresholds made for [0, 1] data then see 12-bit camera data in
    16-bit files as they see 16-bit data (it filled a sixteenth of the range).
    """
    if not isinstance(image, np.ndarray):
        return image, 1.0
    top, full = sensor_range(image), dtype_range(image.dtype)
    if top == full:
        return image, 1.0
    return to_span(image, top), top / full


def as_float_image(image: NDArray, *, name: str = "image") -> NDArray[np.float32]:
    """Return ``image`` as float32 in [0, 1] following the module's dtype rule.

    Parameters
    ----------
    image : ndarray
        Any real image or stack.
    name : str
        Name used in error messages.

    Raises
    ------
    InputError
        If the array is not numeric, holds NaN or inf, or is floating-point
        data beyond [-0.5, 1.5] (another unit than [0, 1]; a little over- and
        undershoot is left for the caller to clip).
    """
    arr = np.asarray(image)
    if arr.dtype == bool:
        return arr.astype(FLOAT)
    if arr.dtype.kind in "ui":
        if arr.dtype.kind == "i" and arr.size and arr.min() < 0:
            raise InputError(f"{name} has negative integer values; expected unsigned image data")
        return (arr.astype(FLOAT) / FLOAT(dtype_range(arr.dtype))).astype(FLOAT, copy=False)
    if arr.dtype.kind == "f":
        out = arr.astype(FLOAT, copy=False)
        if not np.isfinite(out).all():
            raise InputError(
                f"{name} contains NaN or infinite values; replace them (for example with "
                "numpy.nan_to_num) before fusing"
            )
        _check_unit_range(out, name)
        return out
    raise InputError(f"{name} has dtype {arr.dtype}; expected an integer or floating image")


#: Floating-point values beyond these are not [0, 1] image data (a little over- or
#: undershoot, as resampling leaves, is clipped by the methods as before).
_FLOAT_LOW, _FLOAT_HIGH = -0.5, 1.5


def _check_unit_range(values: NDArray[np.float32], name: str) -> None:
    """Refuse floating-point data in other units than [0, 1] (0-255, 0-4095, counts):
    fused as they are, every value over 1 would come out as 1."""
    if not values.size:
        return
    low, high = float(values.min()), float(values.max())
    if low < _FLOAT_LOW or high > _FLOAT_HIGH:
        raise InputError(
            f"{name} holds floating-point values from {low:.4g} to {high:.4g}; floating-point "
            "images must lie in [0, 1] (integer images are scaled by their type's range): "
            f"divide by the largest value ({max(abs(low), high):.4g} or more; one factor for "
            "every frame of a stack), or save as 16-bit integers"
        )


def to_dtype(image: NDArray, dtype: DTypeLike) -> NDArray:
    """Convert an image to ``uint8``, ``uint16`` or ``float32`` for writing.

    Parameters
    ----------
    image : ndarray
        Floating-point values in [0, 1], or integers scaled by their dtype's
        range (as :func:`allfocus._core.validate.as_float_image` reads them).
    dtype : dtype
        ``uint8``, ``uint16`` or ``float32``.

    Returns
    -------
    ndarray
        ``image`` itself when it already has ``dtype``. Integer outputs are
        rounded to nearest and clipped to the dtype range; ``float32`` output
        is not clipped.

    Raises
    ------
    InputError
        If ``dtype`` is not one of the three, or ``image`` holds NaN or inf.

    Examples
    --------
    >>> import numpy as np
    >>> to_dtype(np.array([0.0, 0.5, 1.2]), np.uint8)
    array([  0, 128, 255], dtype=uint8)
    """
    dtype = np.dtype(dtype)
    array = np.asarray(image)
    if dtype not in (np.uint8, np.uint16, np.float32):
        raise InputError(f"dtype must be uint8, uint16 or float32; got {dtype}")
    if array.dtype == dtype:
        return array
    values = as_float_image(array, name="image")
    if dtype == np.float32:
        return values
    top = dtype_range(dtype)
    scaled = np.multiply(values, FLOAT(top), dtype=FLOAT)
    np.rint(scaled, out=scaled)
    np.clip(scaled, 0, top, out=scaled)
    return scaled.astype(dtype)


def move_channels_last(array: NDArray, channel_axis: int | None, *, stack: bool) -> NDArray:
    """Move ``channel_axis`` of ``array`` to the end (no copy when already last)."""
    if channel_axis is None:
        return array
    ndim = array.ndim
    if not -ndim <= channel_axis < ndim:
        raise InputError(f"channel_axis={channel_axis} is out of range for an array of {ndim} dims")
    axis = channel_axis % ndim
    if stack and axis == 0:
        raise InputError("channel_axis=0 is the stack axis; colour must be on another axis")
    return np.moveaxis(array, axis, -1)


def restore_channel_axis(image: NDArray, channel_axis: int | None, *, stack_ndim: int) -> NDArray:
    """Inverse of :func:`move_channels_last` for a fused image (stack axis removed)."""
    if channel_axis is None:
        return image
    axis = channel_axis % stack_ndim - 1
    return np.moveaxis(image, -1, axis)


def check_stack(
    stack: NDArray, *, channel_axis: int | None = None, min_frames: int = 2
) -> NDArray[np.float32]:
    """Validate a focus stack and return it as float32, channels last.

    Parameters
    ----------
    stack : (S, M, N[, C]) ndarray
        Frames on axis 0. Colour only when ``channel_axis`` is given.
    channel_axis : int or None
        Axis of colour channels, ``None`` for grey stacks.
    min_frames : int
        Fewest frames accepted.

    Returns
    -------
    (S, M, N[, C]) ndarray of float32
    """
    arr = np.asarray(stack)
    expected = 3 if channel_axis is None else 4
    if arr.ndim != expected:
        hint = (
            " (pass channel_axis=-1 for a colour stack)"
            if channel_axis is None and arr.ndim == 4
            else ""
        )
        raise InputError(
            f"stack must have {expected} dimensions (S, M, N{'' if expected == 3 else ', C'}) "
            f"with channel_axis={channel_axis}; got shape {arr.shape}{hint}"
        )
    arr = move_channels_last(arr, channel_axis, stack=True)
    if arr.shape[0] < min_frames:
        raise InputError(f"a focus stack needs at least {min_frames} frames; got {arr.shape[0]}")
    if arr.shape[1] < 2 or arr.shape[2] < 2:
        raise InputError(f"frames must be at least 2x2 pixels; got {arr.shape[1:3]}")
    return as_float_image(arr, name="stack")


def luminance(image: NDArray[np.float32], *, color: bool) -> NDArray[np.float32]:
    """Rec. 601 luma of a channels-last image or stack; grey input is returned as is.

    ``color`` says whether the last axis holds channels (it is never guessed
    from the shape): three are RGB, four RGBA (the alpha channel does not
    count), any other number (two or five fluorescence channels, say) are
    averaged.
    """
    if not color:
        return image
    if image.shape[-1] == 1:
        return image[..., 0]
    if image.shape[-1] not in (3, 4):
        return image.mean(axis=-1, dtype=FLOAT)
    rgb = image[..., :3]
    weights = np.array([0.299, 0.587, 0.114], dtype=FLOAT)
    return (rgb @ weights).astype(FLOAT, copy=False)
