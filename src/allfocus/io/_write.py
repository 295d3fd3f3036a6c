"""Write an image atomically, keeping bit depth, ICC profile and EXIF."""

from __future__ import annotations

import contextlib
import os
import secrets
import struct
import warnings
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

import numpy as np
import tifffile
from numpy.typing import DTypeLike, NDArray
from PIL import Image

from allfocus._core.errors import AllfocusError, InputError, WriteError
from allfocus._core.validate import to_dtype
from allfocus.io._metadata import (
    EXIF_HEADER,
    TIFF_ASCII_TAGS,
    exif_for_output,
    icc_fits,
    load_exif,
)

OUTPUT_FORMATS: dict[str, str] = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
_JPEG_MAX_EXIF = 65533  # bytes in one APP1 segment


def _output_format(path: Path) -> str:
    try:
        return OUTPUT_FORMATS[path.suffix.lower()]
    except KeyError:
        choices = ", ".join(OUTPUT_FORMATS)
        raise InputError(
            f"cannot write {os.fspath(path)!r}: unsupported extension {path.suffix or '(none)'!r}; "
            f"choose one of {choices}"
        ) from None


def output_dtype(input_dtype: DTypeLike, path: str | os.PathLike) -> np.dtype:
    """The dtype an output file at ``path`` gets for input frames of ``input_dtype``.

    Parameters
    ----------
    input_dtype : dtype
        Native dtype of the input stack.
    path : str or path-like
        Output file; its extension picks the format.

    Returns
    -------
    numpy.dtype
        ``uint8`` for JPEG (always 8 bit); otherwise ``uint8`` or ``uint16``
        following the input's bit depth, and for floating input ``float32``
        in TIFF or ``uint16`` in PNG.

    Raises
    ------
    InputError
        If the extension is not a supported output format.

    Examples
    --------
    >>> import numpy as np
    >>> output_dtype(np.uint16, "out.tif"), output_dtype(np.uint16, "out.jpg")
    (dtype('uint16'), dtype('uint8'))
    >>> output_dtype(np.float32, "out.png")
    dtype('uint16')
    """
    fmt = _output_format(Path(path))
    dtype = np.dtype(input_dtype)
    if fmt == "JPEG":
        return np.dtype(np.uint8)
    if dtype.kind == "f":
        return np.dtype(np.float32 if fmt == "TIFF" else np.uint16)
    if dtype.kind in "ui" and dtype.itemsize > 1:
        return np.dtype(np.uint16)
    return np.dtype(np.uint8)


