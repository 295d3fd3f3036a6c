"""Exit codes of the ``allfocus`` command, carried by exception classes."""

from __future__ import annotations

from enum import IntEnum

from allfocus._core.errors import (
    AllfocusError,
    InputError,
    MissingDependencyError,
    ReadError,
    WriteError,
)


class ExitCode(IntEnum):
    """Documented exit codes.

    0 success; 1 unexpected internal error; 2 bad usage or bad input;
    3 a file could not be read or written; 4 a missing optional dependency;
    130 interrupted (Ctrl-C).
    """

    OK = 0
    INTERNAL = 1
    BAD_INPUT = 2
    IO_ERROR = 3
    MISSING_DEPENDENCY = 4
    INTERRUPTED = 130


def exit_code_for(exc: BaseException) -> ExitCode:
    """Map an exception to the exit code the CLI returns for it."""
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    if isinstance(exc, MissingDependencyError):
        return ExitCode.MISSING_DEPENDENCY
    if isinstance(exc, (ReadError, WriteError)):
        return ExitCode.IO_ERROR
    if isinstance(exc, InputError):
        return ExitCode.BAD_INPUT
    if isinstance(exc, AllfocusError):
        return ExitCode.BAD_INPUT
    return ExitCode.INTERNAL
