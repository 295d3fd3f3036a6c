"""Read one image file (JPEG, PNG, TIFF, BMP) into an upright array plus its metadata."""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from numpy.typing import NDArray
from PIL import Image, ImageCms, ImageFile
from PIL.BmpImagePlugin import BmpImageFile
from PIL.JpegImagePlugin import JpegImageFile
from PIL.PngImagePlugin import PngImageFile

from allfocus._core.errors import AllfocusError, InputError, ReadError
from allfocus.io._metadata import (
    ORIENTATION,
    apply_orientation,
    exif_orientation,
    exif_to_bytes,
    icc_color_space,
    tiff_exif,
)

logger = logging.getLogger(__name__)

MAX_PIXELS = 500_000_000
"""Default pixel limit per frame (the decompression-bomb guard)."""

_ICC_TAG = 34675  # TIFF InterColorProfile
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_JPEG_SIGNATURE = b"\xff\xd8\xff"
_BMP_SIGNATURE = b"BM"

# Pillow plugin class of each format read by Pillow. They are used directly
# (not through ``Image.open``) so that Pillow's own, lower pixel limit does not
# pre-empt ``max_pixels``, which is checked from the header before decoding.
_PILLOW_OPENERS: dict[str, type[ImageFile.ImageFile]] = {
    "jpeg": JpegImageFile,
    "png": PngImageFile,
    "bmp": BmpImageFile,
}


@dataclass
class ImageData:
    """One decoded frame with the metadata an output should carry.

    Attributes
    ----------
    array : (M, N) or (M, N, C) ndarray
        Upright pixels (EXIF orientation applied) in their native dtype:
        ``uint8``, ``uint16`` or ``float32``. Colour is channels-last in RGB
        order, ``C`` is 3 (RGB) or 4 (RGBA).
    path : pathlib.Path
        The file the frame came from.
    icc : bytes or None
        The embedded ICC profile.
    exif : bytes or None
        The EXIF block as :meth:`PIL.Image.Exif.tobytes` writes it (with the
        ``Exif\\0\\0`` header), orientation reset to 1 since ``array`` is
        already upright; ``None`` when the file has none.
    """

    array: NDArray
    path: Path
    icc: bytes | None = None
    exif: bytes | None = None


def read_image(path: str | os.PathLike, *, max_pixels: int = MAX_PIXELS) -> ImageData:
    """Read a JPEG, PNG, TIFF or BMP file (the first page of a multi-page TIFF).

    Parameters
    ----------
    path : str or path-like
        The file. Its content, not its extension, decides the format.
    max_pixels : int
        Largest accepted width x height. The size is checked from the header
        before any pixel is decoded, which guards against decompression bombs.

    Returns
    -------
    ImageData
        Upright pixels in their native dtype plus the ICC profile and EXIF.

    Raises
    ------
    ReadError
        If the file is missing, empty, not a JPEG/PNG/TIFF/BMP, truncated or
        damaged, or stores pixels of an unsupported kind.
    InputError
        If the image has more than ``max_pixels`` pixels, or a floating-point
        TIFF holds NaN or infinite values.

    See Also
    --------
    read_frames : every page of a multi-page TIFF.

    Notes
    -----
    8- and 16-bit grey, grey + alpha, RGB, RGBA and palette images are read;
    grey + alpha and palette images become RGB(A). 16-bit colour PNGs are
    decoded by OpenCV (Pillow keeps only 8 bits of them). A CMYK JPEG is
    converted to sRGB through its embedded profile (naively without one) and
    then carries an sRGB profile. Float TIFFs are returned as float32 without
    rescaling. For TIFF files the EXIF block is rebuilt from the descriptive
    tags of the first page (camera, date, author, EXIF and GPS sub-IFDs).
    BMP files (decoded by Pillow: 1-, 4-, 8-bit grey or palette, 16/24-bit
    RGB, 32-bit RGB or RGBA) carry no EXIF, so they are taken as upright.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from allfocus.io import read_image, write_image
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = write_image(folder / "a.png", np.zeros((4, 6), dtype=np.uint16))
    >>> data = read_image(folder / "a.png")
    >>> data.array.shape, data.array.dtype
    ((4, 6), dtype('uint16'))
    """
    return _read(Path(path), max_pixels=max_pixels, all_pages=False)[0]


def read_frames(path: str | os.PathLike, *, max_pixels: int = MAX_PIXELS) -> list[ImageData]:
    """Read every page of a multi-page TIFF; any other file gives one frame.

    Parameters
    ----------
    path : str or path-like
        The file.
    max_pixels : int
        Largest accepted width x height of each page.

    Returns
    -------
    list of ImageData
        One item per page, in file order. Reduced-resolution pages
        (thumbnails, pyramid levels) are skipped.

    Raises
    ------
    ReadError, InputError
        As :func:`read_image`.
    """
    return _read(Path(path), max_pixels=max_pixels, all_pages=True)


