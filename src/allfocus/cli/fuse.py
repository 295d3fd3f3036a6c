"""``allfocus fuse`` and ``allfocus methods``."""

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
    handle_errors,
    method_params,
    progress_bar,
)


@app.command()
def fuse(
    frames: Annotated[
        list[str],
        typer.Argument(help="Frame files, glob patterns, or one folder.", show_default=False),
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Fused image to write.")],
    method: Annotated[
        str, typer.Option("--method", "-m", help="Fusion method (see `allfocus methods`).")
    ] = "depthmap",
    align: Annotated[
        str,
        typer.Option(
            help="auto (detect motion and choose the model), none, translation, similarity, "
            "affine or homography."
        ),
    ] = "auto",
    transforms: Annotated[
        Path | None, typer.Option(help="Apply a transforms.json saved by `allfocus align`.")
    ] = None,
    drop_unaligned: Annotated[
        bool, typer.Option(help="Drop frames that cannot be aligned instead of failing.")
    ] = False,
    depth_map: Annotated[
        Path | None,
        typer.Option(help="Also write the depth map (TIFF: float frame index; PNG: 16-bit)."),
    ] = None,
    exposure_match: Annotated[
        bool, typer.Option(help="Match frame brightness (exposure, vignetting) before fusing.")
    ] = True,
    streaming: Annotated[
        bool | None,
        typer.Option(
            help="Read frames one at a time (memory independent of the frame count). "
            "Default: automatic: on for depthmap stacks over 256 MiB as float32 (below, "
            "they are fused in memory for --defocus-model), for pyramid when the stack "
            "would not fit in memory; gacn over 256 MiB reads the stack twice."
        ),
    ] = None,
    defocus_model: DefocusModelFlag = True,
    weights: WeightsOption = None,
    restore: RestoreFlag = False,
    restore_method: RestoreMethod = "auto",
    overwrite: Annotated[bool, typer.Option(help="Replace existing output files.")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Print nothing but errors.")] = False,
) -> None:
    """Fuse a focus stack into one all-in-focus image (and optionally a depth map)."""
    from allfocus.pipeline import FuseConfig, fuse_files

    with handle_errors():
        config = FuseConfig(
            method=method,
            align=align,
            transforms=str(transforms) if transforms is not None else None,
            drop_unaligned=drop_unaligned,
            exposure_match=exposure_match,
            streaming="auto" if streaming is None else ("always" if streaming else "never"),
            restore=restore_method if restore else None,
            params=method_params(method, defocus_model, weights),
        )
        stages = ("read", "align", "exposure", "fuse", *(("restore",) if restore else ()), "write")
        with progress_bar(len(stages), "fusing", quiet=quiet) as advance:

            def report(stage: str, done: int, total: int) -> None:
                if stage not in stages:
                    return
                if done == total:
                    advance(1, description="fusing")
                elif total > 1:  # frames or tiles within a long stage
                    advance(0, description=f"fusing: {stage} {done}/{total}")

            result = fuse_files(
                frames,
                output,
                config=config,
                depth_map=depth_map,
                overwrite=overwrite,
                progress=report,
            )
    if not quiet:
        for name, why in result.dropped.items():
            console.print(f"[yellow]dropped[/] {escape(str(name))}: {escape(str(why))}")
        console.print(
            f"fused {len(result.frames)} frames with {method} "
            f"(alignment: {result.align_model}; {result.how}) in {result.seconds:.1f} s"
        )
        console.print(f"wrote {escape(str(result.output))}")
        if result.depth_map is not None:
            console.print(f"wrote {escape(str(result.depth_map))}")
        _note_outputs_among_frames(frames, [result.output, result.depth_map])


def _note_outputs_among_frames(frames: list[str], outputs: list[Path | None]) -> None:
    """Say so when an output went into a folder of the frames: fusing that folder
    (or a pattern in it) again would take the output for one more frame."""
    from allfocus import io

    folders = {Path(p).parent.resolve() for p in io.find_frames(frames)}
    among = [p for p in outputs if p is not None and p.parent.resolve() in folders]
    if among:
        names = " and ".join(escape(p.name) for p in among)
        which = "them for more frames" if len(among) > 1 else "it for one more frame"
        console.print(
            f"[yellow]note[/] {names} went into the frames' folder: fusing that folder again "
            f"would take {which}; write outputs to a folder of their own"
        )


@app.command()
def methods() -> None:
    """List the fusion and sharpening methods."""
    from allfocus.fusion import DEFAULT_METHOD, FUSION_METHODS

    typer.echo("fusion methods (allfocus fuse --method):")
    for name in FUSION_METHODS.names():
        mark = " (default)" if name == DEFAULT_METHOD else ""
        typer.echo(f"  {name}{mark}: {FUSION_METHODS.describe(name)}")
    try:
        from allfocus.restore import SHARPEN_METHODS
    except ImportError:  # restoration not available in this build
        return
    typer.echo("sharpen methods (allfocus sharpen --method):")
    for name in SHARPEN_METHODS.names():
        typer.echo(f"  {name}: {SHARPEN_METHODS.describe(name)}")


@app.command()
def sample(
    outdir: Annotated[Path, typer.Argument(help="Folder for the results.")] = Path(
        "allfocus-sample"
    ),
    method: Annotated[str, typer.Option("--method", "-m", help="Fusion method.")] = "depthmap",
) -> None:
    """Fuse the small sample stack bundled with allfocus (a quick check of an install)."""
    from importlib.resources import files

    from allfocus.pipeline import FuseConfig, fuse_files

    with handle_errors():
        source = Path(str(files("allfocus.data") / "sample"))
        outdir.mkdir(parents=True, exist_ok=True)
        report = fuse_files(
            [str(source)],
            outdir / "fused.png",
            config=FuseConfig(method=method),
            depth_map=outdir / "depth.png",
            overwrite=True,
        )
    console.print(
        f"fused the {len(report.frames)}-frame sample from {escape(str(source))} with {method} "
        f"(alignment: {report.align_model}) in {report.seconds:.1f} s"
    )
    typer.echo(f"fused image: {report.output}")
    typer.echo(f"depth map:   {report.depth_map}")
