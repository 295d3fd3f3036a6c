"""Read a whole focus stack into one ``(S, M, N[, C])`` array."""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from allfocus._core.errors import InputError
from allfocus._core.validate import dtype_range
from allfocus.io._metadata import icc_fits
from allfocus.io._paths import find_frames
from allfocus.io._read import MAX_PIXELS, read_frames


@dataclass
class StackData:
    """A focus stack read from files, with what is needed to write the result.

    Attributes
    ----------
    frames : (S, M, N[, C]) ndarray
        The frames in stack order, in their common native dtype (``uint8``,
        ``uint16`` or ``float32``); colour is channels-last RGB(A).
    paths : list of pathlib.Path
        Source file of each frame (a multi-page TIFF repeats its path).
    names : list of str
        Display name of each frame: the file name, with the page index
        (from 0) for a page of a multi-page TIFF, ``"stack.tif[3]"``.
    channel_axis : int or None
        ``-1`` for colour stacks, ``None`` for grey ones; pass it on to the
        fusion functions.
    icc : bytes or None
        ICC profile of the reference frame (``None`` if it has none or if
        it does not fit the stack's colour, say a grey profile in a stack
        promoted to RGB).
    exif : bytes or None
        EXIF block of the reference frame, orientation reset to 1.
    reference : int
        Index of the reference frame, the middle one: ``S // 2``.
    """

    frames: NDArray
    paths: list[Path]
    names: list[str]
    channel_axis: int | None
    icc: bytes | None
    exif: bytes | None
    reference: int

    @property
    def dtype(self) -> np.dtype:
        """The native dtype of the frames."""
        return self.frames.dtype


def read_stack(
    inputs: Sequence[str | os.PathLike] | str | os.PathLike,
    *,
    min_frames: int = 2,
    max_pixels: int = MAX_PIXELS,
) -> StackData:
    """Read a focus stack from files, glob patterns, a folder or a multi-page TIFF.

    Parameters
    ----------
    inputs : sequence of str or path-like
        As :func:`find_frames`. Every page of a multi-page TIFF is a frame.
    min_frames : int
        Fewest frames accepted.
    max_pixels : int
        Largest accepted width x height of each frame.

    Returns
    -------
    StackData
        Frames stacked on axis 0 with their names and the reference frame's
        metadata.

    Raises
    ------
    ReadError
        If a file is missing or cannot be decoded (see :func:`read_image`).
    InputError
        If a folder or pattern holds no images, frames differ in size, there
        are fewer than ``min_frames`` frames, a frame is larger than
        ``max_pixels`` or a float TIFF holds NaN or inf.

    Warns
    -----
    UserWarning
        When frames mix grey and colour (grey is converted to RGB), RGB and
        RGBA (an opaque alpha channel is added), or bit depths (8-bit frames
        are promoted to 16 bit; integer frames are scaled to float32 in
        [0, 1] when some frames are floating point).

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from allfocus.io import read_stack, write_image
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for i in (1, 2, 10):
    ...     _ = write_image(folder / f"frame_{i}.png", np.full((4, 6), i, dtype=np.uint8))
    >>> stack = read_stack([folder])
    >>> stack.frames.shape, stack.names, stack.reference
    ((3, 4, 6), ['frame_1.png', 'frame_2.png', 'frame_10.png'], 1)
    """
    arrays: list[NDArray] = []
    source_paths: list[Path] = []
    names: list[str] = []
    metadata: list[tuple[bytes | None, bytes | None]] = []
    for path in find_frames(inputs):
        pages = read_frames(path, max_pixels=max_pixels)
        for i, page in enumerate(pages):
            arrays.append(page.array)
            source_paths.append(page.path)
            names.append(path.name if len(pages) == 1 else f"{path.name}[{i}]")
            metadata.append((page.icc, page.exif))
        del pages

    count = len(arrays)
    if count < min_frames:
        raise too_few_frames(min_frames, names, source_paths)
    _check_sizes(arrays, names)
    dtype = _common_dtype(arrays)
    channels = _common_channels(arrays)
    reference = count // 2
    icc, exif = metadata[reference]
    if not icc_fits(icc, color=channels > 0):
        icc = None

    shape = (count, *arrays[0].shape[:2]) + ((channels,) if channels else ())
    frames = np.empty(shape, dtype=dtype)
    for i in reversed(range(count)):  # pop frees each decoded frame once copied
        frames[i] = _convert(arrays.pop(), dtype, channels)
    return StackData(
        frames=frames,
        paths=source_paths,
        names=names,
        channel_axis=-1 if channels else None,
        icc=icc,
        exif=exif,
        reference=reference,
    )


