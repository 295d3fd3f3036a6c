"""Keep freed memory in the process instead of handing it back to the system.

Fusing a stack allocates and frees the same large arrays frame after frame: a
decoded 24 MP frame is 72 MB, and OpenCV's JPEG decoder makes two of them.
glibc's allocator serves every block over 32 MB (and, on a thread other than
the main one, every block over its 64 MB arenas) with a fresh ``mmap`` and
gives it back with ``munmap`` when freed, so the next frame faults in and
zeroes the same memory again, 4 KiB at a time. For 10 frames of 24 MP that
was about 3.5 GB of fresh pages and a third of the process's CPU time spent
in the kernel (``perf``: ``clear_page`` and page-fault handling).

:func:`retain_freed_memory` tells glibc (through ``mallopt``) to serve large
blocks from its heap, to use one heap for all threads, and to keep what is
freed for reuse. The peak resident memory stays about the same (the blocks
are reused rather than added to); the memory is returned when the process
ends.

It also stops NumPy from asking for transparent huge pages
(``madvise(MADV_HUGEPAGE)`` on arrays of 4 MB and more). Right after another
large process had exited (enfuse, in the benchmark), the kernel compacted
memory at the page faults for those huge pages, and the system time of a
10-frame 24 MP run went from about 1 s to 2.4 s; with 4 KiB pages it stays
near 1 s whatever ran before (``benchmarks/bench_scale.py``).

Both settings are process-wide, so the library never makes them on import:
the ``allfocus`` command does, at start (except ``allfocus serve``: a
long-running server should hand memory back between jobs). A program that
fuses big stacks through the Python API may call :func:`retain_freed_memory`
itself. Dask
workers are left alone (``distributed`` trims their memory on purpose, to
watch it). Off glibc (macOS, Windows, musl) nothing changes. Set
``ALLFOCUS_MALLOC=default`` in the environment to leave both as they are.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

log = logging.getLogger(__name__)

# mallopt parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8

_SETTINGS = (
    # a block is taken from the heap (and reused) up to 1 GiB, not mmap-ed afresh
    (_M_MMAP_THRESHOLD, 1 << 30),
    # freed memory at the top of the heap is kept, not trimmed back to the system
    (_M_TRIM_THRESHOLD, (1 << 31) - 1),
    # the heap grows in steps of 64 MiB rather than page by page
    (_M_TOP_PAD, 64 << 20),
    # one arena for all threads: a thread's arena is capped at 64 MiB, so
    # larger blocks decoded on the reading thread would be mmap-ed regardless
    (_M_ARENA_MAX, 1),
)

_done: bool | None = None


def _no_numpy_huge_pages() -> None:
    """NumPy's ``NUMPY_MADVISE_HUGEPAGE=0``, at run time (a private NumPy switch)."""
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:
        try:
            from numpy.core.multiarray import _set_madvise_hugepage
        except ImportError:
            return
    _set_madvise_hugepage(False)


def retain_freed_memory() -> bool:
    """Tune glibc's allocator to reuse large freed blocks (see the module docstring).

    Call it early, before threads start (the arena setting applies to
    arenas created afterwards). Idempotent.

    Returns
    -------
    bool
        Whether the allocator settings were applied: False off glibc, when
        ``ALLFOCUS_MALLOC=default`` is set, or when glibc refused one.
    """
    global _done
    if _done is not None:
        return _done
    _done = False
    if os.environ.get("ALLFOCUS_MALLOC", "").lower() == "default":
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok = all(mallopt(param, value) == 1 for param, value in _SETTINGS)
    _no_numpy_huge_pages()
    if not ok:
        log.debug("glibc refused a mallopt setting; the allocator keeps its defaults")
    _done = ok
    return ok
