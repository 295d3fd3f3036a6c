"""Limits and options of the web app, validated once."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from allfocus._core.errors import ConfigError

#: Default pixel limit per frame; the same as :data:`allfocus.io.MAX_PIXELS`
#: (kept literal here so that ``allfocus serve --help`` does not import the io stack).
DEFAULT_MAX_PIXELS = 500_000_000

_MB = 1024 * 1024


@dataclass(frozen=True)
class WebSettings:
    """Options of the web app.

    Parameters
    ----------
    max_file_bytes : int
        Largest accepted upload per file, in bytes.
    max_frames : int
        Most frames in one stack (files, or pages of multi-page TIFFs).
    max_pixels : int
        Largest accepted width x height of each frame, at most the
        :mod:`allfocus.io` limit (:data:`allfocus.io.MAX_PIXELS`).
    keep_minutes : float
        How long uploads and results are kept after a job ends; then they are
        deleted and the job is forgotten.
    work_dir : path-like or None
        Folder in which a private temporary folder for the jobs is made
        (removed when the app stops). ``None``: the system temporary folder.
    host : str
        Address the server binds to. On a loopback address only requests
        addressed to ``localhost``, ``127.0.0.1`` or ``::1`` are served (a
        guard against DNS rebinding); elsewhere any host name is.
    """

    max_file_bytes: int = 200 * _MB
    max_frames: int = 500
    max_pixels: int = DEFAULT_MAX_PIXELS
    keep_minutes: float = 60.0
    work_dir: str | os.PathLike | None = None
    host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        for name in ("max_file_bytes", "max_frames", "max_pixels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer; got {value!r}")
        if self.max_pixels > DEFAULT_MAX_PIXELS:
            raise ConfigError(
                f"max_pixels can lower the io limit of {DEFAULT_MAX_PIXELS:,} pixels per frame "
                f"but not raise it; got {self.max_pixels:,}"
            )
        if not self.keep_minutes > 0:
            raise ConfigError(f"keep_minutes must be positive; got {self.keep_minutes!r}")
        if self.work_dir is not None and not Path(self.work_dir).is_dir():
            raise ConfigError(
                f"work_dir {os.fspath(self.work_dir)!r} is not an existing folder; create it first"
            )

    @property
    def keep_seconds(self) -> float:
        """``keep_minutes`` in seconds."""
        return self.keep_minutes * 60.0

    @property
    def loopback(self) -> bool:
        """Whether :attr:`host` is a loopback address (only this machine can connect)."""
        return is_loopback(self.host)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) only accepts connections from this machine.

    Examples
    --------
    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
