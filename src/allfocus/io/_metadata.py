"""EXIF orientation, EXIF blocks and ICC profiles, shared by the readers and the writer.

EXIF travels as raw bytes in the form :meth:`PIL.Image.Exif.tobytes` gives
(``b"Exif\\x00\\x00"`` followed by a little TIFF structure); ICC profiles as the
raw profile bytes.
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

logger = logging.getLogger(__name__)

ORIENTATION = 0x0112  # EXIF / TIFF tag 274
EXIF_IFD = 0x8769
GPS_IFD = 0x8825
PIXEL_X_DIMENSION = 0xA002
PIXEL_Y_DIMENSION = 0xA003
EXIF_HEADER = b"Exif\x00\x00"

# IFD0 tags of a TIFF file that describe the photo rather than the pixel layout;
# only these are carried from a TIFF into the EXIF block of an output.
_TIFF_DESCRIPTIVE_TAGS = (
    0x010F,  # Make
    0x0110,  # Model
    0x0131,  # Software
    0x0132,  # DateTime
    0x013B,  # Artist
    0x8298,  # Copyright
)
# ASCII tags that a TIFF output carries in its first IFD (tifffile cannot write
# the EXIF sub-IFD, so exposure data are not written to TIFF outputs).
TIFF_ASCII_TAGS = (0x010F, 0x0110, 0x0132, 0x013B, 0x8298)


def apply_orientation(array: NDArray, orientation: int | None) -> NDArray:
    """Rotate / mirror ``array`` so that it displays upright.

    Parameters
    ----------
    array : (M, N[, C]) ndarray
        Pixels as stored in the file.
    orientation : int or None
        EXIF orientation (tag 274), 1 to 8; anything else is treated as 1.

    Returns
    -------
    ndarray
        A view of ``array`` transformed as :func:`PIL.ImageOps.exif_transpose`
        would transform the image.
    """
    if orientation == 2:
        return array[:, ::-1]
    if orientation == 3:
        return array[::-1, ::-1]
    if orientation == 4:
        return array[::-1]
    if orientation == 5:
        return np.swapaxes(array, 0, 1)
    if orientation == 6:
        return np.rot90(array, k=-1)
    if orientation == 7:
        return np.swapaxes(array, 0, 1)[::-1, ::-1]
    if orientation == 8:
        return np.rot90(array, k=1)
    return array


def exif_orientation(exif: Image.Exif) -> int:
    """Orientation stored in ``exif`` (1 when absent or invalid)."""
    try:
        value = int(exif.get(ORIENTATION, 1))
    except (TypeError, ValueError):
        return 1
    return value if 1 <= value <= 8 else 1


def exif_to_bytes(exif: Image.Exif) -> bytes | None:
    """Serialise ``exif`` with its orientation reset to 1, or ``None`` if empty.

    The pixels returned by the readers are already upright, so an orientation
    other than 1 would make viewers rotate them a second time.
    """
    if len(exif) == 0:
        return None
    if ORIENTATION in exif:
        exif[ORIENTATION] = 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return exif.tobytes()
    except Exception as exc:  # damaged EXIF must not stop reading the pixels
        logger.debug("EXIF block dropped: cannot serialise it (%s)", exc)
        return None


def tiff_exif(path: str | os.PathLike) -> bytes | None:
    """EXIF block built from the first IFD of the TIFF file at ``path``.

    Only descriptive tags (camera, date, author) and the EXIF and GPS
    sub-IFDs are kept; tags describing the TIFF's own pixel layout are not.
    Returns ``None`` when there is nothing to keep or the tags cannot be parsed.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            source = Image.Exif()
            with open(path, "rb") as fp:
                source.load_from_fp(fp)
                exif = Image.Exif()
                for tag in _TIFF_DESCRIPTIVE_TAGS:
                    if tag in source:
                        exif[tag] = source[tag]
                for tag in (EXIF_IFD, GPS_IFD):
                    if tag in source:
                        sub = source.get_ifd(tag)
                        if sub:
                            exif[tag] = dict(sub)
                return exif.tobytes() if len(exif) else None
    except Exception as exc:  # damaged tags must not stop reading the pixels
        logger.debug("EXIF of TIFF dropped: cannot parse it (%s)", exc)
        return None


def load_exif(exif: bytes) -> Image.Exif:
    """Parse raw EXIF bytes (with or without the ``Exif\\0\\0`` header)."""
    parsed = Image.Exif()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed.load(exif)
    return parsed


def exif_for_output(exif: bytes | None, shape: tuple[int, ...]) -> bytes | None:
    """Prepare EXIF for an output of ``shape``: orientation 1, pixel size updated.

    Falls back to the bytes as given (header added) if they cannot be parsed.
    """
    if not exif:
        return None
    raw = exif if exif.startswith(EXIF_HEADER) else EXIF_HEADER + exif
    try:
        parsed = load_exif(raw)
        if ORIENTATION in parsed:
            parsed[ORIENTATION] = 1
        sub: dict[int, Any] = parsed.get_ifd(EXIF_IFD)
        if PIXEL_X_DIMENSION in sub:
            sub[PIXEL_X_DIMENSION] = int(shape[1])
        if PIXEL_Y_DIMENSION in sub:
            sub[PIXEL_Y_DIMENSION] = int(shape[0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return parsed.tobytes()
    except Exception as exc:  # keep the caller's bytes rather than fail the write
        logger.debug("EXIF written as given: cannot parse it (%s)", exc)
        return raw


def icc_color_space(icc: bytes | None) -> bytes | None:
    """The data colour space of an ICC profile (``b"RGB "``, ``b"GRAY"``, ...)."""
    if not icc or len(icc) < 20:
        return None
    return bytes(icc[16:20])


def icc_fits(icc: bytes | None, *, color: bool) -> bool:
    """Whether ``icc`` describes grey data (``color=False``) or RGB data (``True``).

    Profiles too short to tell are accepted.
    """
    space = icc_color_space(icc)
    if space is None:
        return True
    return space == (b"RGB " if color else b"GRAY")
