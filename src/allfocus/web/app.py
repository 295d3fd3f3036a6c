"""The FastAPI application: the page, its static files and the JSON API.

API (all JSON unless noted; errors are ``{"detail": message}``):

- ``GET /api/methods``: fusion and sharpening methods, alignment and restore choices.
- ``GET /api/limits``: upload limits and how long results are kept.
- ``POST /api/jobs``: multipart files plus ``kind``, ``method``, ``align``,
  ``restore`` -> 202 ``{"id": ...}``.
- ``GET /api/jobs/{id}``: ``state``, ``stage``, ``progress``, ``error``, ``info``.
- ``DELETE /api/jobs/{id}``: forget a job and delete its files.
- ``GET /api/jobs/{id}/result?format=png|tiff|jpeg``: the image (a download).
- ``GET /api/jobs/{id}/depth?format=png|tiff``: the depth map (a download).
- ``GET /api/jobs/{id}/preview/{before|after|depth}``: 8-bit JPEG previews.

See ``docs/web.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
from collections.abc import AsyncIterator
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

from allfocus import __version__
from allfocus._core.errors import AllfocusError, missing_dependency

try:
    from fastapi import FastAPI, Query, Request
    from fastapi.responses import FileResponse, JSONResponse, Response
    from fastapi.staticfiles import StaticFiles
    from starlette.concurrency import run_in_threadpool
except ImportError as exc:  # the optional [web] extra
    raise missing_dependency("fastapi", "web") from exc

from allfocus.web.errors import JobNotReady, UploadRejected, WebError, status_for
from allfocus.web.jobs import Job, JobManager, build_job
from allfocus.web.settings import WebSettings
from allfocus.web.tasks import (
    DEPTH_FILES,
    PREVIEW_FILES,
    RESULT_FILES,
    fusion_methods,
    restore_choices,
    sharpen_methods,
)
from allfocus.web.uploads import receive_upload

log = logging.getLogger(__name__)

_MEDIA_TYPES = {"png": "image/png", "tiff": "image/tiff", "jpeg": "image/jpeg"}
_EXTENSIONS = {"png": ".png", "tiff": ".tif", "jpeg": ".jpg"}
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_SAFE_STEM = re.compile(r"[^A-Za-z0-9._-]+")
#: Request overhead allowed on top of the files (multipart headers and fields).
_FORM_SLACK = 1024 * 1024
#: Free disk space kept beyond the upload.
_DISK_MARGIN = 64 * 1024 * 1024

FormatQuery = Annotated[str, Query(alias="format", description="File format.")]

_SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' blob: data:; object-src 'none'; "
        b"base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


def static_dir() -> Path:
    """Folder of the page's HTML, CSS and JavaScript (served as they are)."""
    return Path(str(files("allfocus.web") / "static"))


