"""Exception hierarchy.

Argument and input problems derive from built-in exceptions (``ValueError``,
``OSError``, ``ImportError``) so callers can catch them either way; the CLI maps
each class to a documented exit code (see :mod:`allfocus.cli.exit_codes`).
"""

from __future__ import annotations


class AllfocusError(Exception):
    """Base class of every error allfocus raises on purpose."""


class InputError(AllfocusError, ValueError):
    """Bad input data or arguments: the message names the problem and the fix."""


class ConfigError(InputError):
    """An invalid option or combination of options."""


class ReadError(AllfocusError, OSError):
    """A file could not be read (missing, truncated, not an image, unreadable)."""


class WriteError(AllfocusError, OSError):
    """An output could not be written (folder missing, read-only, would overwrite)."""


class MissingDependencyError(AllfocusError, ImportError):
    """An optional dependency is not installed; the message gives the pip extra."""


def missing_dependency(package: str, extra: str) -> MissingDependencyError:
    """Build the error raised when optional ``package`` is absent."""
    return MissingDependencyError(
        f"{package} is required for this feature but is not installed; "
        f"install it with: pip install 'allfocus[{extra}]'"
    )
