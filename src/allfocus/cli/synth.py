"""``allfocus synth``: render a synthetic focal stack with ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from allfocus.cli._app import app, console, handle_errors


@app.command()
def synth(
    outdir: Annotated[Path, typer.Argument(help="Folder to create for the frames.")],
    frames: Annotated[int, typer.Option("--frames", "-n", help="Number of frames.")] = 5,
    width: Annotated[int, typer.Option(help="Image width in pixels.")] = 640,
    height: Annotated[int, typer.Option(help="Image height in pixels.")] = 480,
    max_radius: Annotated[float, typer.Option(help="Largest blur radius in pixels.")] = 6.0,
    noise: Annotated[float, typer.Option(help="Gaussian noise sigma in [0, 1] units.")] = 0.0,
    grey: Annotated[bool, typer.Option(help="Render grey frames instead of RGB.")] = False,
    scene: Annotated[
        str,
        typer.Option(
            help="objects: textured objects over a slanted background; label: a slanted "
            "printed surface (bars and flat patches)."
        ),
    ] = "objects",
    bits: Annotated[int, typer.Option(help="Bit depth of the PNG files: 8 or 16.")] = 8,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    overwrite: Annotated[bool, typer.Option(help="Replace existing files.")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet")] = False,
) -> None:
    """Render a synthetic focus stack plus its ground truth (truth/sharp.png, truth/depth.tif)."""
    with handle_errors():
        from allfocus.synth.files import write_synthetic_stack

        written = write_synthetic_stack(
            outdir,
            num_frames=frames,
            shape=(height, width),
            max_radius=max_radius,
            noise=noise,
            color=not grey,
            scene=scene,
            bits=bits,
            seed=seed,
            overwrite=overwrite,
        )
    if not quiet:
        console.print(
            f"wrote {len(written) - 2} frames to {escape(str(outdir))}, and its ground truth "
            "to truth/sharp.png and truth/depth.tif there"
        )
