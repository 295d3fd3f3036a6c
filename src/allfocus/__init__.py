"""allfocus: all-in-focus images from focus stacks or a single photo."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "align",
    "focus",
    "fusion",
    "io",
    "metrics",
    "pipeline",
    "restore",
    "synth",
]
