"""Cheap checks of an uploaded file from its header: format, size and frame count.

Nothing is decoded here, so a stack of hundreds of frames is checked in
moments when the upload ends; a file whose pixels turn out to be damaged
fails later, in the job, with the message of :mod:`allfocus.io`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from allfocus._core.errors import ReadError

#: File extension of each format, used for the generated file names.
EXTENSIONS = {"jpeg": ".jpg", "png": ".png", "tiff": ".tif", "bmp": ".bmp"}


@dataclass(frozen=True)
class Probe:
    """What the header of an image file says.

    Attributes
    ----------
    kind : str
        ``"jpeg"``, ``"png"``, ``"tiff"`` or ``"bmp"``.
    width, height : int
        Size of the largest frame, in pixels.
    frames : int
        Number of frames: full-resolution pages of a TIFF, else 1.
    """

    kind: str
    width: int
    height: int
    frames: int


def sniff(head: bytes) -> str | None:
    """The image format whose signature starts ``head``, or ``None`` (as allfocus.io)."""
    from allfocus.io._read import image_format

    return image_format(head)


def probe(path: Path, name: str) -> Probe:
    """Read the header of ``path``; ``name`` is the file's name as shown to the user.

    Raises
    ------
    ReadError
        If the file is empty, not a JPEG, PNG, TIFF or BMP, or its header is damaged.
    """
    with open(path, "rb") as fp:
        head = fp.read(32)
    if not head:
        raise ReadError(f"{name!r} is empty (0 bytes); choose the file again")
    kind = sniff(head)
    if kind is None:
        raise ReadError(
            f"{name!r} is not a JPEG, PNG, TIFF or BMP image (unrecognised content); "
            "convert it to one of these formats"
        )
    try:
        found = _probe_tiff(path) if kind == "tiff" else _probe_pillow(path, kind)
    except Exception as exc:  # every header failure becomes one clear message
        raise ReadError(
            f"{name!r}: cannot read this {kind.upper()} file ({type(exc).__name__}: {exc}); "
            "it is truncated or damaged, export or copy it again"
        ) from exc
    if not found.frames:
        raise ReadError(f"{name!r} holds no full-resolution image page")
    return found


def _probe_pillow(path: Path, kind: str) -> Probe:
    # The plugin classes are opened directly (as allfocus.io does) so that
    # Pillow's own decompression-bomb limit does not pre-empt ``max_pixels``.
    from allfocus.io._read import _PILLOW_OPENERS

    with _PILLOW_OPENERS[kind](path) as im:
        width, height = im.size
    return Probe(kind, int(width), int(height), 1)


def _probe_tiff(path: Path) -> Probe:
    import tifffile

    width = height = frames = 0
    with tifffile.TiffFile(path) as tif:
        for page in tif.pages:
            if page.is_reduced:
                continue
            frames += 1
            if page.imagewidth * page.imagelength > width * height:
                width, height = int(page.imagewidth), int(page.imagelength)
    return Probe("tiff", width, height, frames)
