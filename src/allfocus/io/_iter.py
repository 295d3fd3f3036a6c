"""Read a focus stack lazily, one frame at a time, decoding ahead on a second thread."""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from numpy.typing import NDArray
from PIL import Image
from PIL.JpegImagePlugin import JpegImageFile

from allfocus._core.errors import AllfocusError, InputError, ReadError
from allfocus.io._metadata import (
    ORIENTATION,
    apply_orientation,
    exif_orientation,
    exif_to_bytes,
    icc_fits,
)
from allfocus.io._paths import find_frames
from allfocus.io._read import (
    _ICC_TAG,
    _PILLOW_OPENERS,
    MAX_PIXELS,
    _check_pixels,
    _sniff,
    _tiff_pixels,
    decode_error,
    read_image,
)
from allfocus.io._stack import (
    _check_sizes,
    _common_channels,
    _common_dtype,
    _convert,
    too_few_frames,
)

_END = object()


@dataclass(frozen=True)
class _Spec:
    """What a frame's header says: enough to check a stack before decoding it."""

    path: Path
    page: int | None  # page of a TIFF, None for other files
    name: str
    shape: tuple[int, ...]  # (M, N) or (M, N, C), upright
    dtype: np.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)


class FrameStream(Iterator[NDArray]):
    """The frames of a focus stack, decoded one at a time.

    Made by :func:`iter_frames`; iterate over it once. The attributes
    describe the stack as :class:`~allfocus.io.StackData` does, from the
    file headers, before any pixel is decoded; ``icc`` and ``exif`` are
    filled in when the reference frame has been read.

    Attributes
    ----------
    paths : list of pathlib.Path
        Source file of each frame.
    names : list of str
        Display name of each frame (``"stack.tif[3]"`` for a TIFF page).
    shape : tuple of int
        Shape of every frame, ``(M, N)`` or ``(M, N, C)``.
    dtype : numpy.dtype
        The common native dtype the frames are converted to.
    channel_axis : int or None
        ``-1`` for colour, ``None`` for grey.
    reference : int
        Index of the reference (middle) frame, ``len(self) // 2``.
    icc, exif : bytes or None
        Metadata of the reference frame, ``None`` until it has been read (or
        when it has none).
    """

    def __init__(self, specs: list[_Spec], *, prefetch: int, max_pixels: int) -> None:
        self._specs = specs
        self._prefetch = prefetch
        self._max_pixels = max_pixels
        self.paths = [s.path for s in specs]
        self.names = [s.name for s in specs]
        self.dtype = _common_dtype(specs)  # type: ignore[arg-type]
        channels = _common_channels(specs)  # type: ignore[arg-type]
        self._channels = channels
        self.shape = specs[0].shape[:2] + ((channels,) if channels else ())
        self.channel_axis: int | None = -1 if channels else None
        self.reference = len(specs) // 2
        self.icc: bytes | None = None
        self.exif: bytes | None = None
        self._next = 0
        self._queue: queue.Queue[Any] = queue.Queue()
        self._free = threading.Semaphore(prefetch)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._done = False

    def __len__(self) -> int:
        return len(self._specs)

    def __iter__(self) -> FrameStream:
        return self

    def __enter__(self) -> FrameStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __next__(self) -> NDArray:
        if self._done:
            raise StopIteration
        if self._prefetch == 0:
            if self._next >= len(self._specs):
                self._done = True
                raise StopIteration
            index = self._next
            self._next += 1
            try:
                return self._decode(index)
            except BaseException:
                self._done = True
                raise
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._read_ahead, name="allfocus-read", daemon=True
            )
            self._thread.start()
        item = self._queue.get()
        if item is _END:
            self.close()
            raise StopIteration
        if isinstance(item, BaseException):
            self.close()
            raise item
        self._free.release()  # the reader may decode the next frame meanwhile
        return item

    def close(self) -> None:
        """Stop reading ahead and release the reader thread (idempotent)."""
        self._done = True
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            self._free.release()  # wake the reader if it waits for room
            thread.join()
        while not self._queue.empty():  # let go of frames read ahead
            self._queue.get_nowait()

    def read(self, index: int) -> NDArray:
        """Decode frame ``index`` now, in this thread, as iteration would give it.

        For what must be known before the frames are folded in one by one
        (the reference frame of exposure matching). Iteration is unaffected.
        """
        if not 0 <= index < len(self._specs):
            raise IndexError(f"frame {index} of a stack of {len(self._specs)}")
        return self._decode(index)

    def _read_ahead(self) -> None:
        try:
            for index in range(len(self._specs)):
                self._free.acquire()
                if self._stop.is_set():
                    return
                self._queue.put(self._decode(index))
            self._queue.put(_END)
        except BaseException as exc:  # handed to the consumer, raised there
            self._queue.put(exc)

    def _decode(self, index: int) -> NDArray:
        spec = self._specs[index]
        if spec.page is None:
            fast = _read_jpeg_fast(spec.path, max_pixels=self._max_pixels)
            if fast is None:
                data = read_image(spec.path, max_pixels=self._max_pixels)
                fast = data.array, data.icc, data.exif
            array, icc, exif = fast
        else:
            array, icc = _read_tiff_page(spec.path, spec.page, max_pixels=self._max_pixels)
            exif = None
            if index == self.reference:
                from allfocus.io._metadata import tiff_exif

                exif = tiff_exif(spec.path)
        if array.shape != spec.shape or array.dtype != spec.dtype:
            raise ReadError(
                f"{spec.name}: its header describes {spec.shape} {spec.dtype} pixels but it "
                f"decodes to {array.shape} {array.dtype}; convert the file (for example to "
                "8- or 16-bit RGB) and try again"
            )
        if index == self.reference:
            self.icc = icc if icc_fits(icc, color=self._channels > 0) else None
            self.exif = exif
        return _convert(array, self.dtype, self._channels)


