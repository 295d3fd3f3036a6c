"""The typer application object and the helpers every command shares.

Command modules (``cli/fuse.py``, ``cli/evaluate.py``, ...) import ``app`` from
here and decorate their functions with ``@app.command()``; ``cli/app.py``
imports them explicitly and provides :func:`main`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from allfocus.cli.exit_codes import ExitCode, exit_code_for

app = typer.Typer(
    name="allfocus",
    help="All-in-focus images from focus stacks or a single photo.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: Messages and progress go to stderr so stdout stays machine-readable (--json).
console = Console(stderr=True)

T = TypeVar("T")


def fail(message: str, code: ExitCode) -> typer.Exit:
    """Print an error line and return the typer.Exit to raise."""
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(int(code))


@contextmanager
def handle_errors() -> Iterator[None]:
    """Turn allfocus exceptions into one message and the documented exit code."""
    try:
        yield
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        raise fail("interrupted; no output was written", ExitCode.INTERRUPTED) from None
    except Exception as exc:
        code = exit_code_for(exc)
        if code == ExitCode.INTERNAL:
            raise
        raise fail(str(exc), code) from None


@contextmanager
def progress_bar(total: int, description: str, *, quiet: bool) -> Iterator[Callable[..., None]]:
    """A rich progress bar on stderr; yields ``advance(n, total=None, description=None)``.

    ``total`` resets the bar's length (for work whose size is known only once
    it starts); ``description`` replaces the text before the bar (for the
    step within a long stage). Silent when quiet or not a TTY.
    """
    if quiet or not sys.stderr.isatty():
        yield lambda n=1, total=None, description=None: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(description, total=total)

        def advance(n: int = 1, total: int | None = None, description: str | None = None) -> None:
            if total is not None:
                progress.update(task, total=total)
            if description is not None:
                progress.update(task, description=description)
            progress.advance(task, n)

        yield advance


#: ``--restore`` of ``fuse`` and ``batch``.
RestoreFlag = Annotated[
    bool,
    typer.Option(
        help="After fusing, deblur the places where no frame was sharp (useful for 2-3 "
        "frame stacks)."
    ),
]


#: ``--defocus-model`` of ``fuse`` and ``batch``.
DefocusModelFlag = Annotated[
    bool,
    typer.Option(
        help="depthmap and gacn: restore what no frame holds, with the blur fitted from the stack: "
        "the background under near objects' blurred rims, and surfaces between focus "
        "planes (stacks up to 256 MiB as float32, fused in memory for it)."
    ),
]


def defocus_params(method: str, enabled: bool) -> dict[str, bool]:
    """Method options for ``--defocus-model`` (``depthmap`` and ``gacn`` have them)."""
    from allfocus.fusion.depthmap import DEFOCUS_MODEL_METHODS, DEFOCUS_MODEL_OFF

    if enabled or method not in DEFOCUS_MODEL_METHODS:
        return {}
    return dict(DEFOCUS_MODEL_OFF)


#: ``--weights`` of ``fuse`` and ``batch``.
WeightsOption = Annotated[
    str | None,
    typer.Option(
        help="gacn only: the network's weights: auto (gacn_v1 for two frames, gacn_v4 for "
        "more), a shipped name (gacn_v1 to gacn_v4) or a .pt file written by "
        "scripts/train_gacn.py.",
        show_default=False,
    ),
]


def method_params(method: str, defocus_model: bool, weights: str | None) -> dict[str, Any]:
    """Method options from ``--defocus-model`` and ``--weights``.

    Raises ``ConfigError`` for ``--weights`` with a method that has none.
    """
    from allfocus._core.errors import ConfigError

    params: dict[str, Any] = dict(defocus_params(method, defocus_model))
    if weights is not None:
        if method != "gacn":
            raise ConfigError(
                f"--weights applies to --method gacn only (got --method {method}); "
                "drop --weights or use --method gacn"
            )
        params["weights"] = weights
    return params


def _restore_method(value: str) -> str:
    """Reject an unknown ``--restore-method`` at parse time (exit code 2), with or
    without ``--restore``: a typo is reported the same way by every command."""
    from allfocus.pipeline.config import RESTORE_CHOICES

    if value not in RESTORE_CHOICES:
        raise typer.BadParameter(f"must be one of {', '.join(RESTORE_CHOICES)}; got {value!r}")
    return value


#: ``--restore-method`` of ``fuse`` and ``batch``.
RestoreMethod = Annotated[
    str,
    typer.Option(
        help="learned (trained network, needs allfocus[learned]), defocus (classical "
        "deconvolution) or auto (learned when installed).",
        callback=_restore_method,
    ),
]
