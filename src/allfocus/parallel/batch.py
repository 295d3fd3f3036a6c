"""Fuse many focus stacks on a ``dask.distributed`` cluster.

A *stack* is a folder of frames. :func:`plan_batch` turns the user's inputs
(a folder of stack folders, stack folders, or glob patterns matching them)
into one job per stack; :func:`fuse_batch` runs the jobs through
:func:`allfocus.pipeline.fuse_files` on the workers of the client it is
given, one task per stack, and reports each outcome as it completes. A stack
that fails is reported without stopping the others; stacks whose output
already exists are skipped (so an interrupted batch resumes where it
stopped: outputs are written atomically, never half).

No client is created here on import or behind the caller's back:
:func:`local_client` and :func:`connect` are context managers the caller
opens and passes in.
"""

from __future__ import annotations

import glob
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from allfocus._core.errors import InputError, missing_dependency
from allfocus.io import IMAGE_EXTENSIONS, OUTPUT_FORMATS, natural_key
from allfocus.io._paths import unique_paths
from allfocus.pipeline.config import FuseConfig

log = logging.getLogger(__name__)

_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class BatchJob:
    """One stack to fuse.

    Attributes
    ----------
    name : str
        The stack's name (its folder's name), unique in the batch.
    folder : pathlib.Path
        The folder holding its frames.
    output : pathlib.Path
        The fused image to write.
    """

    name: str
    folder: Path
    output: Path


@dataclass(frozen=True)
class StackOutcome:
    """What happened to one stack.

    Attributes
    ----------
    name : str
        The stack's name.
    output : pathlib.Path
        Its output file.
    status : str
        ``"fused"``, ``"skipped"`` (output already there) or ``"failed"``.
    message : str
        Why it failed (empty otherwise).
    frames : int
        Frames fused (0 when skipped or failed).
    seconds : float
        Wall time from submission to completion (queueing included).
    """

    name: str
    output: Path
    status: str
    message: str = ""
    frames: int = 0
    seconds: float = 0.0


def _has_images(folder: Path) -> bool:
    return any(p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS for p in folder.iterdir())


def _same_folder(a: Path, b: Path | None) -> bool:
    return b is not None and b.is_dir() and a.samefile(b)