def write_image(
    path: str | os.PathLike,
    image: NDArray,
    *,
    dtype: DTypeLike | None = None,
    icc: bytes | None = None,
    exif: bytes | None = None,
    overwrite: bool = False,
    inputs: Sequence[str | os.PathLike] = (),
    quality: int = 95,
) -> Path:
    """Write an image as JPEG, PNG or TIFF, atomically.

    Parameters
    ----------
    path : str or path-like
        Output file; the extension (``.jpg``, ``.jpeg``, ``.png``, ``.tif``,
        ``.tiff``, any case) picks the format.
    image : (M, N) or (M, N, C) ndarray
        Grey, RGB or RGBA (``C`` = 3 or 4, channels last). Floating-point
        values in [0, 1], or an integer array written as it is.
    dtype : dtype, optional
        Bit depth to write (see :func:`output_dtype`, which it passes
        through, so JPEG is always 8 bit and PNG never float). Default: the
        image's own dtype for integer images, ``uint8`` for float ones.
    icc : bytes, optional
        ICC profile to embed (dropped with a warning if it is a grey profile
        for a colour image or the reverse).
    exif : bytes, optional
        EXIF block (as :attr:`ImageData.exif`); its orientation is set to 1
        and its pixel dimensions updated to the image.
    overwrite : bool
        Replace an existing output file.
    inputs : sequence of path-like
        Input files that must never be overwritten, whatever ``overwrite``.
    quality : int
        JPEG quality, 1 to 100 (chroma is not subsampled).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    InputError
        If the extension is not supported, ``path`` is one of ``inputs``
        (compared after resolving links), ``path`` exists and ``overwrite``
        is false, or ``image``, ``dtype`` or ``quality`` is invalid.
    WriteError
        If the output folder does not exist or is not writable, or writing
        fails (disk full ...).

    Warns
    -----
    UserWarning
        When an alpha channel is dropped for JPEG, an ICC profile does not
        fit the image, or EXIF is too large for a JPEG.

    Notes
    -----
    The file is written to a hidden temporary file in the same folder which
    then replaces ``path`` in one step (:func:`os.replace`), so readers never
    see a partial image; the temporary file is removed if anything fails,
    including ``KeyboardInterrupt``. 16-bit colour PNGs are encoded by
    OpenCV, with ICC and EXIF chunks added. TIFFs are written uncompressed by
    tifffile with the ICC profile, but of the EXIF block only the camera
    make and model, date, artist and copyright are kept (tifffile cannot
    write an EXIF sub-IFD).

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "fused.tif"
    >>> write_image(out, np.full((4, 6, 3), 0.5), dtype=np.uint16).name
    'fused.tif'
    """
    path = check_output_path(path, inputs=inputs, overwrite=overwrite)
    name = os.fspath(path)
    fmt = _output_format(path)
    if not 1 <= int(quality) <= 100:
        raise InputError(f"quality must be between 1 and 100; got {quality}")

    array = _check_image(np.asarray(image))
    if dtype is None:
        dtype = array.dtype if array.dtype.kind in "ui" else np.uint8
    array = to_dtype(array, output_dtype(dtype, path))
    color = array.ndim == 3
    if fmt == "JPEG" and color and array.shape[2] == 4:
        warnings.warn(
            f"JPEG has no alpha channel; the alpha channel is dropped in {name!r} "
            "(write PNG or TIFF to keep it)",
            UserWarning,
            stacklevel=2,
        )
        array = array[..., :3]
    if icc is not None and not icc_fits(icc, color=color):
        warnings.warn(
            f"the ICC profile is for {'grey' if color else 'colour'} images but the image "
            f"written to {name!r} is {'colour' if color else 'grey'}; the profile is dropped",
            UserWarning,
            stacklevel=2,
        )
        icc = None
    exif = exif_for_output(exif, array.shape)
    if fmt == "JPEG" and exif is not None and len(exif) > _JPEG_MAX_EXIF:
        warnings.warn(
            f"the EXIF block ({len(exif):,} bytes) is too large for JPEG; it is not written "
            f"to {name!r}",
            UserWarning,
            stacklevel=2,
        )
        exif = None

    def encode(fp: IO[bytes]) -> None:
        _ENCODERS[fmt](fp, np.ascontiguousarray(array), icc or None, exif, int(quality))

    _atomic_write(path, encode)
    return path


def check_output_path(
    path: str | os.PathLike,
    *,
    inputs: Sequence[str | os.PathLike] = (),
    overwrite: bool = False,
) -> Path:
    """Check that an image may be written at ``path``, before any work is done.

    :func:`write_image` runs the same checks; call this first to fail fast.

    Parameters
    ----------
    path : str or path-like
        Intended output file.
    inputs : sequence of path-like
        Input files that must never be overwritten, whatever ``overwrite``.
    overwrite : bool
        Whether an existing file may be replaced.

    Returns
    -------
    pathlib.Path
        ``path`` as a :class:`~pathlib.Path`.

    Raises
    ------
    InputError
        If the extension is not a supported output format, ``path`` is one
        of ``inputs`` (compared after resolving links), or ``path`` exists and
        ``overwrite`` is false.
    WriteError
        If the output folder does not exist, or ``path`` is a folder.
    """
    path = Path(path)
    name = os.fspath(path)
    _output_format(path)
    folder = path.parent
    if not folder.is_dir():
        raise WriteError(
            f"cannot write {name!r}: folder {os.fspath(folder)!r} does not exist; create it first"
        )
    _check_not_input(path, inputs)
    if path.is_dir():
        raise WriteError(f"cannot write {name!r}: it is a folder; choose a file name")
    if path.exists() and not overwrite:
        raise InputError(f"output {name!r} exists; pass --overwrite to replace it")
    return path


def _check_image(array: NDArray) -> NDArray:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise InputError(
            f"image must be (M, N) grey or (M, N, C) with C = 3 (RGB) or 4 (RGBA), channels "
            f"last; got shape {array.shape}"
        )
    if array.dtype.kind not in "uifb":
        raise InputError(f"image has dtype {array.dtype}; expected integer or floating values")
    return array


