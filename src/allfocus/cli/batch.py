"""``allfocus batch``: fuse many focus stacks on a Dask cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from allfocus.cli._app import (
    DefocusModelFlag,
    RestoreFlag,
    RestoreMethod,
    WeightsOption,
    app,
    console,
    fail,
    handle_errors,
    method_params,
    progress_bar,
)
from allfocus.cli.exit_codes import ExitCode


@app.command()
def batch(
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="Stack folders, a folder of stack folders, or glob patterns matching them.",
            show_default=False,
        ),
    ],
    outdir: Annotated[
        Path, typer.Option("-o", "--output-dir", help="Folder for the fused images.")
    ],
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Address of a running dask.distributed scheduler (tcp://host:8786); "
            "default: start a local cluster on 127.0.0.1."
        ),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes of the local cluster.")] = 2,
    method: Annotated[
        str, typer.Option("--method", "-m", help="Fusion method (see `allfocus methods`).")
    ] = "depthmap",
    align: Annotated[
        str,
        typer.Option(help="auto, none, translation, similarity, affine or homography (as `fuse`)."),
    ] = "auto",
    exposure_match: Annotated[
        bool, typer.Option(help="Match frame brightness before fusing.")
    ] = True,
    defocus_model: DefocusModelFlag = True,
    weights: WeightsOption = None,
    restore: RestoreFlag = False,
    restore_method: RestoreMethod = "auto",
    suffix: Annotated[
        str, typer.Option(help="Output format, by extension: .tif, .png or .jpg.")
    ] = ".tif",
    overwrite: Annotated[
        bool, typer.Option(help="Fuse stacks whose output exists instead of skipping them.")
    ] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Print nothing but errors.")] = False,
) -> None:
    """Fuse many focus stacks, one output per stack folder, in parallel.

    Finished outputs are skipped (rerun to resume); a stack that fails is
    reported and the others go on. Exit code 0 when every stack is fused or
    skipped, 2 when some failed.
    """
    from allfocus.parallel.batch import connect, fuse_batch, local_client, plan_batch
    from allfocus.pipeline import FuseConfig

    with handle_errors():
        config = FuseConfig(
            method=method,
            align=align,
            exposure_match=exposure_match,
            restore=restore_method if restore else None,
            params=method_params(method, defocus_model, weights),
        )
        jobs = plan_batch(inputs, outdir, suffix=suffix)
        outdir.mkdir(parents=True, exist_ok=True)
        opened = connect(scheduler) if scheduler else local_client(workers)
        with opened as client, progress_bar(len(jobs), "fusing stacks", quiet=quiet) as advance:
            outcomes = fuse_batch(
                jobs,
                client=client,
                config=config,
                overwrite=overwrite,
                progress=lambda outcome, done, total: advance(1),
            )
    failed = [o for o in outcomes if o.status == "failed"]
    fused = sum(o.status == "fused" for o in outcomes)
    skipped = sum(o.status == "skipped" for o in outcomes)
    for outcome in failed:
        console.print(
            f"[red]failed[/] {escape(str(outcome.name))}: {escape(str(outcome.message))}",
            highlight=False,
        )
    if not quiet:
        console.print(
            f"{len(outcomes)} stacks: {fused} fused, {skipped} skipped "
            f"(output exists), {len(failed)} failed; outputs in {escape(str(outdir))}",
            highlight=False,
        )
    if failed:
        raise fail(f"{len(failed)} of {len(outcomes)} stacks failed", ExitCode.BAD_INPUT)
