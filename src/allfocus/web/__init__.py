"""A local web app: drop a focus stack or one photo in a browser page, get the result.

Needs the optional ``web`` extra (``pip install 'allfocus[web]'``); start it
with ``allfocus serve``. :func:`create_app` builds the FastAPI application
(imported lazily, so importing :mod:`allfocus.web` needs no extra).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from allfocus.web.settings import WebSettings, is_loopback

if TYPE_CHECKING:
    from fastapi import FastAPI


def create_app(settings: WebSettings | None = None) -> FastAPI:
    """Build the web app; see :func:`allfocus.web.app.create_app`."""
    from allfocus.web.app import create_app as _create_app

    return _create_app(settings)


__all__ = ["WebSettings", "create_app", "is_loopback"]
