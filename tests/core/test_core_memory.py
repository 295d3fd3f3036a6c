"""allfocus._core.memory: large freed blocks are reused rather than faulted in again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from allfocus._core import memory

glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
    reason="mallopt is glibc's",
)

# Allocate, touch and free a 72 MB block (a decoded 24 MP frame) on a thread,
# as the frame reader does, 12 times; print the minor page faults this cost.
_CHILD = textwrap.dedent(
    """
    import json, resource, sys, threading
    import numpy as np
    from allfocus._core.memory import retain_freed_memory

    applied = retain_freed_memory()

    def churn():
        for _ in range(12):
            block = np.empty(72_000_000, dtype=np.uint8)
            block.fill(1)
            del block

    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    thread = threading.Thread(target=churn)
    thread.start()
    thread.join()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    print(json.dumps({"applied": applied, "faults": faults}))
    """
)


def _child(**env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if k != "ALLFOCUS_MALLOC"}
    environ["NUMPY_MADVISE_HUGEPAGE"] = "0"  # 4 KiB pages either way: faults count pages
    environ.update(env)
    out = subprocess.run(
        [sys.executable, "-c", _CHILD], env=environ, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@glibc
def test_freed_blocks_are_reused_without_page_faults():
    tuned = _child()
    default = _child(ALLFOCUS_MALLOC="default")
    assert tuned["applied"] is True
    assert default["applied"] is False
    # by default each 72 MB block is mmap-ed afresh and faulted in page by
    # page (17 578 pages), 12 times over; tuned, only the first block is
    assert default["faults"] > 11 * 17_000
    assert tuned["faults"] < 3 * 17_600


@glibc
def test_numpy_huge_pages_are_turned_off():
    child = textwrap.dedent(
        """
        from allfocus._core.memory import retain_freed_memory
        try:
            from numpy._core.multiarray import _set_madvise_hugepage
        except ImportError:  # NumPy 1.x
            from numpy.core.multiarray import _set_madvise_hugepage
        retain_freed_memory()
        print(_set_madvise_hugepage(False))
        """
    )
    environ = {k: v for k, v in os.environ.items() if k != "ALLFOCUS_MALLOC"}
    environ.pop("NUMPY_MADVISE_HUGEPAGE", None)
    out = subprocess.run(
        [sys.executable, "-c", child], env=environ, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"  # the previous setting: already off


def test_idempotent_and_env_opt_out(monkeypatch):
    monkeypatch.setattr(memory, "_done", None)
    monkeypatch.setenv("ALLFOCUS_MALLOC", "default")
    assert memory.retain_freed_memory() is False
    monkeypatch.delenv("ALLFOCUS_MALLOC")
    assert memory.retain_freed_memory() is False  # the first answer stands
