"""Tiled fusion with a halo: in NumPy (:func:`fuse_tiled`) and on Dask arrays (:func:`fuse_dask`).

Every fusion method looks a bounded distance around each pixel; its module's
``halo(**params)`` says how far. A tile fused together with that many extra
pixels on each side (clipped at the image border, never padded) gives the
same pixels as the whole image would, so huge images can be fused tile by
tile in little memory, or chunk by chunk in parallel.

Two details make tiles agree with the whole image:

* Window origins fall on a multiple of the method's pyramid grid (``2 **
  (levels - 1)`` for pyramid fusion, 8 for the others, whose default focus
  measure builds a 3-level pyramid), so pyramids of a tile sample the same
  pixels as pyramids of the whole image; the halo is rounded up to the grid.
* ``levels=None`` of pyramid fusion is resolved from the *whole* image's size
  before tiling, so every tile uses the same number of levels.

What stays global: the confidence map's noise floor (1 % of the image's mean
peak focus score) is computed per tile, so ``confidence`` differs slightly
from the untiled one; ``image`` and ``depth`` agree (tests check the image
within 1/255).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from allfocus._core.errors import InputError, missing_dependency
from allfocus._core.types import FusionResult
from allfocus._core.validate import (
    FLOAT,
    as_float_image,
    dtype_range,
    sensor_range,
    stack_sensor_range,
    to_span,
)
from allfocus.filters.pyramid import max_levels
from allfocus.fusion import DEFAULT_METHOD, FUSION_METHODS, fuse
from allfocus.fusion._common import check_int

_GRID = 8  # window origins for methods built on a 3-level focus-measure pyramid


def _resolve(method: str, params: dict[str, Any], shape: tuple[int, int]) -> dict[str, Any]:
    """``params`` with size-dependent defaults fixed from the whole image's ``shape``."""
    from allfocus.fusion.depthmap import DEFOCUS_MODEL_METHODS, DEFOCUS_MODEL_OFF

    FUSION_METHODS.get(method)
    params = dict(params)
    if method in DEFOCUS_MODEL_METHODS:
        # Rim un-mixing and between-plane sharpening fit a blur model to the
        # whole stack; a tile would fit its own, so tiles are fused without
        # them (as streamed fusion is).
        params.update(DEFOCUS_MODEL_OFF)
    if method == "pyramid" and params.get("levels") is None:
        params["levels"] = max_levels(shape, min_size=8)
    return params


def _grid(method: str, params: dict[str, Any]) -> int:
    if method == "pyramid":
        return max(_GRID, 2 ** (int(params["levels"]) - 1))
    return _GRID


def tile_halo(
    method: str = DEFAULT_METHOD, *, shape: tuple[int, int] | None = None, **params: Any
) -> int:
    """Pixels of context a tile needs on each side for ``method`` with ``params``.

    The method module's ``halo(**params)``, rounded up to the window grid
    (see the module notes).

    Parameters
    ----------
    method : str
        Registered fusion method.
    shape : (int, int), optional
        Size of the whole frames; needed by ``pyramid`` when ``levels`` is
        not given.
    **params
        The method's options.

    Returns
    -------
    int

    Examples
    --------
    >>> tile_halo("depthmap")
    32
    >>> tile_halo("pyramid", levels=4)
    72
    """
    if method == "pyramid" and params.get("levels") is None:
        if shape is None:
            raise InputError("pyramid fusion with levels=None needs shape= to size its halo")
        params = _resolve(method, params, shape)
    module = sys.modules[FUSION_METHODS.get(method).__module__]
    reach = getattr(module, "halo", None)
    if reach is None:
        raise InputError(f"fusion method {method!r} does not say how far it looks; cannot tile it")
    grid = _grid(method, params)
    return int(math.ceil(reach(**params) / grid) * grid)


def _window(start: int, stop: int, halo: int, size: int) -> tuple[int, int]:
    return max(0, start - halo), min(size, stop + halo)