def _check_not_input(path: Path, inputs: Sequence[str | os.PathLike]) -> None:
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    target = path.resolve()
    exists = path.exists()
    for item in inputs:
        source = Path(item)
        same = source.resolve() == target
        if not same and exists and source.exists():
            same = os.path.samefile(source, path)
        if same:
            raise InputError(
                f"output {os.fspath(path)!r} is one of the input frames; choose another name"
            )


def _atomic_write(path: Path, encode: Callable[[IO[bytes]], None]) -> None:
    """Run ``encode`` on a temporary file next to ``path``, then move it into place."""
    folder = path.parent
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temp = folder / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            os.close(os.open(temp, flags, 0o666))  # claim the name; mode follows umask
            break
        except FileExistsError:
            continue
        except OSError as exc:
            raise WriteError(
                f"cannot write {os.fspath(path)!r}: cannot create a file in folder "
                f"{os.fspath(folder)!r} ({exc.strerror or exc}); check that it is writable "
                "or choose another folder"
            ) from exc
    try:
        with open(temp, "wb") as fp:
            encode(fp)
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(temp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError) and not isinstance(exc, AllfocusError):
            raise WriteError(
                f"cannot write {os.fspath(path)!r}: {exc.strerror or exc}; check the free "
                "space and permissions of the folder"
            ) from exc
        raise


# ------------------------------------------------------------------- encoders


def _encode_jpeg(
    fp: IO[bytes], array: NDArray, icc: bytes | None, exif: bytes | None, quality: int
) -> None:
    options = _pillow_metadata(icc, exif)
    Image.fromarray(array).save(fp, format="JPEG", quality=quality, subsampling=0, **options)


def _encode_png(
    fp: IO[bytes], array: NDArray, icc: bytes | None, exif: bytes | None, quality: int
) -> None:
    if array.dtype == np.uint16 and array.ndim == 3:
        fp.write(_png16_color(array, icc, exif))
    else:
        Image.fromarray(array).save(fp, format="PNG", **_pillow_metadata(icc, exif))


def _encode_tiff(
    fp: IO[bytes], array: NDArray, icc: bytes | None, exif: bytes | None, quality: int
) -> None:
    color = array.ndim == 3
    tifffile.imwrite(
        fp,
        array,
        photometric="rgb" if color else "minisblack",
        extrasamples=("unassalpha",) if color and array.shape[2] == 4 else None,
        iccprofile=icc,
        metadata=None,
        software="allfocus",
        extratags=_tiff_tags(exif),
    )


_ENCODERS: dict[str, Callable[[IO[bytes], NDArray, bytes | None, bytes | None, int], None]] = {
    "JPEG": _encode_jpeg,
    "PNG": _encode_png,
    "TIFF": _encode_tiff,
}


def _pillow_metadata(icc: bytes | None, exif: bytes | None) -> dict[str, bytes]:
    options = {}
    if icc:
        options["icc_profile"] = icc
    if exif:
        options["exif"] = exif
    return options


def _png16_color(array: NDArray, icc: bytes | None, exif: bytes | None) -> bytes:
    """16-bit RGB(A) PNG bytes (Pillow cannot write these; OpenCV can, in BGR order)."""
    import cv2

    code = cv2.COLOR_RGB2BGR if array.shape[2] == 3 else cv2.COLOR_RGBA2BGRA
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(array, code))
    if not ok:
        raise WriteError("OpenCV could not encode the 16-bit PNG")
    data = encoded.tobytes()
    chunks = b""
    if icc:
        chunks += _png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc))
    if exif:
        raw = exif[len(EXIF_HEADER) :] if exif.startswith(EXIF_HEADER) else exif
        chunks += _png_chunk(b"eXIf", raw)
    end_of_header = 8 + 25  # signature, then IHDR: length, type, 13 data bytes, CRC
    return data[:end_of_header] + chunks + data[end_of_header:]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _tiff_tags(exif: bytes | None) -> list[tuple[int, str, int, str, bool]]:
    """First-IFD ASCII tags (make, model, date, artist, copyright) from an EXIF block."""
    if not exif:
        return []
    try:
        parsed = load_exif(exif)
    except Exception:  # unreadable EXIF: write the image without these tags
        return []
    tags = []
    for code in TIFF_ASCII_TAGS:
        value = parsed.get(code)
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if isinstance(value, str) and value.strip("\x00 "):
            text = value.strip("\x00").encode("ascii", "replace").decode("ascii")
            tags.append((code, "s", 0, text, True))
    return tags