def _read(path: Path, *, max_pixels: int, all_pages: bool) -> list[ImageData]:
    kind, header = _sniff(path)
    try:
        if kind == "tiff":
            return _read_tiff(path, max_pixels=max_pixels, all_pages=all_pages)
        return [_read_pillow(path, kind, header, max_pixels=max_pixels)]
    except AllfocusError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # every decoder failure becomes one clear message
        raise decode_error(path, f"this {kind.upper()} file", exc) from exc


def decode_error(path: Path, what: str, exc: Exception) -> ReadError:
    """The message for a file a decoder gave up on: a missing codec, or damage."""
    text = f"{os.fspath(path)!r}: cannot decode {what} ({type(exc).__name__}: {exc}); "
    if "imagecodecs" in str(exc):  # tifffile names the package a compression needs
        return ReadError(
            text + "its compression needs the imagecodecs package: pip install imagecodecs"
        )
    return ReadError(text + "it is truncated or damaged, export or copy it again")


def image_format(header: bytes) -> str | None:
    """``"jpeg"``, ``"png"``, ``"tiff"`` or ``"bmp"``: the format whose signature
    starts ``header`` (a file's first bytes), or ``None``."""
    if header.startswith(_JPEG_SIGNATURE):
        return "jpeg"
    if header.startswith(_PNG_SIGNATURE):
        return "png"
    if header[:4] in _TIFF_SIGNATURES:
        return "tiff"
    if header.startswith(_BMP_SIGNATURE):
        return "bmp"
    return None


def _sniff(path: Path) -> tuple[str, bytes]:
    """Identify the format from the first bytes; return (kind, header)."""
    name = os.fspath(path)
    if path.is_dir():
        raise ReadError(f"{name!r} is a folder, not an image file")
    try:
        with open(path, "rb") as fp:
            header = fp.read(32)
    except FileNotFoundError:
        raise ReadError(f"{name!r}: no such file; check the path") from None
    except OSError as exc:
        raise ReadError(f"{name!r}: cannot open the file ({exc.strerror or exc})") from exc
    if not header:
        raise ReadError(f"{name!r} is empty (0 bytes); export or copy it again")
    kind = image_format(header)
    if kind == "png" and len(header) < 26:
        raise ReadError(f"{name!r} is a truncated PNG file; export or copy it again")
    if kind is not None:
        return kind, header
    raise ReadError(
        f"{name!r} is not a JPEG, PNG, TIFF or BMP image (unrecognised content); "
        "convert it to one of these formats"
    )


def _check_pixels(path: Path, height: int, width: int, max_pixels: int) -> None:
    pixels = int(height) * int(width)
    if pixels > max_pixels:
        raise InputError(
            f"{os.fspath(path)!r} is {width}x{height} = {pixels:,} pixels, more than "
            f"max_pixels={max_pixels:,} (a guard against decompression bombs); "
            "raise max_pixels if you trust this file"
        )


# ---------------------------------------------------------------- JPEG, PNG, BMP


def _read_pillow(path: Path, kind: str, header: bytes, *, max_pixels: int) -> ImageData:
    with _PILLOW_OPENERS[kind](path) as im:
        _check_pixels(path, im.height, im.width, max_pixels)
        icc = im.info.get("icc_profile") or None
        exif = im.getexif()
        orientation = exif_orientation(exif)
        exif_bytes = exif_to_bytes(exif)
        if kind == "png" and header[24] == 16 and header[25] in (2, 4, 6):
            array = _decode_png16(path)
        else:
            array, icc = _pillow_pixels(im, icc)
    array = apply_orientation(array, orientation)
    return ImageData(np.ascontiguousarray(array), path, icc, exif_bytes)


def _pillow_pixels(im: Image.Image, icc: bytes | None) -> tuple[NDArray, bytes | None]:
    """Pixels of an opened Pillow image as uint8 / uint16, grey, RGB or RGBA."""
    mode = im.mode
    if mode in ("L", "RGB", "RGBA"):
        return np.asarray(im), icc
    if mode.startswith("I;16"):
        return np.asarray(im).astype(np.uint16), icc
    if mode == "I":
        array = np.asarray(im)
        if array.size and (array.min() < 0 or array.max() > 65535):
            raise ReadError(f"{im.filename!r} holds 32-bit integer pixels; save it as 8/16 bit")
        return array.astype(np.uint16), icc
    if mode == "1":
        return np.asarray(im.convert("L")), icc
    if mode == "CMYK":
        return _cmyk_to_rgb(im, icc)
    if mode in ("LA", "La", "PA", "RGBa") or (mode == "P" and "transparency" in im.info):
        return np.asarray(im.convert("RGBA")), icc
    return np.asarray(im.convert("RGB")), icc


