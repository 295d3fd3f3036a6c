"""``allfocus align``: register a stack and write the aligned frames plus transforms.json."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from allfocus.cli._app import app, console, handle_errors, progress_bar


@app.command()
def align(
    frames: Annotated[
        list[str],
        typer.Argument(help="Frame files, glob patterns, or one folder.", show_default=False),
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the aligned frames.")],
    model: Annotated[
        str,
        typer.Option(help="translation, similarity, affine, homography or auto."),
    ] = "auto",
    crop: Annotated[
        str,
        typer.Option(help="common: crop to the area every frame covers; none: keep full size."),
    ] = "common",
    drop_unaligned: Annotated[
        bool, typer.Option(help="Drop frames that cannot be aligned instead of failing.")
    ] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace existing output files.")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Print nothing but errors.")] = False,
) -> None:
    """Align a focus stack (shake, focus breathing, drift); write frames and transforms.json."""
    from allfocus.pipeline import align_files

    with handle_errors():
        with progress_bar(1, "aligning", quiet=quiet) as advance:

            def report(stage: str, done: int, total: int) -> None:
                if stage == "align" and done == total:
                    advance(1)

            result = align_files(
                frames,
                output,
                model=model,
                crop=crop,
                drop_unaligned=drop_unaligned,
                overwrite=overwrite,
                progress=report,
            )
    if not quiet:
        for name, why in result.dropped.items():
            console.print(f"[yellow]dropped[/] {escape(str(name))}: {escape(str(why))}")
        console.print(
            f"aligned {len(result.outputs)} frames (model: {result.model}) in "
            f"{result.seconds:.1f} s; wrote them and {escape(result.transforms.name)} to "
            f"{escape(str(output))}"
        )