def find_stacks(
    inputs: Sequence[str | os.PathLike] | str | os.PathLike,
    *,
    outdir: str | os.PathLike | None = None,
) -> list[Path]:
    """The stack folders named by ``inputs``.

    Parameters
    ----------
    inputs : sequence of str or path-like
        Each item is a folder holding frames (one stack), a folder of such
        folders (each sub-folder holding images is a stack), or a glob
        pattern matching stack folders.
    outdir : str or path-like, optional
        The batch's output folder: never a stack, though it holds images
        once a run has written there (``-o STACKS/out`` beside the stacks
        it fuses).

    Returns
    -------
    list of pathlib.Path
        In the order given; within a folder or pattern sorted naturally.

    Raises
    ------
    InputError
        If an item is not a folder, a pattern matches no folder, a folder
        holds neither images nor stack folders, or a stack folder is
        ``outdir``.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    out = Path(outdir) if outdir is not None else None
    stacks: list[Path] = []
    for item in inputs:
        text = os.fspath(item)
        path = Path(text)
        if path.is_dir():
            if _same_folder(path, out):
                raise InputError(
                    f"{text!r} is the output folder too; write the outputs to another folder (-o)"
                )
            if _has_images(path):
                stacks.append(path)
                continue
            subs = sorted(
                (
                    p
                    for p in path.iterdir()
                    if p.is_dir() and not _same_folder(p, out) and _has_images(p)
                ),
                key=lambda p: natural_key(p.name),
            )
            if not subs:
                raise InputError(
                    f"folder {text!r} holds neither image files nor folders of them; "
                    "pass stack folders or a folder of stack folders"
                )
            stacks.extend(subs)
        elif _GLOB_CHARS & set(text):
            matches = sorted(
                (
                    Path(m)
                    for m in glob.glob(text, recursive=True)
                    if os.path.isdir(m) and not _same_folder(Path(m), out)
                ),
                key=natural_key,
            )
            if not matches:
                raise InputError(f"pattern {text!r} matches no folder; check the pattern")
            stacks.extend(matches)
        elif path.exists():
            raise InputError(f"{text!r} is a file; batch inputs are stack folders")
        else:
            raise InputError(f"{text!r}: no such folder; check the path")
    return unique_paths(stacks)


def plan_batch(
    inputs: Sequence[str | os.PathLike] | str | os.PathLike,
    outdir: str | os.PathLike,
    *,
    suffix: str = ".tif",
) -> list[BatchJob]:
    """One job per stack folder in ``inputs``, writing ``outdir/<stack name><suffix>``.

    Raises
    ------
    InputError
        If ``suffix`` is not an output format, or two stacks share a name
        (their outputs would collide).
    """
    if suffix.lower() not in OUTPUT_FORMATS:
        raise InputError(f"suffix must be one of {', '.join(OUTPUT_FORMATS)}; got {suffix!r}")
    outdir = Path(outdir)
    jobs: list[BatchJob] = []
    names: dict[str, Path] = {}
    for folder in find_stacks(inputs, outdir=outdir):
        name = folder.name
        if name in names:
            raise InputError(
                f"stacks {os.fspath(names[name])!r} and {os.fspath(folder)!r} have the same name "
                f"{name!r}, so their outputs would collide; rename one folder"
            )
        names[name] = folder
        jobs.append(BatchJob(name=name, folder=folder, output=outdir / f"{name}{suffix}"))
    return jobs


def _message(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _fuse_job(folder: str, output: str, config: FuseConfig, overwrite: bool) -> tuple[int, str]:
    """Run on a worker: fuse one stack folder; return (frames, "") or (0, why it failed).

    Errors are returned rather than raised so that an expected failure (a
    bad stack) is not logged as a crashed task by the workers.
    """
    from allfocus.pipeline import fuse_files

    try:
        report = fuse_files([folder], output, config=config, overwrite=overwrite)
    except Exception as exc:  # one bad stack must not stop the batch
        return 0, _message(exc)
    return len(report.frames), ""


def fuse_batch(
    jobs: Sequence[BatchJob],
    *,
    client: Any = None,
    config: FuseConfig | None = None,
    overwrite: bool = False,
    progress: Callable[[StackOutcome, int, int], None] | None = None,
) -> list[StackOutcome]:
    """Fuse every stack of ``jobs``, in parallel on ``client``'s workers.

    Parameters
    ----------
    jobs : sequence of BatchJob
        From :func:`plan_batch`. Output folders must exist.
    client : distributed.Client or None
        Where to run: one task per stack on this client's cluster. ``None``
        runs the stacks one after another in this process (no Dask needed).
    config : FuseConfig, optional
        Method, alignment, exposure and restoration (``restore``) options for
        every stack.
    overwrite : bool
        Fuse stacks whose output exists instead of skipping them.
    progress : callable, optional
        Called as ``progress(outcome, done, total)`` as each stack finishes
        (skipped ones included), in completion order.

    Returns
    -------
    list of StackOutcome
        In the order of ``jobs``.

    Notes
    -----
    A stack that fails (unreadable frame, too few frames, alignment
    failure...) gets status ``"failed"`` with the error's message; the others
    go on. A worker that dies takes its task with it; the scheduler retries
    the task elsewhere (``distributed``'s default), and reports it failed
    if it keeps killing workers.
    """
    config = config or FuseConfig()
    total = len(jobs)
    outcomes: dict[str, StackOutcome] = {}
    done = 0

    def record(outcome: StackOutcome) -> None:
        nonlocal done
        outcomes[outcome.name] = outcome
        done += 1
        if outcome.status == "failed":
            log.info("stack %s failed: %s", outcome.name, outcome.message)
        if progress is not None:
            progress(outcome, done, total)

    pending: list[BatchJob] = []
    for job in jobs:
        if job.output.exists() and not overwrite:
            record(StackOutcome(job.name, job.output, "skipped"))
        else:
            pending.append(job)

    if client is None:
        for job in pending:
            start = time.perf_counter()
            frames, why = _fuse_job(str(job.folder), str(job.output), config, overwrite)
            record(_outcome(job, frames, why, time.perf_counter() - start))
    elif pending:
        try:
            from distributed import as_completed
        except ImportError:
            raise missing_dependency("distributed", "dask") from None
        submitted = {}
        started = {}
        for job in pending:
            future = client.submit(
                _fuse_job,
                str(job.folder),
                str(job.output),
                config,
                overwrite,
                key=f"allfocus-fuse-{job.name}-{os.urandom(4).hex()}",
                pure=False,
            )
            submitted[future] = job
            started[future] = time.perf_counter()
        for future in as_completed(list(submitted)):
            job = submitted[future]
            seconds = time.perf_counter() - started[future]
            if future.status == "error":  # the task itself died (worker lost ...)
                outcome = _outcome(job, 0, _message(future.exception()), seconds)
            else:
                frames, why = future.result()
                outcome = _outcome(job, frames, why, seconds)
            record(outcome)
            future.release()
    return [outcomes[job.name] for job in jobs]


def _outcome(job: BatchJob, frames: int, why: str, seconds: float) -> StackOutcome:
    if why:
        return StackOutcome(job.name, job.output, "failed", why, seconds=seconds)
    return StackOutcome(job.name, job.output, "fused", frames=frames, seconds=seconds)


def _worker_setup() -> None:
    """Run on each worker of a local cluster: one worker process per core, so no
    OpenCV pool; and freed memory kept for reuse, as the ``allfocus`` command
    keeps it (:func:`allfocus._core.memory.retain_freed_memory`)."""
    import cv2

    from allfocus._core.memory import retain_freed_memory

    cv2.setNumThreads(1)
    retain_freed_memory()


@contextmanager
def local_client(workers: int = 2, *, memory_limit: str | int = "auto") -> Iterator[Any]:
    """A ``distributed.Client`` on a new local cluster, closed on exit.

    The cluster listens on 127.0.0.1 only, runs ``workers`` worker processes
    with one thread each, and OpenCV in each worker is set to one thread (the
    workers, not OpenCV's pool, use the cores) and freed memory is kept for
    reuse as in the ``allfocus`` command; it has no dashboard and keeps
    ``distributed``'s own logging to errors.

    Parameters
    ----------
    workers : int
        Worker processes.
    memory_limit : str or int
        Per-worker memory limit, as ``distributed.LocalCluster`` takes it.

    Yields
    ------
    distributed.Client
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise missing_dependency("distributed", "dask") from None
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError(f"workers must be a positive integer; got {workers!r}")
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            # no dashboard; the scheduler's small HTTP server (health
            # checks) on a free loopback port rather than 8787
            scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
            memory_limit=memory_limit,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(_worker_setup)
        yield client


@contextmanager
def connect(address: str) -> Iterator[Any]:
    """A ``distributed.Client`` connected to the scheduler at ``address``, closed on exit."""
    try:
        from distributed import Client
    except ImportError:
        raise missing_dependency("distributed", "dask") from None
    with Client(address) as client:
        yield client


__all__ = [
    "BatchJob",
    "StackOutcome",
    "connect",
    "find_stacks",
    "fuse_batch",
    "local_client",
    "plan_batch",
]
