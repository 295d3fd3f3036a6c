"""``allfocus sharpen``: one partly out-of-focus photo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from allfocus.cli._app import app, console, handle_errors, progress_bar


@app.command()
def sharpen(
    image: Annotated[Path, typer.Argument(help="The photo to sharpen.", show_default=False)],
    output: Annotated[Path, typer.Option("-o", "--output", help="Image to write.")],
    method: Annotated[
        str,
        typer.Option(
            "--method",
            "-m",
            help="defocus (default: per-region deconvolution), learned (trained network, "
            "needs allfocus[learned]) or a seed operator.",
        ),
    ] = "defocus",
    strength: Annotated[
        float, typer.Option(help="0 returns the input, 1 the full effect.", min=0.0, max=3.0)
    ] = 1.0,
    defocus_map: Annotated[
        Path | None,
        typer.Option(help="Also write the estimated blur radius map (TIFF: pixels)."),
    ] = None,
    keep_colours: Annotated[
        bool,
        typer.Option(
            help="learned method: change only the brightness detail and keep the photo's "
            "colours exactly (the network's own colour may move hue by a few degrees). "
            "The other methods always do this."
        ),
    ] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace existing output files.")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Print nothing but errors.")] = False,
) -> None:
    """Sharpen one photo: estimate its defocus map and deconvolve region by region."""
    from allfocus.pipeline import sharpen_file

    with handle_errors():
        with progress_bar(1, "sharpening", quiet=quiet) as advance:
            report = sharpen_file(
                image,
                output,
                method=method,
                strength=strength,
                defocus_map=defocus_map,
                keep_colours=keep_colours,
                overwrite=overwrite,
                progress=lambda done, total: advance(1, total=total),
            )
            if method != "learned":
                advance(1)
    if not quiet:
        console.print(f"sharpened {escape(image.name)} with {method} in {report.seconds:.1f} s")
        console.print(f"wrote {escape(str(report.output))}")
        if report.defocus_map is not None:
            console.print(f"wrote {escape(str(report.defocus_map))}")
