"""``transforms.json``: the estimated maps, one entry per input file, in order.

Format::

    [
      {"file": "IMG_0001.tif", "matrix": [[1.0, 0.0, 3.2], [0.0, 1.0, -1.5], [0.0, 0.0, 1.0]]},
      {"file": "IMG_0002.tif", "matrix": null},
      ...
    ]

``matrix`` maps pixel ``(x, y, 1)`` of the file to the reference frame (see
:attr:`allfocus.align.AlignResult.transforms`); ``null`` marks a frame that
could not be aligned (NaN in memory).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from allfocus._core.errors import InputError, ReadError, WriteError


def save_transforms(path: str | os.PathLike, names: list[str], transforms: NDArray) -> None:
    """Write ``transforms.json`` atomically (temporary file, then rename).

    Parameters
    ----------
    path : str or path-like
        File to write; replaced if it exists.
    names : list of str
        One name per frame (usually the input file names), in input order.
    transforms : (S, 3, 3) array_like
        Maps of the frames to the reference; NaN matrices are written as
        ``null``.

    Raises
    ------
    InputError
        If ``names`` and ``transforms`` do not match.
    WriteError
        If the file cannot be written.
    """
    mats = np.asarray(transforms, dtype=np.float64)
    names = [str(n) for n in names]
    if mats.ndim != 3 or mats.shape[1:] != (3, 3):
        raise InputError(f"transforms must have shape (S, 3, 3); got {mats.shape}")
    if len(names) != mats.shape[0]:
        raise InputError(
            f"names and transforms must have the same length; got {len(names)} names and "
            f"{mats.shape[0]} transforms"
        )
    entries = [
        {"file": name, "matrix": m.tolist() if np.isfinite(m).all() else None}
        for name, m in zip(names, mats, strict=True)
    ]
    text = json.dumps(entries, indent=2, allow_nan=False) + "\n"
    target = Path(path)
    tmp_name = None
    try:
        with tempfile.NamedTemporaryFile(
            "w",
            encoding="utf-8",
            dir=target.parent,
            prefix=f".{target.name}.",
            suffix=".tmp",
            delete=False,
        ) as tmp:
            tmp_name = tmp.name
            tmp.write(text)
        os.replace(tmp_name, target)
    except OSError as exc:
        if tmp_name is not None and os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise WriteError(f"cannot write transforms to {str(target)!r}: {exc}") from exc


def load_transforms(path: str | os.PathLike) -> tuple[list[str], NDArray[np.float64]]:
    """Read a ``transforms.json`` written by :func:`save_transforms`.

    Returns
    -------
    names : list of str
        The ``file`` entries, in order.
    transforms : (S, 3, 3) ndarray of float64
        The matrices; NaN for ``null`` entries.

    Raises
    ------
    ReadError
        If the file cannot be read.
    InputError
        If it is not valid JSON of the expected shape.
    """
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReadError(f"cannot read transforms file {where!r}: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"transforms file {where!r} is not valid JSON: {exc}") from None
    expected = 'a JSON list of {"file": NAME, "matrix": [[a, b, c], [d, e, f], [g, h, i]]}'
    if not isinstance(data, list) or not data:
        raise InputError(
            f"transforms file {where!r} must hold {expected}; got {type(data).__name__}"
        )
    names: list[str] = []
    mats = np.empty((len(data), 3, 3), dtype=np.float64)
    for i, entry in enumerate(data):
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            raise InputError(f"entry {i} of {where!r} must be an object with a string 'file'")
        if "matrix" not in entry:
            raise InputError(f"entry {i} ({entry['file']!r}) of {where!r} has no 'matrix'")
        names.append(entry["file"])
        raw = entry["matrix"]
        if raw is None:
            mats[i] = np.nan
            continue
        try:
            m = np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError):
            m = np.empty(0)
        if m.shape != (3, 3) or not np.isfinite(m).all():
            raise InputError(
                f"entry {i} ({entry['file']!r}) of {where!r} must have a 3x3 matrix of finite "
                f"numbers (or null); got {raw!r}"
            )
        mats[i] = m
    return names, mats