def fuse_tiled(
    stack_or_frames: NDArray | Sequence[NDArray],
    *,
    tile: int = 2048,
    method: str = DEFAULT_METHOD,
    channel_axis: int | None = None,
    **params: Any,
) -> FusionResult:
    """Fuse tile by tile, each tile with a halo, so only one tile's stack is in memory.

    Parameters
    ----------
    stack_or_frames : (S, M, N[, C]) ndarray or sequence of (M, N[, C]) ndarray
        A stack, or the frames as separate arrays. Both may be memory-mapped
        (:func:`numpy.load` with ``mmap_mode="r"``, ``tifffile.memmap``), in
        which case each tile reads only its part of every frame.
    tile : int
        Tile side in pixels (rounded up to the window grid).
    method : str
        Registered fusion method.
    channel_axis : int or None
        Colour axis: of the stack for an array, of each frame for a sequence.
    **params
        Options of the method.

    Returns
    -------
    FusionResult
        Full-size results, float32, as the untiled method returns them
        (``confidence`` up to its per-tile noise floor, see the module notes).

    Raises
    ------
    InputError
        For a malformed stack, an unknown method or a bad ``tile``.

    See Also
    --------
    fuse_dask : the same on a Dask array, in parallel.
    tile_halo : the halo used.

    Examples
    --------
    >>> import numpy as np
    >>> from allfocus.fusion import fuse
    >>> from allfocus.synth import synthetic_stack
    >>> stack = synthetic_stack((96, 80), 3, rng=0).frames
    >>> tiled = fuse_tiled(stack, tile=32, channel_axis=-1)
    >>> from allfocus.fusion.depthmap import DEFOCUS_MODEL_OFF  # not done in tiles
    >>> whole = fuse(stack, channel_axis=-1, **DEFOCUS_MODEL_OFF)
    >>> bool(np.abs(tiled.image - whole.image).max() < 1 / 255)
    True
    """
    tile = check_int("tile", tile, minimum=1)
    is_stack = isinstance(stack_or_frames, np.ndarray)
    frames = stack_or_frames if is_stack else list(stack_or_frames)
    if not is_stack and not frames:
        raise InputError("no frames given")
    first = frames[0] if not is_stack else stack_or_frames[0]
    frame_ndim = np.ndim(first)
    if channel_axis is not None:
        axis = channel_axis % (frame_ndim + 1 if is_stack else frame_ndim)
        frame_axis = axis - 1 if is_stack else axis
        if is_stack and axis == 0:
            raise InputError("channel_axis=0 is the stack axis; colour must be on another axis")
        if frame_axis != frame_ndim - 1:  # tiles are cut on the two spatial axes
            if is_stack:
                frames = np.moveaxis(frames, axis, -1)
            else:
                frames = [np.moveaxis(f, frame_axis, -1) for f in frames]
            first = frames[0]
    expected = 2 if channel_axis is None else 3
    if frame_ndim != expected:
        raise InputError(
            f"frames must have {expected} dimensions with channel_axis={channel_axis}; "
            f"got frames of shape {np.shape(first)}"
        )
    rows, cols = np.shape(first)[:2]
    params = _resolve(method, params, (rows, cols))
    halo = tile_halo(method, **params)
    grid = _grid(method, params)
    tile = int(math.ceil(tile / grid) * grid)
    color = channel_axis is not None
    inner_axis = -1 if color else None

    # 12-bit camera data in 16-bit frames spans [0, 1] as in fuse(), by the whole
    # stack's largest value (read up to the first frame that needs the full range).
    dtype = np.asarray(first[:1]).dtype
    full, top = dtype_range(dtype), stack_sensor_range(frames, dtype)
    image = np.empty(np.shape(first), dtype=FLOAT)
    depth = np.empty((rows, cols), dtype=FLOAT)
    confidence = np.empty((rows, cols), dtype=FLOAT)
    for r0 in range(0, rows, tile):
        r1 = min(r0 + tile, rows)
        a, b = _window(r0, r1, halo, rows)
        for c0 in range(0, cols, tile):
            c1 = min(c0 + tile, cols)
            c, d = _window(c0, c1, halo, cols)
            if is_stack:
                part = _tile_floats(frames[:, a:b, c:d], top)
                res = fuse(part, method=method, channel_axis=inner_axis, **params)
            elif method == "depthmap":
                from allfocus.fusion.streaming import fuse_streaming

                res = fuse_streaming(
                    (_tile_floats(f[a:b, c:d], top) for f in frames),
                    method=method,
                    channel_axis=inner_axis,
                    **params,
                )
            else:
                part = _tile_floats(np.stack([np.asarray(f[a:b, c:d]) for f in frames]), top)
                res = fuse(part, method=method, channel_axis=inner_axis, **params)
            inner = (slice(r0 - a, r1 - a), slice(c0 - c, c1 - c))
            image[r0:r1, c0:c1] = res.image[inner]
            depth[r0:r1, c0:c1] = res.depth[inner]
            confidence[r0:r1, c0:c1] = res.confidence[inner]
    if top != full:
        image *= np.float32(top / full)
    if color and channel_axis is not None:
        target = channel_axis % (frame_ndim + 1) - 1 if is_stack else channel_axis % frame_ndim
        image = np.ascontiguousarray(np.moveaxis(image, -1, target))
    return FusionResult(image=image, depth=depth, confidence=confidence)


