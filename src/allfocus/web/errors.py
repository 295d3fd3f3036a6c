"""Errors of the web app, each carrying the HTTP status it is answered with."""

from __future__ import annotations

from allfocus._core.errors import (
    AllfocusError,
    InputError,
    MissingDependencyError,
    ReadError,
    WriteError,
)


class WebError(AllfocusError):
    """An error answered with :attr:`status` and the message as ``{"detail": message}``."""

    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class UploadRejected(WebError, InputError):
    """An upload that cannot be used: bad field, too large (413), not an image (422)."""

    status = 422


class BadJobId(WebError, ValueError):
    """A job id that is not a canonical random (version 4) UUID."""

    status = 400


class JobNotFound(WebError, LookupError):
    """No such job: never created, deleted, or expired and cleaned up."""

    status = 404


class JobNotReady(WebError):
    """A result was asked for before the job finished (or after it failed)."""

    status = 409


def status_for(exc: BaseException) -> int:
    """The HTTP status answering ``exc``.

    :class:`WebError` carries its own; otherwise unreadable or unusable input
    is 422, a missing optional dependency 501, a file the server could not
    write 500, any other allfocus error 422.
    """
    if isinstance(exc, WebError):
        return exc.status
    if isinstance(exc, MissingDependencyError):
        return 501
    if isinstance(exc, WriteError):
        return 500
    if isinstance(exc, (ReadError, InputError, AllfocusError)):
        return 422
    return 500
