"""Reading focus stacks and writing results: JPEG, PNG and TIFF, 8 and 16 bit (BMP read too).

The only place in allfocus that touches image files. Frames come back in
their native dtype (``uint8``, ``uint16`` or ``float32``) with EXIF
orientation applied; outputs keep the input bit depth, the reference frame's
ICC profile and EXIF, and are written atomically.

Errors: :class:`~allfocus._core.errors.ReadError` when a file cannot be read,
:class:`~allfocus._core.errors.InputError` when the data are unusable (sizes
differ, too few frames, too large, NaN, output would overwrite an input or
an existing file), :class:`~allfocus._core.errors.WriteError` when an output
cannot be written.
"""

from __future__ import annotations

from allfocus._core.validate import to_dtype
from allfocus.io._iter import FrameStream, iter_frames
from allfocus.io._paths import IMAGE_EXTENSIONS, find_frames, natural_key
from allfocus.io._read import MAX_PIXELS, ImageData, read_frames, read_image
from allfocus.io._stack import StackData, read_stack
from allfocus.io._write import (
    OUTPUT_FORMATS,
    check_output_path,
    output_dtype,
    write_image,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "OUTPUT_FORMATS",
    "FrameStream",
    "ImageData",
    "StackData",
    "check_output_path",
    "find_frames",
    "iter_frames",
    "natural_key",
    "output_dtype",
    "read_frames",
    "read_image",
    "read_stack",
    "to_dtype",
    "write_image",
]