def iter_frames(
    inputs: Sequence[str | os.PathLike] | str | os.PathLike,
    *,
    prefetch: int = 1,
    min_frames: int = 2,
    max_pixels: int = MAX_PIXELS,
) -> FrameStream:
    """Read a focus stack lazily: frames are decoded one at a time, ahead on a thread.

    The stack is checked as :func:`read_stack` checks it (frame count, sizes,
    grey/colour, RGB/RGBA and bit-depth mixing, with the same warnings and
    errors) from the file headers before any pixel is decoded; then frames
    are decoded in stack order, each converted to the common dtype and
    channels, while the caller works on the previous one.

    Parameters
    ----------
    inputs : sequence of str or path-like
        As :func:`find_frames`. Every page of a multi-page TIFF is a frame.
    prefetch : int
        Frames decoded ahead on a background thread; 0 decodes in the
        caller's thread. At most ``prefetch + 1`` frames are in memory at
        once (the one the caller holds and those decoded ahead).
    min_frames : int
        Fewest frames accepted.
    max_pixels : int
        Largest accepted width x height of each frame.

    Returns
    -------
    FrameStream
        An iterator of ``(M, N[, C])`` arrays in the stack's common native
        dtype (``uint8``, ``uint16`` or ``float32``), channels last; its
        attributes give names, shape, dtype, ``channel_axis`` and, once read,
        the reference frame's ``icc`` and ``exif``. Use it as a context
        manager (or call ``close``) to stop the reader thread early.

    Raises
    ------
    ReadError
        If a file is missing, not an image, or cannot be decoded (raised by
        the iteration when that frame is reached).
    InputError
        If inputs hold no images, frames differ in size, there are fewer
        than ``min_frames``, a frame exceeds ``max_pixels``, or ``prefetch``
        is negative.

    Warns
    -----
    UserWarning
        As :func:`read_stack` for mixed grey/colour, RGB/RGBA or bit depths.

    See Also
    --------
    read_stack : the whole stack in one array.
    allfocus.fusion.streaming.fuse_streaming : fuses such an iterator.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from allfocus.io import iter_frames, write_image
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for i in range(3):
    ...     _ = write_image(folder / f"f{i}.png", np.full((4, 6, 3), i, dtype=np.uint8))
    >>> with iter_frames(folder) as frames:
    ...     print(len(frames), frames.shape, frames.channel_axis)
    ...     print([int(f[0, 0, 0]) for f in frames])
    3 (4, 6, 3) -1
    [0, 1, 2]
    """
    if isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 0:
        raise InputError(f"prefetch must be an integer >= 0; got {prefetch!r}")
    specs: list[_Spec] = []
    for path in find_frames(inputs):
        specs.extend(_probe(path, max_pixels=max_pixels))
    if len(specs) < min_frames:
        raise too_few_frames(min_frames, [s.name for s in specs], [s.path for s in specs])
    _check_sizes(specs, [s.name for s in specs])  # type: ignore[arg-type]
    return FrameStream(specs, prefetch=prefetch, max_pixels=max_pixels)