def _fuse_block(
    block: NDArray, *, method: str, color: bool, top: float | None, params: dict[str, Any]
) -> NDArray:
    """Fuse one overlapped Dask block (S, m, n[, C]) into its image (m, n[, C]), integers
    divided by ``top`` (None: the type's range) and the image given back in the type's scale."""
    if block.shape[0] == 0 or block.size == 0:  # dask probing with an empty array
        return np.empty(block.shape[1:], dtype=FLOAT)
    image = fuse(
        _tile_floats(block, top), method=method, channel_axis=-1 if color else None, **params
    ).image
    if top is not None:  # (integer stacks only: _dask_sensor_max)
        image *= np.float32(top / dtype_range(block.dtype))
    return image


def _dask_sensor_max(stack: Any, sensor_max: float | str | None) -> float | None:
    """The largest value of ``stack``'s sensor for :func:`fuse_dask` (None: the type's range)."""
    if sensor_max is None:
        return None
    dtype = np.dtype(stack.dtype)
    if dtype.kind not in "ui":
        raise InputError(
            f"sensor_max applies to integer data; this stack is {dtype} (floats are used "
            "as they are: scale them to [0, 1] first)"
        )
    full = dtype_range(dtype)
    if isinstance(sensor_max, str):
        if sensor_max != "auto":
            raise InputError(f"sensor_max must be a number, 'auto' or None; got {sensor_max!r}")
        # One pass over the array now, before the graph is built.
        return sensor_range(np.array([stack.max().compute()], dtype=dtype))
    top = float(sensor_max)
    if not 1 <= top <= full:
        raise InputError(
            f"sensor_max must lie between 1 and {full:g} (the largest {dtype}); got {sensor_max!r}"
        )
    return top


def _tile_floats(part: NDArray, top: float | None) -> NDArray[np.float32]:
    """A tile as float32, divided by the whole stack's sensor range ``top`` (None:
    by its type's range), as every tile of the stack is.

    Given integers, :func:`~allfocus.fusion.fuse` would rescale data of fewer
    bits than its type by the largest value the tile holds, which differs from
    tile to tile (a dark tile of 12-bit data looks like 10-bit data): tiles
    would be fused with different effective filter settings and meet in seams.
    """
    arr = np.asarray(part)
    if top is None or arr.dtype.kind not in "ui" or top == dtype_range(arr.dtype):
        return as_float_image(arr, name="tile")
    return to_span(arr, top)


