"""Fusing images too large for memory, and many stacks at once.

:func:`fuse_tiled` cuts a stack into tiles with a halo (how far the method
looks, from its module's ``halo(**params)``) and fuses them one at a time;
:func:`fuse_dask` does the same lazily on a Dask array with
:func:`dask.array.map_overlap`; :func:`fuse_batch` fuses many stacks on a
``dask.distributed`` cluster. Dask is an optional dependency
(``pip install 'allfocus[dask]'``), imported only by the functions that need
it; no client is ever created on import.
"""

from __future__ import annotations

from allfocus.parallel.batch import (
    BatchJob,
    StackOutcome,
    connect,
    find_stacks,
    fuse_batch,
    local_client,
    plan_batch,
)
from allfocus.parallel.tiles import fuse_dask, fuse_tiled, tile_halo

__all__ = [
    "BatchJob",
    "StackOutcome",
    "connect",
    "find_stacks",
    "fuse_batch",
    "fuse_dask",
    "fuse_tiled",
    "local_client",
    "plan_batch",
    "tile_halo",
]
