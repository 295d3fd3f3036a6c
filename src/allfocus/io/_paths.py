"""Turn the user's inputs (files, glob patterns, a folder) into an ordered list of frames."""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Sequence
from pathlib import Path

from allfocus._core.errors import InputError, ReadError

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".dib")
"""File extensions read from folders and glob patterns (compared case-insensitively)."""

_GLOB_CHARS = frozenset("*?[")
_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str | os.PathLike) -> tuple[str | int, ...]:
    """Sort key ordering numbers by value: ``frame_2`` before ``frame_10``.

    Letters compare case-insensitively. Digit runs and text alternate in the
    key, so two keys always compare element by element without type errors.

    Examples
    --------
    >>> sorted(["f10.png", "f2.png", "F1.png"], key=natural_key)
    ['F1.png', 'f2.png', 'f10.png']
    """
    parts = _DIGITS.split(os.fspath(text))
    return tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts))


def _is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def _choices() -> str:
    return ", ".join(ext.lstrip(".") for ext in IMAGE_EXTENSIONS)


def find_frames(inputs: Sequence[str | os.PathLike] | str | os.PathLike) -> list[Path]:
    """List the image files named by ``inputs``, in stack order.

    Parameters
    ----------
    inputs : sequence of str or path-like
        Each item is an existing file, a glob pattern (``"stack/*.tif"``,
        ``**`` recurses) or a folder. A folder is accepted only as the single
        input and stands for every image file directly inside it. A single
        string or path is treated as a one-item sequence.

    Returns
    -------
    list of pathlib.Path
        Explicit files in the order given; the matches of each glob pattern
        or folder sorted naturally (``frame_2`` before ``frame_10``). A file
        named twice is kept at its first place only.

    Raises
    ------
    ReadError
        If an input is neither an existing file or folder nor a pattern.
    InputError
        If no inputs are given, a folder is given along with other inputs,
        or a folder or glob pattern holds no image files.

    Notes
    -----
    Folders and patterns keep only files with an extension in
    :data:`IMAGE_EXTENSIONS` (any case); an explicit file is kept whatever
    its extension, and its content decides how it is read.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    inputs = list(inputs)
    if not inputs:
        raise InputError("no input frames given; pass image files, a glob pattern or a folder")

    found: list[Path] = []
    for item in inputs:
        text = os.fspath(item)
        path = Path(text)
        if path.is_dir():
            if len(inputs) > 1:
                raise InputError(
                    f"folder {text!r} can only be given as the single input; pass the folder "
                    "alone, or list its files or a glob pattern instead"
                )
            matches = sorted(
                (p for p in path.iterdir() if p.is_file() and _is_image_name(p)),
                key=lambda p: natural_key(p.name),
            )
            if not matches:
                raise InputError(
                    f"folder {text!r} contains no image files ({_choices()}); "
                    "check the folder or pass the files explicitly"
                )
            found.extend(matches)
        elif path.is_file():
            found.append(path)
        elif _GLOB_CHARS & set(text):
            matches = sorted(
                (
                    Path(m)
                    for m in glob.glob(text, recursive=True)
                    if os.path.isfile(m) and _is_image_name(Path(m))
                ),
                key=natural_key,
            )
            if not matches:
                raise InputError(
                    f"pattern {text!r} matches no image files ({_choices()}); "
                    "check the pattern and the folder it points to"
                )
            found.extend(matches)
        else:
            raise ReadError(f"{text!r}: no such file or folder; check the path")
    return unique_paths(found)


def unique_paths(paths: Sequence[Path]) -> list[Path]:
    """``paths`` without repeats of the same file (compared resolved), first order kept."""
    unique: list[Path] = []
    seen: set[Path] = set()
    for path in paths:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique
