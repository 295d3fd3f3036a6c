"""Helpers shared by the benchmark scripts: timing with peak memory, data paths,
and writing one section of docs/benchmarks.md between markers."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
WORK = ROOT / "benchmarks" / "_work"

_MEASURE = r"""
import json, resource, subprocess, sys, time
t = time.perf_counter()
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
dt = time.perf_counter() - t
use = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": proc.returncode, "seconds": dt, "peak_mb": use.ru_maxrss / 1024,
                  "user_s": use.ru_utime, "sys_s": use.ru_stime,
                  "stderr": proc.stderr[-2000:]}))
"""


def data_dir() -> Path | None:
    """../shared/data beside the repository, or $ALLFOCUS_DATA; None when absent."""
    env = os.environ.get("ALLFOCUS_DATA")
    path = Path(env) if env else ROOT.parent / "shared" / "data"
    return path if path.is_dir() else None


def measure(cmd: list[str], env: dict[str, str] | None = None) -> dict:
    """Run ``cmd`` in a child process; return rc, wall seconds, peak resident memory (MB)
    and CPU seconds (``user_s``, ``sys_s``).

    The command runs under a small Python wrapper so that its own peak RSS
    (``RUSAGE_CHILDREN``) is isolated from the benchmark process. ``env``
    adds to (or overrides) this process's environment.
    """
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, *cmd],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env} if env else None,
    )
    return json.loads(out.stdout)


def machine_line() -> str:
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )


def write_section(name: str, title: str, body: str) -> None:
    """Replace (or append) the section ``name`` of docs/benchmarks.md."""
    DOC.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# Benchmarks\n\nEach section is written by the script it names; "
        "numbers are from one run on the machine stated.\n"
    )
    text = DOC.read_text() if DOC.exists() else header
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n## {title}\n\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    text = (
        pattern.sub(lambda _: block, text)
        if pattern.search(text)
        else text.rstrip() + "\n\n" + block + "\n"
    )
    tmp = DOC.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(DOC)


def markdown_table(headers: list[str], rows: list[list]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
