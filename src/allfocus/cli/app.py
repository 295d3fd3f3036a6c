"""Entry point of the ``allfocus`` command.

Commands live in their own modules and register on the shared typer app;
importing them here is the whole wiring. Heavy libraries are imported inside
the commands so ``allfocus --help`` stays fast.
"""

from __future__ import annotations

import sys

from allfocus.cli import align, batch, evaluate, fuse, serve, sharpen, synth  # noqa: F401
from allfocus.cli._app import app


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code."""
    from allfocus._core.memory import retain_freed_memory

    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] != "serve":  # a long-running server gives memory back
        retain_freed_memory()  # before any thread starts: see allfocus._core.memory
    try:
        app(args=argv, prog_name="allfocus", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        return code if isinstance(code, int) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
