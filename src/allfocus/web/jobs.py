"""Jobs of the web app: checked uploads, one background worker, and cleanup.

Each job owns a folder named by its id (a random UUID4) inside the app's
private temporary folder; uploads, results and previews live there and
nowhere else. One worker thread runs the jobs one after another, so the
server keeps answering while a stack is fused. Finished jobs are deleted,
folder and all, ``keep_minutes`` after they end.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from allfocus._core.errors import AllfocusError
from allfocus.web._probe import EXTENSIONS, probe
from allfocus.web.errors import BadJobId, JobNotFound, UploadRejected, status_for
from allfocus.web.settings import WebSettings
from allfocus.web.uploads import Upload

log = logging.getLogger(__name__)

KINDS = ("fuse", "sharpen")
#: Form fields a job accepts besides the files.
FIELDS = ("kind", "method", "align", "restore")
#: Values of the ``restore`` field that leave restoration off (the default).
RESTORE_OFF = ("", "off")


class _Cancelled(Exception):
    """Raised from the progress callback to stop a deleted job."""


@dataclass
class Job:
    """One fusion or sharpening job and its state.

    The worker thread updates ``state``, ``stage``, ``progress``, ``error``
    and ``info``; requests read them through :meth:`snapshot`.
    """

    id: str
    kind: str
    folder: Path
    method: str
    align: str
    inputs: list[Path]
    frame_counts: list[int]
    names: dict[str, str]
    restore: str | None = None
    state: str = "queued"
    stage: str = "queued"
    progress: float = 0.0
    error: str | None = None
    error_status: int | None = None
    info: dict[str, Any] | None = None
    finished: float | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)

    def snapshot(self, *, now: float, keep_seconds: float) -> dict[str, Any]:
        """The job as the JSON API shows it."""
        expires_in = None
        if self.finished is not None:
            expires_in = max(0.0, round(self.finished + keep_seconds - now, 1))
        return {
            "id": self.id,
            "kind": self.kind,
            "method": self.method,
            "align": self.align if self.kind == "fuse" else None,
            "restore": self.restore if self.kind == "fuse" else None,
            "state": self.state,
            "stage": self.stage,
            "progress": round(self.progress, 3),
            "error": self.error,
            "error_status": self.error_status,
            "frames": len(self.inputs) if self.kind == "sharpen" else sum(self.frame_counts),
            "info": self.info,
            "expires_in": expires_in,
        }


def parse_job_id(text: str) -> str:
    """Return ``text`` if it is a job id: a UUID4 in canonical lower-case form.

    Raises
    ------
    BadJobId
        For anything else (other UUID versions or spellings included).

    Examples
    --------
    >>> parse_job_id("0b6f1f7e-4a5b-4c2d-9e8f-0123456789ab")
    '0b6f1f7e-4a5b-4c2d-9e8f-0123456789ab'
    """
    try:
        value = uuid.UUID(text)
    except (ValueError, TypeError, AttributeError):
        value = None
    if value is None or value.version != 4 or str(value) != text:
        raise BadJobId(f"{text[:80]!r} is not a job id")
    return text


def build_job(job_id: str, folder: Path, upload: Upload, settings: WebSettings) -> Job:
    """Check an upload against the limits and options and turn it into a queued job.

    Files are checked from their headers (format, pixels, pages), ordered
    naturally by their display names (``IMG_2`` before ``IMG_10``) and renamed
    ``frame_0000.png``, ... in that order.

    Raises
    ------
    UploadRejected
        422 for a missing, unknown or invalid option (``restore`` given for a
        sharpening job included), a file that is not a
        JPEG, PNG, TIFF or BMP image, fewer than two frames for a stack or more
        than one photo to sharpen; 413 for too many frames or pixels.
    """
    from allfocus.io import natural_key
    from allfocus.web.tasks import fusion_methods, sharpen_methods

    fields = dict(upload.fields)
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise UploadRejected(
            f"unknown form field(s) {', '.join(map(repr, unknown))}; "
            f"send files plus {', '.join(FIELDS)}"
        )
    kind = fields.get("kind") or "fuse"
    if kind not in KINDS:
        raise UploadRejected(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    files = upload.files
    if not files:
        raise UploadRejected("no files were uploaded; choose the photos of a focus stack")

    align = fields.get("align") or "auto"
    restore = parse_restore(fields.get("restore"))
    if kind == "fuse":
        from allfocus.pipeline import FuseConfig

        method = fields.get("method") or fusion_methods()[1]
        try:
            FuseConfig(method=method, align=align, restore=restore)
        except AllfocusError as exc:
            raise UploadRejected(str(exc)) from None
    else:
        if restore is not None:
            raise UploadRejected(
                "restore applies to fusion jobs only (kind=fuse); sharpening already "
                "deblurs the whole photo"
            )
        available = sharpen_methods()
        if available is None:
            raise UploadRejected("sharpening a single photo is not available in this build")
        names = [m["name"] for m in available[0]]
        method = fields.get("method") or available[1]
        if method not in names:
            raise UploadRejected(
                f"unknown sharpen method {method!r}; choose one of: {', '.join(names)}"
            )
        if len(files) != 1:
            raise UploadRejected(
                f"sharpening takes exactly one photo; got {len(files)} files "
                "(to combine several photos, make a focus stack with kind=fuse)"
            )

    counts, suffixes = [], []
    for item in files:
        try:
            found = probe(item.path, item.name)
        except AllfocusError as exc:
            raise UploadRejected(str(exc), status_for(exc)) from None
        pixels = found.width * found.height
        if pixels > settings.max_pixels:
            raise UploadRejected(
                f"{item.name!r} is {found.width}x{found.height} = {pixels:,} pixels, more than "
                f"the limit of {settings.max_pixels:,} pixels per frame; resize it first",
                413,
            )
        counts.append(found.frames if kind == "fuse" else 1)
        suffixes.append(EXTENSIONS[found.kind])
    total = sum(counts)
    if total > settings.max_frames:
        raise UploadRejected(
            f"too many frames: {total}, more than the limit of {settings.max_frames}; "
            "upload fewer frames",
            413,
        )
    if kind == "fuse" and total < 2:
        raise UploadRejected(
            f"a focus stack needs at least 2 frames; got {total} ({files[0].name}); "
            "add the other photos of the stack, or sharpen a single photo instead"
        )

    order = sorted(range(len(files)), key=lambda i: natural_key(files[i].name))
    inputs, frame_counts, names = [], [], {}
    for rank, i in enumerate(order):
        target = folder / f"frame_{rank:04d}{suffixes[i]}"
        inputs.append(files[i].path.rename(target))
        frame_counts.append(counts[i])
        names[target.name] = files[i].name
    return Job(
        id=job_id,
        kind=kind,
        folder=folder,
        method=method,
        align=align,
        inputs=inputs,
        frame_counts=frame_counts,
        names=names,
        restore=restore,
    )


def parse_restore(value: str | None) -> str | None:
    """The ``restore`` form field as :attr:`allfocus.pipeline.FuseConfig.restore`.

    Missing, empty or ``"off"`` is ``None`` (no restoration); otherwise one of
    :data:`allfocus.pipeline.config.RESTORE_CHOICES`.

    Raises
    ------
    UploadRejected
        422 for any other value.

    Examples
    --------
    >>> parse_restore(None) is None, parse_restore("off") is None
    (True, True)
    >>> parse_restore("defocus")
    'defocus'
    """
    from allfocus.pipeline.config import RESTORE_CHOICES

    if value is None or value in RESTORE_OFF:
        return None
    if value not in RESTORE_CHOICES:
        raise UploadRejected(
            f"restore must be off or one of {', '.join(RESTORE_CHOICES)}; got {value[:40]!r}"
        )
    return value


class JobManager:
    """Job folders, the queue and its worker thread, and cleanup of old jobs.

    Parameters
    ----------
    settings : WebSettings
        Limits, ``keep_minutes`` and the folder for the private temporary folder.
    clock : callable, optional
        Monotonic seconds (tests pass a fake one to expire jobs).
    """

    def __init__(self, settings: WebSettings, *, clock=time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        workdir = os.fspath(settings.work_dir) if settings.work_dir is not None else None
        self.root = Path(tempfile.mkdtemp(prefix="allfocus-web-", dir=workdir))
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._work, name="allfocus-web-job", daemon=True)
        self._worker.start()

    # ---------------------------------------------------------------- folders

    def new_folder(self) -> tuple[str, Path]:
        """A fresh job id and its (empty) folder, for an upload to fill."""
        job_id = str(uuid.uuid4())
        folder = self.root / job_id
        folder.mkdir()
        return job_id, folder

    def discard(self, folder: Path) -> None:
        """Remove the folder of an upload that did not become a job."""
        shutil.rmtree(folder, ignore_errors=True)

    # ------------------------------------------------------------------- jobs

    def submit(self, job: Job) -> None:
        """Queue ``job`` for the worker."""
        with self._lock:
            self._jobs[job.id] = job
        self._queue.put(job)

    def get(self, text: str) -> Job:
        """The job with id ``text``.

        Raises
        ------
        BadJobId
            If ``text`` is not a job id.
        JobNotFound
            If there is no such job (or it expired).
        """
        job_id = parse_job_id(text)
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise JobNotFound(f"no job {job_id}; it never existed or has expired and was removed")
        return job

    def snapshot(self, job: Job) -> dict[str, Any]:
        """``job`` as the API shows it."""
        return job.snapshot(now=self.clock(), keep_seconds=self.settings.keep_seconds)

    def delete(self, text: str) -> None:
        """Forget a job and delete its files (a running job stops at its next stage)."""
        job = self.get(text)
        with self._lock:
            self._jobs.pop(job.id, None)
            job.cancelled.set()
            running = job.state == "running"
        if not running:  # else the worker removes the folder when it stops
            shutil.rmtree(job.folder, ignore_errors=True)

    def cleanup(self, now: float | None = None) -> int:
        """Delete jobs that ended more than ``keep_minutes`` ago; return how many."""
        now = self.clock() if now is None else now
        keep = self.settings.keep_seconds
        with self._lock:
            old = [
                job
                for job in self._jobs.values()
                if job.finished is not None and now - job.finished > keep
            ]
            for job in old:
                del self._jobs[job.id]
        for job in old:
            shutil.rmtree(job.folder, ignore_errors=True)
        if old:
            log.info("removed %d expired job(s)", len(old))
        return len(old)

    def close(self) -> None:
        """Stop the worker (after its current stage) and delete every job's files."""
        with self._lock:
            for job in self._jobs.values():
                job.cancelled.set()
            self._jobs.clear()
        self._queue.put(None)
        self._worker.join(timeout=5)
        shutil.rmtree(self.root, ignore_errors=True)

    # ----------------------------------------------------------------- worker

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            if not job.cancelled.is_set():
                self._run(job)
            if job.cancelled.is_set():
                shutil.rmtree(job.folder, ignore_errors=True)

    def _run(self, job: Job) -> None:
        from allfocus.web.tasks import run_fuse, run_sharpen

        def report(stage: str, fraction: float) -> None:
            if job.cancelled.is_set():
                raise _Cancelled
            job.stage, job.progress = stage, fraction

        with self._lock:
            job.state, job.stage = "running", "read"
        try:
            if job.kind == "fuse":
                info = run_fuse(
                    job.folder,
                    job.inputs,
                    frame_counts=job.frame_counts,
                    names=job.names,
                    method=job.method,
                    align=job.align,
                    restore=job.restore,
                    report=report,
                )
            else:
                info = run_sharpen(
                    job.folder,
                    job.inputs[0],
                    name=job.names[job.inputs[0].name],
                    method=job.method,
                    max_pixels=self.settings.max_pixels,
                    report=report,
                )
        except _Cancelled:
            self._end(job, "failed", "cancelled", None)
        except MemoryError:
            message = "not enough memory for this job; use fewer or smaller frames"
            self._end(job, "failed", message, 413)
        except AllfocusError as exc:
            self._end(job, "failed", self._readable(job, str(exc)), status_for(exc))
        except Exception as exc:  # a bug: keep serving, show it, log the traceback
            log.exception("job %s failed", job.id)
            message = f"internal error ({type(exc).__name__}: {exc}); please report it"
            self._end(job, "failed", self._readable(job, message), 500)
        else:
            job.info = info
            self._end(job, "done", None, None)

    def _end(self, job: Job, state: str, error: str | None, status: int | None) -> None:
        with self._lock:
            job.error, job.error_status = error, status if error else None
            if state == "done":
                job.stage, job.progress = "done", 1.0
            job.state, job.finished = state, self.clock()

    @staticmethod
    def _readable(job: Job, message: str) -> str:
        """``message`` with the job's folder left out and files called by their display names."""
        message = message.replace(os.fspath(job.folder) + os.sep, "")
        for generated, shown in job.names.items():
            message = message.replace(generated, shown)
        return message