# ------------------------------------------------------------------- headers


def _probe(path: Path, *, max_pixels: int) -> list[_Spec]:
    """Frame shapes and dtypes of one file, from its header (as :func:`read_frames` reads it)."""
    kind, header = _sniff(path)
    try:
        if kind == "tiff":
            return _probe_tiff(path, max_pixels=max_pixels)
        return [_probe_pillow(path, kind, header, max_pixels=max_pixels)]
    except AllfocusError:
        raise
    except Exception as exc:
        raise ReadError(
            f"{os.fspath(path)!r}: cannot read this {kind.upper()} file's header "
            f"({type(exc).__name__}: {exc}); it is truncated or damaged, export or copy it again"
        ) from exc


def _upright(height: int, width: int, orientation: int) -> tuple[int, int]:
    return (width, height) if orientation in (5, 6, 7, 8) else (height, width)


def _probe_pillow(path: Path, kind: str, header: bytes, *, max_pixels: int) -> _Spec:
    with _PILLOW_OPENERS[kind](path) as im:
        _check_pixels(path, im.height, im.width, max_pixels)
        rows, cols = _upright(im.height, im.width, exif_orientation(im.getexif()))
        dtype, channels = _pillow_layout(im, kind, header)
    shape = (rows, cols, channels) if channels else (rows, cols)
    return _Spec(path, None, path.name, shape, np.dtype(dtype))


def _pillow_layout(im: Image.Image, kind: str, header: bytes) -> tuple[type, int]:
    """(dtype, channels) that :func:`allfocus.io.read_image` gives for this Pillow image."""
    if kind == "png" and header[24] == 16 and header[25] in (2, 4, 6):
        return np.uint16, 3 if header[25] == 2 else 4
    mode = im.mode
    if mode in ("L", "1"):
        return np.uint8, 0
    if mode.startswith("I"):
        return np.uint16, 0
    if mode == "RGBA" or mode in ("LA", "La", "PA", "RGBa"):
        return np.uint8, 4
    if mode == "P" and "transparency" in im.info:
        return np.uint8, 4
    return np.uint8, 3