class LocalGuard:
    """ASGI middleware: refuse foreign Host and Origin headers, add security headers.

    On a loopback address only requests for ``localhost``, ``127.0.0.1`` or
    ``::1`` are served, so a web page elsewhere cannot reach the app through
    DNS rebinding; requests that change state (POST, DELETE) must come from a
    page of the app itself when the browser says where they come from
    (``Origin``).
    """

    def __init__(self, app: Any, *, loopback_only: bool) -> None:
        self.app = app
        self.loopback_only = loopback_only

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        problem = None
        if self.loopback_only and _hostname(host) not in _LOOPBACK_NAMES:
            problem = f"this server only answers requests for localhost, not {host!r}"
        elif scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            origin = headers.get("origin")
            if origin is not None and origin.split("://", 1)[-1].rstrip("/") != host:
                problem = "cross-site requests are not accepted"
        if problem is not None:
            await JSONResponse({"detail": problem}, status_code=403)(scope, receive, send)
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + _SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _hostname(host: str) -> str:
    """``"[::1]:8000"`` -> ``"::1"``, ``"localhost:8000"`` -> ``"localhost"``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def create_app(settings: WebSettings | None = None) -> FastAPI:
    """Build the web app.

    Parameters
    ----------
    settings : WebSettings, optional
        Limits and options; the defaults serve on loopback with the limits of
        :class:`WebSettings`.

    Returns
    -------
    fastapi.FastAPI
        Serve it with uvicorn (``allfocus serve`` does). The job manager, its
        worker thread and temporary folder live from startup to shutdown of
        the app (``app.state.jobs``); all files are deleted at shutdown.

    """
    settings = settings or WebSettings()
    interval = min(60.0, settings.keep_seconds / 4)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        jobs = JobManager(settings)
        app.state.jobs = jobs

        async def sweep() -> None:
            while True:
                await asyncio.sleep(interval)
                jobs.cleanup()

        task = asyncio.create_task(sweep())
        try:
            yield
        finally:
            task.cancel()
            jobs.close()

    app = FastAPI(
        title="allfocus",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # the interactive docs load scripts from a CDN
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.add_middleware(LocalGuard, loopback_only=settings.loopback)
    app.mount("/static", StaticFiles(directory=static_dir()), name="static")

    @app.exception_handler(AllfocusError)
    async def allfocus_error(request: Request, exc: AllfocusError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status_for(exc))

    def manager(request: Request) -> JobManager:
        return request.app.state.jobs

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(static_dir() / "index.html", headers={"cache-control": "no-cache"})

    @app.get("/api/methods")
    async def methods() -> dict[str, Any]:
        """Methods, alignment and restoration choices the page offers."""
        from allfocus.pipeline.config import ALIGN_CHOICES

        fuse_items, fuse_default = fusion_methods()
        sharpen = sharpen_methods()
        return {
            "fuse": {"methods": fuse_items, "default": fuse_default},
            "sharpen": None if sharpen is None else {"methods": sharpen[0], "default": sharpen[1]},
            "align": {"choices": list(ALIGN_CHOICES), "default": "auto"},
            "restore": restore_choices(),
        }

    @app.get("/api/limits")
    async def limits() -> dict[str, Any]:
        """Upload limits and how long results are kept."""
        from allfocus.io import IMAGE_EXTENSIONS

        return {
            "max_file_bytes": settings.max_file_bytes,
            "max_frames": settings.max_frames,
            "max_pixels": settings.max_pixels,
            "keep_minutes": settings.keep_minutes,
            "extensions": list(IMAGE_EXTENSIONS),
            "version": __version__,
        }

    @app.post("/api/jobs", status_code=202)
    async def create_job(request: Request) -> JSONResponse:
        """Upload frames (or one photo) and options; the job is queued."""
        jobs = manager(request)
        jobs.cleanup()
        _check_length(request, settings, jobs.root)
        job_id, folder = jobs.new_folder()
        stream = request.stream()
        try:
            upload = await receive_upload(
                request.headers.get("content-type", ""),
                stream,
                folder,
                max_file_bytes=settings.max_file_bytes,
                max_files=settings.max_frames,
            )
            job = await run_in_threadpool(build_job, job_id, folder, upload, settings)
        except UploadRejected:
            jobs.discard(folder)
            async for _ in stream:  # read the rest so that the browser gets the answer
                pass
            raise
        except BaseException:
            jobs.discard(folder)
            raise
        jobs.submit(job)
        log.info("job %s: %s of %d file(s) queued", job.id, job.kind, len(job.inputs))
        return JSONResponse(
            {"id": job.id}, status_code=202, headers={"location": f"/api/jobs/{job.id}"}
        )

    @app.get("/api/jobs/{job_id}")
    async def job_status(job_id: str, request: Request) -> dict[str, Any]:
        """State, stage, progress (0 to 1) and error of a job."""
        jobs = manager(request)
        return jobs.snapshot(jobs.get(job_id))

    @app.delete("/api/jobs/{job_id}", status_code=204)
    async def delete_job(job_id: str, request: Request) -> Response:
        """Forget a job and delete its uploads and results."""
        manager(request).delete(job_id)
        return Response(status_code=204)

    @app.get("/api/jobs/{job_id}/result")
    async def result(job_id: str, request: Request, fmt: FormatQuery = "png") -> FileResponse:
        """The result image: ``png`` (input bit depth), ``tiff`` (16 bit) or ``jpeg``."""
        job = _finished(manager(request), job_id)
        name = _choose(fmt, RESULT_FILES)
        suffix = "sharpened" if job.kind == "sharpen" else "allfocus"
        return FileResponse(
            job.folder / RESULT_FILES[name],
            media_type=_MEDIA_TYPES[name],
            filename=_download_name(job, suffix, name),
        )

    @app.get("/api/jobs/{job_id}/depth")
    async def depth(job_id: str, request: Request, fmt: FormatQuery = "png") -> FileResponse:
        """The depth map: ``png`` (16 bit, scaled) or ``tiff`` (float32 frame index)."""
        job = _finished(manager(request), job_id)
        name = _choose(fmt, DEPTH_FILES)
        path = job.folder / DEPTH_FILES[name]
        if not path.is_file():
            raise WebError("this job has no depth map (its method does not estimate one)", 404)
        return FileResponse(
            path, media_type=_MEDIA_TYPES[name], filename=_download_name(job, "depth", name)
        )

    @app.get("/api/jobs/{job_id}/preview/{which}")
    async def preview(job_id: str, which: str, request: Request) -> FileResponse:
        """8-bit JPEG previews for the page: ``before``, ``after`` or ``depth``."""
        job = _finished(manager(request), job_id)
        name = _choose(which, PREVIEW_FILES, what="preview")
        path = job.folder / PREVIEW_FILES[name]
        if not path.is_file():
            raise WebError(f"this job has no {name} preview", 404)
        return FileResponse(path, media_type="image/jpeg")

    return app


def _check_length(request: Request, settings: WebSettings, root: Path) -> None:
    """Refuse a body that is announced too large for the limits or for the free disk space."""
    try:
        length = int(request.headers.get("content-length", "0"))
    except ValueError:
        raise UploadRejected("invalid Content-Length header", 400) from None
    most = settings.max_frames * settings.max_file_bytes + _FORM_SLACK
    if length > most:
        raise UploadRejected(
            f"the upload ({length:,} bytes) is larger than {settings.max_frames} frames of "
            f"at most {settings.max_file_bytes:,} bytes each",
            413,
        )
    if length + _DISK_MARGIN > shutil.disk_usage(root).free:
        raise UploadRejected(
            f"not enough free disk space on the server for this upload ({length:,} bytes)", 507
        )


def _finished(jobs: JobManager, job_id: str) -> Job:
    """The job ``job_id`` if it is done; else :class:`JobNotReady` with its state."""
    job = jobs.get(job_id)
    if job.state == "failed":
        raise JobNotReady(f"the job failed: {job.error}")
    if job.state != "done":
        raise JobNotReady(f"the job is not finished yet (state: {job.state}); try again later")
    return job


def _choose(value: str, choices: dict[str, str], *, what: str = "format") -> str:
    if value not in choices:
        raise WebError(f"{what} must be one of {', '.join(choices)}; got {value[:40]!r}", 422)
    return value


def _download_name(job: Job, suffix: str, fmt: str) -> str:
    """``"<first frame's name>_<suffix>.<ext>"``, letters, digits, ``._-`` only."""
    first = job.names[job.inputs[0].name]
    stem = _SAFE_STEM.sub("_", Path(first).stem).strip("._")[:60] or "image"
    return f"{stem}_{suffix}{_EXTENSIONS[fmt]}"