def _cmyk_to_rgb(im: Image.Image, icc: bytes | None) -> tuple[NDArray, bytes | None]:
    srgb = ImageCms.createProfile("sRGB")
    if icc_color_space(icc) == b"CMYK":
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            rgb = ImageCms.profileToProfile(im, source, srgb, outputMode="RGB")
            if rgb is not None:
                return np.asarray(rgb), ImageCms.ImageCmsProfile(srgb).tobytes()
        except ImageCms.PyCMSError as exc:
            logger.debug("CMYK profile of %s unusable (%s); converting naively", im.filename, exc)
    return np.asarray(im.convert("RGB")), None


def _decode_png16(path: Path) -> NDArray:
    """Decode a 16-bit colour PNG with OpenCV, returning RGB(A) channel order."""
    import cv2

    data = np.fromfile(path, dtype=np.uint8)
    array = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if array is None:
        raise ReadError(
            f"{os.fspath(path)!r}: cannot decode this 16-bit PNG file; "
            "it is truncated or damaged, export or copy it again"
        )
    if array.ndim == 3 and array.shape[2] == 3:
        return cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
    if array.ndim == 3 and array.shape[2] == 4:
        return cv2.cvtColor(array, cv2.COLOR_BGRA2RGBA)
    return _grey_alpha_to_rgba(array) if array.ndim == 3 else array


# ------------------------------------------------------------------------- TIFF


def _read_tiff(path: Path, *, max_pixels: int, all_pages: bool) -> list[ImageData]:
    exif = tiff_exif(path)
    frames = []
    with tifffile.TiffFile(path) as tif:
        pages = tif.pages if all_pages else [tif.pages.first]
        for page in pages:
            if all_pages and page.is_reduced:
                continue
            _check_pixels(path, page.imagelength, page.imagewidth, max_pixels)
            array = _tiff_pixels(path, page)
            tag = page.tags.get(ORIENTATION)
            array = apply_orientation(array, int(tag.value) if tag is not None else 1)
            icc_tag = page.tags.get(_ICC_TAG)
            icc = bytes(icc_tag.value) if icc_tag is not None and icc_tag.value else None
            frames.append(ImageData(np.ascontiguousarray(array), path, icc, exif))
    if not frames:
        raise ReadError(f"{os.fspath(path)!r} holds no full-resolution image page")
    return frames


def _tiff_pixels(path: Path, page: tifffile.TiffPage) -> NDArray:
    name = os.fspath(path)
    photometric = page.photometric
    known = (
        tifffile.PHOTOMETRIC.MINISBLACK,
        tifffile.PHOTOMETRIC.MINISWHITE,
        tifffile.PHOTOMETRIC.RGB,
        tifffile.PHOTOMETRIC.PALETTE,
    )
    if photometric not in known:
        raise ReadError(
            f"{name!r} stores {photometric.name} pixels; allfocus reads grey, RGB and "
            "palette TIFFs, convert it to RGB"
        )
    axes = page.axes
    if axes not in ("YX", "YXS", "SYX"):
        raise ReadError(f"{name!r}: unsupported TIFF page layout {axes!r} {page.shape}")
    array = page.asarray()
    if axes == "SYX":
        array = np.moveaxis(array, 0, -1)

    dtype = array.dtype
    if dtype.kind == "b":
        array = array.astype(np.uint8) * np.uint8(255)
    elif dtype.kind == "f":
        array = array.astype(np.float32, copy=False)
        bad = array.size - np.count_nonzero(np.isfinite(array))
        if bad:
            raise InputError(
                f"{name!r} contains {bad:,} NaN or infinite pixel values; replace them "
                "(for example with numpy.nan_to_num) and save the file again"
            )
    elif dtype not in (np.uint8, np.uint16):
        raise ReadError(
            f"{name!r} has {dtype} samples; allfocus reads 8- or 16-bit unsigned integer "
            "or floating-point TIFFs, convert it"
        )

    if photometric == tifffile.PHOTOMETRIC.MINISWHITE and dtype.kind == "u":
        array = np.iinfo(array.dtype).max - array
    if photometric == tifffile.PHOTOMETRIC.PALETTE and array.ndim == 2:
        colormap = np.asarray(page.colormap)
        if (colormap % 257 == 0).all():
            colormap = (colormap // 257).astype(np.uint8)
        array = colormap.T[array]

    if array.ndim == 3:
        channels = array.shape[2]
        if channels == 1:
            array = array[..., 0]
        elif channels == 2:
            array = _grey_alpha_to_rgba(array)
        elif channels not in (3, 4):
            raise ReadError(
                f"{name!r} has {channels} channels per pixel; allfocus reads grey, RGB "
                "and RGBA images"
            )
    return array


def _grey_alpha_to_rgba(array: NDArray) -> NDArray:
    grey, alpha = array[..., 0], array[..., 1]
    return np.stack([grey, grey, grey, alpha], axis=-1)