def _probe_tiff(path: Path, *, max_pixels: int) -> list[_Spec]:
    specs = []
    with tifffile.TiffFile(path) as tif:
        for index, page in enumerate(tif.pages):
            if page.is_reduced:
                continue
            _check_pixels(path, page.imagelength, page.imagewidth, max_pixels)
            tag = page.tags.get(ORIENTATION)
            rows, cols = _upright(
                page.imagelength, page.imagewidth, int(tag.value) if tag is not None else 1
            )
            dtype = np.dtype(page.dtype)
            if dtype.kind == "b":
                dtype = np.dtype(np.uint8)
            elif dtype.kind == "f":
                dtype = np.dtype(np.float32)
            samples = page.samplesperpixel
            if page.photometric == tifffile.PHOTOMETRIC.PALETTE and samples == 1:
                colormap = np.asarray(page.colormap)
                dtype = np.dtype(np.uint8 if (colormap % 257 == 0).all() else colormap.dtype)
                channels = 3
            else:
                channels = {1: 0, 2: 4}.get(samples, samples)
            shape = (rows, cols, channels) if channels else (rows, cols)
            specs.append(_Spec(path, index, path.name, shape, dtype))
        if not specs:
            raise ReadError(f"{os.fspath(path)!r} holds no full-resolution image page")
    if len(specs) > 1:
        specs = [
            _Spec(s.path, s.page, f"{path.name}[{i}]", s.shape, s.dtype)
            for i, s in enumerate(specs)
        ]
    return specs


def _read_jpeg_fast(
    path: Path, *, max_pixels: int
) -> tuple[NDArray, bytes | None, bytes | None] | None:
    """A grey or RGB JPEG decoded by OpenCV straight into an array, as read_image returns it.

    Pillow's decoder hands its pixels over through ``tobytes`` (two extra
    copies of the frame); OpenCV's libjpeg-turbo decodes into the array
    itself, in about half the time for large frames, with the same pixels.
    The header (size, ICC profile, EXIF, orientation) is still read by
    Pillow. Returns ``None`` for anything else (not a JPEG, CMYK ...), which
    :func:`read_image` then reads.
    """
    import cv2

    try:
        with open(path, "rb") as fp:
            if not fp.read(3).startswith(b"\xff\xd8\xff"):
                return None
        with JpegImageFile(path) as im:
            _check_pixels(path, im.height, im.width, max_pixels)
            if im.mode not in ("L", "RGB"):
                return None
            color = im.mode == "RGB"
            icc = im.info.get("icc_profile") or None
            exif = im.getexif()
            orientation = exif_orientation(exif)
            exif_bytes = exif_to_bytes(exif)
    except AllfocusError:
        raise
    except Exception:  # let read_image report it
        return None
    data = np.fromfile(path, dtype=np.uint8)
    tail = data[-64:].tobytes()
    if b"\xff\xd9" not in tail:  # no end-of-image marker: truncated, let read_image say so
        return None
    # OpenCV 4.10+ decodes straight to RGB (libjpeg-turbo's RGB output, no swap pass)
    rgb = getattr(cv2, "IMREAD_COLOR_RGB", None)
    mode = (cv2.IMREAD_COLOR if rgb is None else rgb) if color else cv2.IMREAD_GRAYSCALE
    array = cv2.imdecode(data, mode | cv2.IMREAD_IGNORE_ORIENTATION)
    if array is None:
        return None
    if color and rgb is None:
        cv2.cvtColor(array, cv2.COLOR_BGR2RGB, dst=array)
    return np.ascontiguousarray(apply_orientation(array, orientation)), icc, exif_bytes


def _read_tiff_page(path: Path, page: int, *, max_pixels: int) -> tuple[NDArray, bytes | None]:
    """Pixels and ICC profile of one page of a TIFF (as :func:`read_frames` reads it)."""
    try:
        with tifffile.TiffFile(path) as tif:
            item = tif.pages[page]
            _check_pixels(path, item.imagelength, item.imagewidth, max_pixels)
            array = _tiff_pixels(path, item)
            tag = item.tags.get(ORIENTATION)
            array = apply_orientation(array, int(tag.value) if tag is not None else 1)
            icc_tag = item.tags.get(_ICC_TAG)
            icc = bytes(icc_tag.value) if icc_tag is not None and icc_tag.value else None
    except AllfocusError:
        raise
    except MemoryError:
        raise
    except Exception as exc:
        raise decode_error(path, f"page {page} of this TIFF file", exc) from exc
    return np.ascontiguousarray(array), icc


__all__ = ["FrameStream", "iter_frames"]