def too_few_frames(min_frames: int, names: Sequence[str], paths: Sequence[Path]) -> InputError:
    """The error for a stack of fewer than ``min_frames`` frames.

    A TIFF of one page holding three or four separate planes (what
    ``tifffile.imwrite`` makes of a 3- or 4-slice ``(Z, Y, X)`` array by
    default) reads as one colour image; the message then says so.
    """
    hint = ""
    if len(set(paths)) == 1 and paths[0].suffix.lower() in (".tif", ".tiff"):
        import tifffile

        try:
            with tifffile.TiffFile(paths[0]) as tif:
                page = tif.pages[0]
                separate = page.planarconfig == tifffile.PLANARCONFIG.SEPARATE
                planes = page.samplesperpixel if separate else 0
        except (OSError, ValueError, tifffile.TiffFileError):
            planes = 0
        if planes in (3, 4):
            hint = (
                f"; {paths[0].name} is one page of {planes} separate planes, read as one colour "
                "image: if the planes are focus slices, write them as pages, e.g. "
                "tifffile.imwrite(path, stack, photometric='minisblack')"
            )
    return InputError(
        f"a focus stack needs at least {min_frames} frames; got {len(names)} "
        f"({', '.join(names)}); pass more images or a multi-page TIFF{hint}"
    )


def _check_sizes(arrays: list[NDArray], names: list[str]) -> None:
    """Raise naming the first frame whose size differs from the most common one."""
    sizes = [a.shape[:2] for a in arrays]
    counts = Counter(sizes)
    # most common size; on a tie the size that comes first in the stack
    common = max(counts, key=lambda s: (counts[s], -sizes.index(s)))
    for name, size in zip(names, sizes, strict=True):
        if size != common:
            other = names[sizes.index(common)]
            raise InputError(
                f"frame {name} is {size[1]}x{size[0]} pixels but {other} (like most frames) is "
                f"{common[1]}x{common[0]}; all frames must have the same size, "
                "crop or resize them first"
            )


def _common_dtype(arrays: list[NDArray]) -> np.dtype:
    dtypes = {a.dtype for a in arrays}
    if len(dtypes) == 1:
        return dtypes.pop()
    if any(d.kind == "f" for d in dtypes):
        warnings.warn(
            "the stack mixes floating-point and integer frames; integer frames are scaled "
            "to float32 in [0, 1]",
            UserWarning,
            stacklevel=3,
        )
        return np.dtype(np.float32)
    warnings.warn(
        "the stack mixes 8-bit and 16-bit frames; 8-bit frames are promoted to 16 bit",
        UserWarning,
        stacklevel=3,
    )
    return np.dtype(np.uint16)


def _common_channels(arrays: list[NDArray]) -> int:
    """0 for a grey stack, else 3 or 4, warning when kinds are mixed."""
    kinds = {a.shape[2] if a.ndim == 3 else 0 for a in arrays}
    if len(kinds) == 1:
        return kinds.pop()
    channels = max(kinds)
    if 0 in kinds:
        warnings.warn(
            "the stack mixes grey and colour frames; grey frames are converted to RGB",
            UserWarning,
            stacklevel=3,
        )
    if kinds >= {3, 4}:
        warnings.warn(
            "the stack mixes RGB and RGBA frames; an opaque alpha channel is added to RGB frames",
            UserWarning,
            stacklevel=3,
        )
    return channels


def _convert(array: NDArray, dtype: np.dtype, channels: int) -> NDArray:
    """``array`` in ``dtype`` (rescaled) with ``channels`` channels (0 = grey)."""
    if array.dtype != dtype:
        if dtype.kind == "f":
            array = array.astype(np.float32) / np.float32(dtype_range(array.dtype))
        else:  # uint8 -> uint16: 255 * 257 = 65535
            array = array.astype(dtype) * dtype.type(257)
    if channels and array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if channels == 4 and array.shape[2] == 3:
        opaque = np.full((*array.shape[:2], 1), dtype_range(dtype), dtype=dtype)
        array = np.concatenate([array, opaque], axis=-1)
    return array
