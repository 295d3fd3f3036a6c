"""``allfocus serve``: the local web app for people who prefer a browser page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from allfocus.cli._app import app, console, handle_errors


@app.command()
def serve(
    host: Annotated[
        str,
        typer.Option(help="Address to listen on; anything but loopback exposes the app."),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    keep_minutes: Annotated[
        float, typer.Option(help="Delete uploads and results this long after a job ends.")
    ] = 60.0,
    max_file_mb: Annotated[float, typer.Option(help="Largest accepted file, in MB.")] = 200.0,
    max_frames: Annotated[int, typer.Option(help="Most frames in one stack.")] = 500,
    max_pixels: Annotated[
        int | None,
        typer.Option(help="Largest width x height of a frame [default: the io limit]."),
    ] = None,
    work_dir: Annotated[
        Path | None,
        typer.Option(help="Folder for the temporary job files [default: the system's]."),
    ] = None,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the page in the default web browser.")
    ] = False,
) -> None:
    """Start the web app: drag and drop photos in a browser page (Ctrl-C to stop)."""
    with handle_errors():
        from allfocus._core.errors import MissingDependencyError, missing_dependency
        from allfocus.web.settings import DEFAULT_MAX_PIXELS, WebSettings

        try:
            import uvicorn

            from allfocus.web.app import create_app
        except MissingDependencyError:
            raise
        except ImportError:
            raise missing_dependency("uvicorn", "web") from None

        settings = WebSettings(
            max_file_bytes=round(max_file_mb * 1024 * 1024),
            max_frames=max_frames,
            max_pixels=max_pixels if max_pixels is not None else DEFAULT_MAX_PIXELS,
            keep_minutes=keep_minutes,
            work_dir=work_dir,
            host=host,
        )
        _check_port(host, port)
        url_host = f"[{host}]" if ":" in host else host
        url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else url_host}:{port}/"
        if not settings.loopback:
            console.print(
                f"[bold yellow]warning:[/] listening on {host}, not on this computer only: "
                "anyone who can reach this address can upload photos and download results. "
                "Use --host 127.0.0.1 unless you mean it.",
                highlight=False,
            )
        console.print(f"allfocus web app at [bold]{url}[/] (Ctrl-C to stop)", highlight=False)
        if open_browser:
            import webbrowser

            webbrowser.open(url)
        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


def _check_port(host: str, port: int) -> None:
    """Fail with a clear message (not a traceback) when the address cannot be used."""
    import socket

    from allfocus._core.errors import ConfigError

    if not 0 < port < 65536:
        raise ConfigError(f"--port must be between 1 and 65535; got {port}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}); "
                "the port may be in use: choose another with --port"
            ) from None
