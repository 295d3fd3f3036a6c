"""Receive a ``multipart/form-data`` upload straight to disk, enforcing the limits as it streams.

Files are written chunk by chunk under generated names (``upload_0000.part``,
...) in the job's folder, never under the name the browser sent; that name is
cleaned and kept only for display and for ordering the frames. A file over
the size limit, or one file too many, stops the upload at once.
"""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from allfocus.web.errors import UploadRejected

#: Form fields accepted besides the files, and the longest value of each (bytes).
MAX_FIELDS = 16
MAX_FIELD_BYTES = 1024
_MAX_NAME_CHARS = 200


@dataclass
class UploadedFile:
    """One file received: where it is stored and what it was called."""

    path: Path
    name: str
    size: int = 0


@dataclass
class Upload:
    """Everything received: files in upload order and the text fields."""

    files: list[UploadedFile] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)


def display_name(raw: str, index: int) -> str:
    """A client file name made safe to show: no folders, no control characters, not too long.

    Examples
    --------
    >>> display_name("../../etc/passwd", 0)
    'passwd'
    >>> display_name("C:\\\\photos\\\\IMG_0001.JPG", 0)
    'IMG_0001.JPG'
    >>> display_name("..", 4)
    'file 5'
    """
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C")).strip()
    if name in ("", ".", ".."):
        return f"file {index + 1}"
    return name[:_MAX_NAME_CHARS]


class _Receiver:
    """Callbacks of :class:`python_multipart.MultipartParser` writing files to ``folder``."""

    def __init__(self, folder: Path, *, max_file_bytes: int, max_files: int) -> None:
        self.folder = folder
        self.max_file_bytes = max_file_bytes
        self.max_files = max_files
        self.upload = Upload()
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._field: str | None = None
        self._value = bytearray()
        self._file: UploadedFile | None = None
        self._fp: IO[bytes] | None = None
        self.blank: list[UploadedFile] = []

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }

    def on_part_begin(self) -> None:
        self._disposition = b""
        self._field = None
        self._value = bytearray()
        self._file = None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.strip().lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def on_headers_finished(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise UploadRejected("malformed upload: a form part has no field name", 400)
        self._field = options[b"name"].decode("utf-8", "replace")
        if b"filename" not in options:
            if len(self.upload.fields) >= MAX_FIELDS:
                raise UploadRejected(f"malformed upload: more than {MAX_FIELDS} form fields", 400)
            return
        files = self.upload.files
        if len(files) >= self.max_files:
            raise UploadRejected(
                f"too many files: at most {self.max_files} frames are accepted; "
                "upload fewer frames",
                413,
            )
        index = len(files)
        raw = options[b"filename"].decode("utf-8", "replace")
        self._file = UploadedFile(
            self.folder / f"upload_{index:04d}.part", display_name(raw, index)
        )
        files.append(self._file)
        if not raw:  # an empty <input type=file> sends a part with no file name
            self.blank.append(self._file)
        self._fp = open(self._file.path, "wb")  # closed by on_part_end or close

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._file is None:
            if len(self._value) + len(chunk) > MAX_FIELD_BYTES:
                raise UploadRejected(
                    f"malformed upload: form field {self._field!r} is longer than "
                    f"{MAX_FIELD_BYTES} bytes",
                    400,
                )
            self._value += chunk
            return
        self._file.size += len(chunk)
        if self._file.size > self.max_file_bytes:
            raise UploadRejected(
                f"{self._file.name!r} is larger than the limit of "
                f"{_megabytes(self.max_file_bytes)} per file; upload a smaller file",
                413,
            )
        if self._fp is not None:
            self._fp.write(chunk)

    def on_part_end(self) -> None:
        if self._file is None:
            if self._field is not None:
                self.upload.fields[self._field] = self._value.decode("utf-8", "replace").strip()
            return
        self.close()
        self._file = None

    def close(self) -> None:
        if self._fp is not None:
            self._fp.close()
            self._fp = None


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:,.0f} MB" if size >= 1024 * 1024 else f"{size:,} bytes"


async def receive_upload(
    content_type: str,
    stream: AsyncIterator[bytes],
    folder: Path,
    *,
    max_file_bytes: int,
    max_files: int,
) -> Upload:
    """Parse a ``multipart/form-data`` body from ``stream``, writing its files into ``folder``.

    Parameters
    ----------
    content_type : str
        The request's ``Content-Type`` header (it carries the boundary).
    stream : async iterator of bytes
        The request body.
    folder : pathlib.Path
        Existing folder that receives the files.
    max_file_bytes : int
        Largest accepted file.
    max_files : int
        Most files accepted.

    Returns
    -------
    Upload
        The files (with empty file inputs left out) and the text fields.

    Raises
    ------
    UploadRejected
        Status 400 for a body that is not valid multipart form data, 413 when
        a file is too large or there are too many files. The body is not read
        further; files already written stay in ``folder`` for the caller to
        remove.
    """
    from python_multipart import MultipartParser
    from python_multipart.exceptions import FormParserError
    from python_multipart.multipart import parse_options_header

    mime, params = parse_options_header(content_type)
    if mime != b"multipart/form-data" or not params.get(b"boundary"):
        raise UploadRejected(
            "send the files as multipart/form-data (an HTML form or FormData)", 400
        )
    receiver = _Receiver(folder, max_file_bytes=max_file_bytes, max_files=max_files)
    parser = MultipartParser(params[b"boundary"], receiver.callbacks())
    try:
        async for chunk in stream:
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        raise UploadRejected(f"malformed upload ({exc}); send the files again", 400) from None
    finally:
        receiver.close()
    upload = receiver.upload
    for item in receiver.blank:
        item.path.unlink(missing_ok=True)
        upload.files.remove(item)
    return upload
