"""The tools compared side by side: allfocus methods and the peer programs.

Each tool is a name, a family and a way to build its command line for a list
of frame files and an output file; ``run_all.py`` runs that command under
``_common.measure`` so every tool pays for its own start-up, reading and
writing. A tool that is not installed is left out with a line saying why.

Peers:

* enfuse (Debian ``enfuse``) in focus-stacking mode, ``ENFUSE_ARGS``.
* openfocus (PyPI ``openfocus`` 1.72.x) from its own virtual environment
  ``benchmarks/_work/peers-venv`` (``benchmarks/install_peers.sh`` makes it): it
  installs top-level packages named ``core`` and ``utils`` and wants torch, so it
  stays out of the project's environment. Every method its ``--method`` option
  offers is run on the CPU with 2 threads and no registration.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import WORK

ENFUSE_ARGS = ["--exposure-weight=0", "--saturation-weight=0", "--contrast-weight=1", "--hard-mask"]
OPENFOCUS_VENV = Path(os.environ.get("OPENFOCUS_VENV", WORK / "peers-venv"))
OPENFOCUS_ARGS = ["--align", "none", "--cpu", "--threads", "2"]
#: Methods that run a network with trained weights (marked in the tables).
ALLFOCUS_LEARNED = ("gacn",)
OPENFOCUS_LEARNED = ("stackmff", "stackmffv2", "stackmffv3")


@dataclass(frozen=True)
class Tool:
    """One fusion method of one program.

    ``name`` is the row label (``allfocus depthmap``, ``openfocus dct``),
    ``family`` the program, ``argv(frames, out)`` the command line, and
    ``suffix`` the output format it is asked to write (8-bit either way).
    """

    name: str
    family: str
    argv: Callable[[list[Path], Path], list[str]] = field(repr=False, compare=False)
    learned: bool = False
    suffix: str = ".png"

    @property
    def short(self) -> str:
        """Name without the program prefix for allfocus, as plot labels."""
        return self.name.split(" ", 1)[1] if self.family == "allfocus" else self.name


@dataclass
class Discovery:
    """Tools found, with one line per tool or program left out and version strings."""

    tools: list[Tool] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)


def _allfocus(into: Discovery) -> None:
    import numpy as np

    import allfocus
    from allfocus.fusion import fuse, list_methods

    exe = str(Path(sys.executable).with_name("allfocus"))
    into.versions["allfocus"] = allfocus.__version__
    tiny = np.random.default_rng(0).random((2, 64, 64)).astype(np.float32)
    for method in list_methods():
        # A method whose optional dependency (torch, weights) is missing is
        # registered but cannot run: try it on a tiny stack first.
        try:
            fuse(tiny, method=method)
        except Exception as exc:  # any failure means: leave it out, say why
            into.skipped.append(f"allfocus {method}: skipped, it does not run here ({exc})")
            continue

        def argv(frames: list[Path], out: Path, method: str = method) -> list[str]:
            return [
                exe,
                "fuse",
                *map(str, frames),
                "-o",
                str(out),
                "--method",
                method,
                "--align",
                "none",
                "-q",
                "--overwrite",
            ]

        learned = method in ALLFOCUS_LEARNED
        into.tools.append(Tool(f"allfocus {method}", "allfocus", argv, learned=learned))


def _enfuse(into: Discovery) -> None:
    exe = shutil.which("enfuse")
    if exe is None:
        into.skipped.append("enfuse: not installed, skipped (run benchmarks/install_peers.sh)")
        return
    out = subprocess.run([exe, "--version"], capture_output=True, text=True)
    line = (out.stdout or out.stderr).splitlines()[0].strip()
    into.versions["enfuse"] = line.removeprefix("enfuse ").strip()

    def argv(frames: list[Path], out: Path) -> list[str]:
        return [exe, *ENFUSE_ARGS, f"--output={out}", *map(str, frames)]

    # TIFF, not PNG: enfuse 4.2's PNG writer stops with "known incorrect sRGB
    # profile" (libpng's check of the ICC profile it copies from the input) on
    # some Lytro and MFIFB JPEGs, and writes nothing.
    into.tools.append(Tool("enfuse", "enfuse", argv, suffix=".tif"))


def _openfocus(into: Discovery) -> None:
    exe = OPENFOCUS_VENV / "bin" / "openfocus"
    if not exe.exists():
        into.skipped.append(
            f"openfocus: not installed in {OPENFOCUS_VENV}, skipped "
            "(run benchmarks/install_peers.sh)"
        )
        return
    python = OPENFOCUS_VENV / "bin" / "python"
    probe = "import importlib.metadata as m; print(m.version('openfocus'), m.version('torch'))"
    out = subprocess.run([str(python), "-c", probe], capture_output=True, text=True)
    if out.returncode == 0:
        of_version, torch_version = out.stdout.split()
        into.versions["openfocus"] = of_version
        into.versions["torch (openfocus venv)"] = torch_version
    helptext = subprocess.run([str(exe), "--help"], capture_output=True, text=True).stdout
    found = re.search(r"--method \{([^}]*)\}", helptext)
    if found is None:
        into.skipped.append("openfocus: `openfocus --help` lists no --method choices, skipped")
        return
    for method in found.group(1).split(","):

        def argv(frames: list[Path], out: Path, method: str = method) -> list[str]:
            return [
                str(exe),
                "-i",
                *map(str, frames),
                "-o",
                str(out),
                "-m",
                method,
                *OPENFOCUS_ARGS,
            ]

        learned = method in OPENFOCUS_LEARNED
        into.tools.append(Tool(f"openfocus {method}", "openfocus", argv, learned=learned))


def discover(select: list[str] | None = None) -> Discovery:
    """Find every available tool; ``select`` keeps names containing one of its words."""
    found = Discovery()
    _allfocus(found)
    _enfuse(found)
    _openfocus(found)
    if select:
        found.tools = [t for t in found.tools if any(word in t.name for word in select)]
    return found


if __name__ == "__main__":
    d = discover()
    for tool in d.tools:
        print(f"{tool.name:28s} {tool.family:10s} {'learned' if tool.learned else ''}")
    for line in d.skipped:
        print(line)
    print(d.versions)