def _aligned_chunks(size: int, chunk: int, grid: int, halo: int) -> tuple[int, ...]:
    """Chunk sizes along one axis: boundaries on multiples of ``grid``, every chunk >= ``halo``.

    A short remainder is merged into the last chunk (Dask would otherwise
    rechunk it to the overlap depth, moving boundaries off the grid).
    """
    step = max(grid, int(math.ceil(max(chunk, halo) / grid) * grid))
    sizes = [step] * (size // step)
    rest = size % step
    if rest and sizes and rest < halo:
        sizes[-1] += rest
    elif rest:
        sizes.append(rest)
    return tuple(sizes)


def fuse_dask(
    stack: Any,
    *,
    method: str = DEFAULT_METHOD,
    channel_axis: int | None = None,
    sensor_max: float | str | None = None,
    **params: Any,
) -> Any:
    """Fuse a Dask array chunk by chunk with :func:`dask.array.map_overlap`.

    Parameters
    ----------
    stack : (S, M, N[, C]) dask.array.Array or array_like
        The stack, frames on axis 0. It is rechunked so that the frame and
        channel axes are one chunk each and the spatial chunks start on the
        method's window grid (spatial chunk sizes are kept, rounded up).
    method : str
        Registered fusion method.
    channel_axis : int or None
        Colour axis of ``stack``; ``None`` for grey.
    sensor_max : float, "auto" or None
        Largest value the sensor gives, for integer data of fewer bits than
        its type (4095 for 12-bit camera data in 16-bit files): every block is
        divided by it, so the method sees data spanning [0, 1] as
        :func:`~allfocus.fusion.fuse` does, and the image is given back in the
        type's scale. ``"auto"`` reads the array once, before the graph is
        built, for its largest value (rounded up to 8, 10, 12, 14 or 16 bits,
        as ``fuse`` does). ``None`` (default) divides by the type's range,
        which leaves 12-bit data spanning a sixteenth of [0, 1]. A block's own
        largest value is never used: it differs from its neighbours' and would
        leave seams.
    **params
        Options of the method.

    Returns
    -------
    (M, N[, C]) dask.array.Array of float32
        The fused image, lazily, in [0, 1] of the type's range; channels where
        the stack had them.

    Raises
    ------
    MissingDependencyError
        If Dask is not installed.
    InputError
        For a malformed stack or an unknown method.

    See Also
    --------
    fuse_tiled : the same without Dask.

    Notes
    -----
    The overlap depth is :func:`tile_halo` (the method's ``halo(**params)``
    on the grid); the array's outer boundary is not padded
    (``boundary="none"``), so border chunks see the image border exactly as
    the whole image does. ``dtype`` and ``meta`` are given, so Dask never
    calls the method on a dummy array.

    Examples
    --------
    >>> import dask.array as da, numpy as np
    >>> from allfocus.fusion import fuse
    >>> from allfocus.synth import synthetic_stack
    >>> stack = synthetic_stack((96, 80), 3, color=False, rng=0).frames
    >>> lazy = fuse_dask(da.from_array(stack, chunks=(1, 32, 32)))
    >>> lazy.dtype, lazy.shape
    (dtype('float32'), (96, 80))
    >>> from allfocus.fusion.depthmap import DEFOCUS_MODEL_OFF  # not done in chunks
    >>> bool(np.abs(lazy.compute() - fuse(stack, **DEFOCUS_MODEL_OFF).image).max() < 1 / 255)
    True
    """
    try:
        import dask.array as da
    except ImportError:
        raise missing_dependency("dask", "dask") from None
    stack = da.asarray(stack)
    expected = 3 if channel_axis is None else 4
    if stack.ndim != expected:
        raise InputError(
            f"stack must have {expected} dimensions with channel_axis={channel_axis}; "
            f"got shape {stack.shape}"
        )
    if channel_axis is not None:
        axis = channel_axis % stack.ndim
        if axis == 0:
            raise InputError("channel_axis=0 is the stack axis; colour must be on another axis")
        stack = da.moveaxis(stack, axis, -1)
    top = _dask_sensor_max(stack, sensor_max)
    rows, cols = stack.shape[1:3]
    params = _resolve(method, params, (rows, cols))
    halo = tile_halo(method, **params)
    grid = _grid(method, params)
    chunks: dict[int, Any] = {0: -1}
    depth = {0: 0}
    for axis, size in ((1, rows), (2, cols)):
        if halo >= size:  # the halo spans the whole axis: one chunk, no overlap
            chunks[axis], depth[axis] = -1, 0
        else:
            chunks[axis] = _aligned_chunks(size, stack.chunks[axis][0], grid, halo)
            depth[axis] = halo
    if stack.ndim == 4:
        chunks[3], depth[3] = -1, 0
    stack = stack.rechunk(chunks)
    func = partial(_fuse_block, method=method, color=stack.ndim == 4, top=top, params=params)
    out = da.map_overlap(
        func,
        stack,
        depth=depth,
        boundary="none",
        trim=True,
        drop_axis=0,
        dtype=FLOAT,
        meta=np.empty((0,) * (stack.ndim - 1), dtype=FLOAT),
    )
    if channel_axis is not None:
        out = da.moveaxis(out, -1, channel_axis % expected - 1)
    return out


__all__ = ["fuse_dask", "fuse_tiled", "tile_halo"]
