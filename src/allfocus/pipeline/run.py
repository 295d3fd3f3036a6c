"""Run a fusion job: read -> align -> match exposure -> fuse -> write.

This is the only module that chains the steps; the CLI, batch runs and the web
app call it. Library code reports progress through an optional callback
``progress(stage, done, total)`` and never prints.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from allfocus._core.types import FusionResult
from allfocus._core.validate import dtype_range, sensor_range, stack_sensor_range, to_span
from allfocus.pipeline.config import FuseConfig

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]


@dataclass
class FuseReport:
    """What a fusion job did."""

    output: Path | None
    depth_map: Path | None
    result: FusionResult
    frames: list[str]
    dropped: dict[str, str] = field(default_factory=dict)
    align_model: str = "none"
    seconds: float = 0.0
    #: How the stack was fused: ``"in memory"``, ``"frame by frame"`` or
    #: ``"read twice"`` (gacn), with ``", without the defocus model"`` where
    #: the method has one and the size of the stack, not the caller, left it out.
    how: str = "in memory"


def _noop(stage: str, done: int, total: int) -> None:
    return None


def fuse_stack(
    frames: NDArray,
    *,
    config: FuseConfig | None = None,
    channel_axis: int | None = None,
    names: Sequence[str] | None = None,
    reference: int | None = None,
    progress: Progress | None = None,
) -> tuple[FusionResult, dict[int, str], str]:
    """Align, match exposure and fuse an in-memory stack.

    Returns the fusion result, the frames dropped by alignment (index ->
    reason) and the alignment model used (``"none"`` when not aligned).
    """
    from allfocus.fusion import fuse
    from allfocus.fusion.exposure import match_exposure

    config = config or FuseConfig()
    progress = progress or _noop
    stack = np.asarray(frames)
    # Data of fewer bits than its type (12-bit camera data in 16-bit files) is
    # brought to span [0, 1] before exposure matching and fusion, as fuse() does,
    # and the image given back in the type's scale.
    full, top = dtype_range(stack.dtype), sensor_range(stack)
    dropped: dict[int, str] = {}
    model = "none"
    if config.transforms is not None:
        from allfocus.align import apply_transforms

        progress("align", 0, 1)
        matrices = _saved_transforms(config.transforms, stack.shape[0])
        aligned = apply_transforms(stack, matrices, channel_axis=channel_axis)
        stack, model = aligned.frames, "saved"
        channel_axis = -1 if channel_axis is not None else None
        progress("align", 1, 1)
    elif config.align != "none":
        from allfocus.align import align_stack

        aligned = align_stack(
            stack,
            model=config.align,
            reference=reference,
            drop_unaligned=config.drop_unaligned,
            channel_axis=channel_axis,
            progress=lambda d, t: progress("align", d, t),
        )
        stack, model, dropped = aligned.frames, aligned.model, dict(aligned.dropped)
        channel_axis = -1 if channel_axis is not None else None
    if config.transforms is not None or config.align != "none":
        # Only ``stack`` may keep the aligned frames alive: once exposure
        # matching has replaced them they are freed before the fusion.
        del aligned
    if top != full:
        if stack.dtype.kind in "ui":
            stack = to_span(stack, top)
        elif np.may_share_memory(stack, frames):
            stack = stack * np.float32(full / top)
        else:  # aligned float frames in the type's scale, this function's own
            stack *= np.float32(full / top)
    if config.exposure_match:
        progress("exposure", 0, 1)
        # Frames aligned here are this function's own: match them in place
        # rather than holding a second copy of the stack.
        owned = not np.may_share_memory(stack, frames)
        stack = match_exposure(stack, channel_axis=channel_axis, overwrite_input=owned)
        progress("exposure", 1, 1)
    progress("fuse", 0, 1)
    result = fuse(
        stack,
        method=config.method,
        channel_axis=channel_axis,
        progress=lambda d, t: progress("fuse", min(d, t - 1), t),  # 1/1 once, below
        **config.params,
    )
    progress("fuse", 1, 1)
    result = restore_result(
        result,
        config.restore,
        num_frames=stack.shape[0],
        channel_axis=channel_axis,
        stack_ndim=stack.ndim,
        progress=progress,
    )
    if top != full:
        result.image *= np.float32(top / full)
    if names is not None and dropped:
        log.warning("dropped frames: %s", ", ".join(names[i] for i in dropped))
    return result, dropped, model


def _saved_transforms(path: str, num_frames: int) -> NDArray[np.float64]:
    """The matrices of a ``transforms.json``, checked against the stack's frame count."""
    from allfocus.align import load_transforms

    _, matrices = load_transforms(path)
    if len(matrices) != num_frames:
        from allfocus._core.errors import InputError

        raise InputError(
            f"{path} holds {len(matrices)} transforms but the stack has {num_frames} "
            "frames; use the transforms saved for this stack"
        )
    return matrices


def restore_method(name: str) -> str:
    """Resolve ``"auto"`` to ``"learned"`` when torch is installed, else ``"defocus"``."""
    if name != "auto":
        return name
    import importlib.util

    return "learned" if importlib.util.find_spec("torch") is not None else "defocus"


def restore_result(
    result: FusionResult,
    restore: str | None,
    *,
    num_frames: int,
    channel_axis: int | None,
    stack_ndim: int,
    progress: Progress | None = None,
) -> FusionResult:
    """Apply ``FuseConfig.restore`` to a fusion result (unchanged when ``restore`` is None)."""
    if restore is None:
        return result
    import dataclasses

    from allfocus.restore.fused import restore_fused

    progress = progress or _noop
    progress("restore", 0, 1)
    axis = None if channel_axis is None else channel_axis % stack_ndim - 1
    image, _ = restore_fused(
        result.image,
        depth=result.depth,
        confidence=result.confidence,
        num_frames=num_frames,
        method=restore_method(restore),
        channel_axis=axis,
    )
    progress("restore", 1, 1)
    return dataclasses.replace(result, image=image)


def depth_to_image(depth: NDArray, num_frames: int, path: Path) -> tuple[NDArray, type]:
    """Encode a depth map for ``path``: float32 frame index in TIFF, scaled 16/8-bit otherwise."""
    if path.suffix.lower() in (".tif", ".tiff"):
        return depth.astype(np.float32), np.float32
    scaled = depth / max(num_frames - 1, 1)
    dtype = np.uint8 if path.suffix.lower() in (".jpg", ".jpeg") else np.uint16
    return np.clip(scaled, 0, 1).astype(np.float32), dtype


def _write_outputs(
    result: FusionResult,
    out_path: Path | None,
    dm_path: Path | None,
    *,
    num_frames: int,
    dtype: np.dtype,
    icc: bytes | None,
    exif: bytes | None,
    overwrite: bool,
    inputs: Sequence[Path],
) -> None:
    """Write the fused image (input bit depth, reference metadata) and the depth map."""
    from allfocus import io

    if out_path is not None:
        io.write_image(
            out_path,
            result.image,
            dtype=io.output_dtype(dtype, out_path),
            icc=icc,
            exif=exif,
            overwrite=overwrite,
            inputs=inputs,
        )
    if dm_path is not None:
        img, dm_dtype = depth_to_image(result.depth, num_frames, dm_path)
        io.write_image(dm_path, img, dtype=dm_dtype, overwrite=overwrite, inputs=inputs)


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not POSIX: assume 8 GB
        return 8 << 30


def _memory_available() -> int:
    """Memory a new allocation can get now: MemAvailable plus free swap (Linux), else
    the physical memory."""
    try:
        fields = {}
        with open("/proc/meminfo") as fp:
            for line in fp:
                key, value = line.split(":", 1)
                fields[key] = int(value.split()[0]) * 1024
        return fields["MemAvailable"] + fields.get("SwapFree", 0)
    except (OSError, KeyError, ValueError):
        return _memory_bytes()


def _stack_size(frame_paths: Sequence[Path]) -> tuple[int, tuple[int, ...], int]:
    """Frames, frame shape and bytes of the stack as float32, from the headers."""
    from allfocus import io

    with io.iter_frames(frame_paths) as stream:
        num, shape = len(stream), stream.shape
    return num, shape, num * int(np.prod(shape)) * 4


#: Peak memory of in-memory alignment and fusion, in multiples of the stack as
#: float32 (measured: 10 colour frames, ``--align auto``, 3.5x; see docs/scaling.md).
_IN_MEMORY_FACTOR = 3.5


def _check_fits_in_memory(config: FuseConfig, frame_paths: Sequence[Path]) -> None:
    """Refuse, with a way out, an in-memory fusion that would run out of memory.

    The operating system would otherwise kill the process part-way, with no
    message; the frame headers tell the size before anything is decoded.
    """
    from allfocus._core.errors import InputError
    from allfocus.pipeline.config import STREAMED_METHODS

    num, shape, floats = _stack_size(frame_paths)
    need = int(_IN_MEMORY_FACTOR * floats)
    have = _memory_available()
    if need <= have:
        return
    size = f"{num} frames of {shape[1]}x{shape[0]}"
    if config.method not in STREAMED_METHODS:
        way = (
            f"method {config.method!r} needs every frame at once: use --method depthmap "
            "(or pyramid), which can fuse frame by frame"
        )
    else:
        way = (
            "leave --streaming on (or auto) to fuse frame by frame, in memory that does "
            "not grow with the number of frames"
        )
    raise InputError(
        f"{size} need about {need / 2**30:.1f} GiB of memory to fuse in memory, and "
        f"{have / 2**30:.1f} GiB are available; {way}; or fuse the stack in smaller parts"
    )


#: Largest stack (bytes as float32) that ``auto`` fuses with ``depthmap`` in
#: memory, to un-mix occlusion rims and sharpen between focus planes; larger
#: stacks stream, without those steps (they cost several times the fusion:
#: 10 frames of 1.5 MP, 0.6 s without, 5.9 s with; docs/methods.md), and so
#: does ``gacn``, reading the frames twice. Larger stacks fused in memory
#: anyway (``--no-streaming``) skip them too.
DETAIL_IN_MEMORY = 256 * 2**20


def _detail_params(config: FuseConfig, frame_paths: Sequence[Path]) -> FuseConfig:
    """``config`` with the defocus model off for stacks over :data:`DETAIL_IN_MEMORY`.

    Options the caller set explicitly are kept; where the caller set them all,
    ``config`` itself is returned (so a new config means the size turned some off).
    """
    from allfocus.fusion.depthmap import DEFOCUS_MODEL_METHODS, DEFOCUS_MODEL_OFF

    if config.method not in DEFOCUS_MODEL_METHODS:
        return config
    if all(option in config.params for option in DEFOCUS_MODEL_OFF):
        return config
    if _stack_size(frame_paths)[2] <= DETAIL_IN_MEMORY:
        return config
    return replace(config, params={**DEFOCUS_MODEL_OFF, **config.params})


def _use_streaming(config: FuseConfig, frame_paths: Sequence[Path]) -> bool:
    """Decide whether to fuse frame by frame (see :class:`FuseConfig`).

    ``auto`` fuses ``depthmap`` in memory when the stack is at most
    :data:`DETAIL_IN_MEMORY` bytes as float32, so that occlusion rims can be
    un-mixed and surfaces between focus planes sharpened
    (:mod:`allfocus.fusion.rims`, :mod:`allfocus.fusion.between`), and streams
    it above that: measured on real
    stacks, frame by frame was as fast or faster and took a third to a half of
    the memory (5 frames of 20 MP: 8.6 s and 1.6 GB against 18.2 s and 3.8 GB;
    aligned 15.0 s and 1.6 GB against 24.6 s and 5.0 GB), with results 51 to
    64 dB apart when rims are not un-mixed (docs/scaling.md). ``pyramid``
    streams only when the stack would not fit: frame by frame it has no
    consistency vote, which costs 0.3 dB at 10 frames (bench_fusion).
    ``gacn`` reads the frames twice (:func:`allfocus.fusion.gacn.fuse_gacn_passes`)
    when the stack is over :data:`DETAIL_IN_MEMORY`, where in memory it would
    skip the defocus model as well (unless its options are set), or would not
    fit.
    """
    from allfocus.pipeline.config import STREAMED_METHODS

    if config.streaming == "always":
        return True
    if config.streaming == "never" or config.method not in STREAMED_METHODS:
        return False
    floats = _stack_size(frame_paths)[2]
    too_big = floats > _memory_bytes() // 4 or _IN_MEMORY_FACTOR * floats > _memory_available()
    from allfocus.fusion.depthmap import DEFOCUS_MODEL_METHODS, DEFOCUS_MODEL_OFF

    if config.method not in DEFOCUS_MODEL_METHODS:
        return too_big

    if config.method == "gacn":  # in memory unless the defocus model was asked for by name
        asked = any(config.params.get(option, False) for option in DEFOCUS_MODEL_OFF)
        return too_big or (floats > DETAIL_IN_MEMORY and not asked)
    detail = any(config.params.get(option, True) for option in DEFOCUS_MODEL_OFF)
    return too_big or not detail or floats > DETAIL_IN_MEMORY


def _prepared_frames(
    frames: Iterable[NDArray],
    plan: Any,
    reference: NDArray | None,
    *,
    color: bool,
    top: float | None = None,
) -> Iterable[NDArray]:
    """A stream's ``frames``, in order, aligned by ``plan``, stretched from their
    sensor's largest value ``top`` to their type's range where given
    (:func:`_spanning`), and matched in exposure to ``reference`` (stretched alike)
    where given, lazily."""
    from allfocus.fusion.exposure import match_frames

    if plan is not None:
        frames = _aligned_frames(frames, plan)
    if top is not None:
        frames = (_spanning(frame, top) for frame in frames)
    if reference is not None:
        frames = match_frames(frames, reference, color=color)
    return frames


def _spanning(frame: NDArray, top: float) -> NDArray:
    """An integer frame stretched from its sensor's largest value ``top`` to its type's
    range, in its own type (rounded: distinct values stay distinct), so frames in
    flight take no more memory than before."""
    full = dtype_range(frame.dtype)
    out = frame.astype(np.float32)
    out *= np.float32(full / top)
    np.rint(out, out=out)
    np.minimum(out, np.float32(full), out=out)
    return out.astype(frame.dtype)


def _aligned_frames(stream: Iterable[NDArray], plan: Any) -> Iterator[NDArray]:
    """The kept frames of ``stream`` resampled by ``plan`` (in the stream's dtype)."""
    for k, frame in enumerate(stream):
        if k not in plan.dropped:
            yield plan.resample(frame, k)


def _stream_plan(stream: Any, config: FuseConfig, progress: Progress) -> Any:
    """Alignment of a frame stream (``allfocus.align.plan_frames``), or None without it."""
    if config.transforms is None and config.align == "none":
        return None
    from allfocus.align import plan_frames

    matrices = None
    if config.transforms is not None:
        matrices = _saved_transforms(config.transforms, len(stream))
    progress("align", 0, 1)
    plan = plan_frames(
        stream.read,
        (len(stream), *stream.shape),
        model=config.align if matrices is None else "auto",
        transforms=matrices,
        reference=stream.reference,
        drop_unaligned=config.drop_unaligned,
        color=stream.channel_axis is not None,
        progress=lambda d, t: progress("align", d, t + 1),
    )
    progress("align", 1, 1)
    return plan


def _fuse_gacn_passes(
    stream: Any,
    first: Iterable[NDArray],
    plan: Any,
    reference: NDArray | None,
    num: int,
    config: FuseConfig,
    progress: Progress,
    *,
    top: float | None = None,
) -> FusionResult:
    """``gacn`` of a frame stream: ``first`` for the network's pass, the files read again
    (aligned, brought to span [0, 1] and matched the same way) for the blend
    (:func:`fuse_gacn_passes`)."""
    from allfocus.fusion.depthmap import DEFOCUS_MODEL_OFF
    from allfocus.fusion.gacn import fuse_gacn_passes

    _check_gacn_passes_fit(num, stream.shape)

    unread = [first]

    def read_frames() -> Iterable[NDArray]:
        if unread:
            return unread.pop()
        frames = (stream.read(k) for k in range(len(stream)))
        color = stream.channel_axis is not None
        return _prepared_frames(frames, plan, reference, color=color, top=top)

    # The defocus model needs every frame at once (as in fuse_streaming).
    params = {k: v for k, v in config.params.items() if k not in DEFOCUS_MODEL_OFF}
    return fuse_gacn_passes(
        read_frames,
        num,
        channel_axis=stream.channel_axis,
        progress=lambda stage, d, t: progress("fuse", min(d, t - 1), t),  # n/n by the caller
        **params,
    )


#: Peak memory of ``gacn`` read twice (:func:`fuse_gacn_passes`): bytes per
#: pixel and frame (uint16 luma, float16 scores) and per pixel (image, maps,
#: a frame or two). Measured (docs/scaling.md): 3.4 per pixel and frame, and
#: 1.5 GB for 10 frames of 6 MP, the network's tiles and the imports included.
_GACN_PASSES_PER_FRAME = 4
_GACN_PASSES_PER_PIXEL = 128


def _check_gacn_passes_fit(num: int, shape: tuple[int, ...]) -> None:
    """Refuse, with a way out, a ``gacn`` stack whose luma and scores would not fit."""
    from allfocus._core.errors import InputError

    pixels = int(shape[0]) * int(shape[1])
    need = pixels * (_GACN_PASSES_PER_FRAME * num + _GACN_PASSES_PER_PIXEL)
    have = _memory_available()
    if need > have:
        raise InputError(
            f"{num} frames of {shape[1]}x{shape[0]} need about {need / 2**30:.1f} GiB of "
            f"memory for method 'gacn' (its luma and scores of every frame), and "
            f"{have / 2**30:.1f} GiB are available; use --method depthmap, which fuses "
            "frame by frame in memory that does not grow with the number of frames, "
            "or fuse the stack in smaller parts"
        )


def _fuse_streaming_files(
    frame_paths: Sequence[Path],
    out_path: Path | None,
    dm_path: Path | None,
    *,
    config: FuseConfig,
    overwrite: bool,
    progress: Progress,
    start: float,
) -> FuseReport:
    """The frame-by-frame branch of :func:`fuse_files` (memory independent of N)."""
    from allfocus import io
    from allfocus.fusion.streaming import fuse_streaming

    with io.iter_frames(frame_paths) as stream:
        progress("read", 1, 1)
        color = stream.channel_axis is not None
        plan = _stream_plan(stream, config, progress)
        dropped: dict[int, str] = {} if plan is None else plan.dropped
        n = len(stream) - len(dropped)
        # 12-bit camera data in 16-bit files spans [0, 1] as in fuse_stack: the
        # whole stack's largest value first (a pass over the frames for such data).
        full = dtype_range(stream.dtype)
        top = stack_sensor_range((stream.read(k) for k in range(len(stream))), stream.dtype)
        span = top if top != full else None
        reference = None
        if config.exposure_match:
            progress("exposure", 0, 1)
            reference = stream.read(stream.reference)
            if plan is not None:
                reference = plan.resample(reference, stream.reference)
            if span is not None:
                reference = _spanning(reference, span)
            progress("exposure", 1, 1)
        frames = _prepared_frames(stream, plan, reference, color=color, top=span)
        if config.method == "gacn":
            result = _fuse_gacn_passes(
                stream, frames, plan, reference, n, config, progress, top=span
            )
        else:
            result = fuse_streaming(
                frames,
                method=config.method,
                channel_axis=stream.channel_axis,
                progress=lambda d: progress("fuse", min(d, n - 1), n),  # n/n once, below
                **config.params,
            )
        progress("fuse", n, n)
        result = restore_result(
            result,
            config.restore,
            num_frames=n,
            channel_axis=stream.channel_axis,
            stack_ndim=len(stream.shape) + 1,
            progress=progress,
        )
        if span is not None:
            result.image *= np.float32(span / full)
        progress("write", 0, 1)
        _write_outputs(
            result,
            out_path,
            dm_path,
            num_frames=n,
            dtype=stream.dtype,
            icc=stream.icc,
            exif=stream.exif,
            overwrite=overwrite,
            inputs=frame_paths,
        )
        progress("write", 1, 1)
        names = list(stream.names)
    if dropped:
        log.warning("dropped frames: %s", ", ".join(names[i] for i in dropped))
    return FuseReport(
        output=out_path,
        depth_map=dm_path,
        result=result,
        frames=names,
        dropped={names[i]: why for i, why in dropped.items()},
        align_model="none" if plan is None else plan.model,
        seconds=time.perf_counter() - start,
        how=("read twice" if config.method == "gacn" else "frame by frame")
        + _without_model(config),
    )


def _without_model(config: FuseConfig) -> str:
    """``", without the defocus model"`` where ``config``'s method has one and the
    caller did not turn it off: fused frame by frame or read twice, it never runs."""
    from allfocus.fusion.depthmap import DEFOCUS_MODEL_METHODS, DEFOCUS_MODEL_OFF

    if config.method not in DEFOCUS_MODEL_METHODS:
        return ""
    if all(config.params.get(option) is False for option in DEFOCUS_MODEL_OFF):
        return ""
    return ", without the defocus model"


def fuse_files(
    inputs: Sequence[str | os.PathLike],
    output: str | os.PathLike | None,
    *,
    config: FuseConfig | None = None,
    depth_map: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> FuseReport:
    """Fuse the focus stack in ``inputs`` and write the result.

    Parameters
    ----------
    inputs : sequence of path-like
        Files, glob patterns, or one folder (see :func:`allfocus.io.find_frames`).
    output : path-like or None
        Fused image to write (bit depth follows the input where the format
        allows). ``None`` writes nothing (the result is still returned).
    config : FuseConfig, optional
        Method, alignment and exposure options.
    depth_map : path-like, optional
        Also write the depth map: float32 frame index for TIFF, the index
        scaled to the full range of a 16-bit PNG or 8-bit JPEG otherwise.
    overwrite : bool
        Replace existing outputs.
    progress : callable, optional
        ``progress(stage, done, total)``.

    Returns
    -------
    FuseReport
    """
    from allfocus import io

    config = config or FuseConfig()
    progress = progress or _noop
    start = time.perf_counter()
    out_path = Path(output) if output is not None else None
    dm_path = Path(depth_map) if depth_map is not None else None
    # Check every output before any work so a bad path fails fast.
    frame_paths = io.find_frames(inputs)
    for target in (out_path, dm_path):
        if target is not None:
            io.check_output_path(target, inputs=frame_paths, overwrite=overwrite)
    if out_path is not None and dm_path is not None and out_path.resolve() == dm_path.resolve():
        from allfocus._core.errors import InputError

        raise InputError("the depth map and the fused image must be different files")
    if _use_streaming(config, frame_paths):
        return _fuse_streaming_files(
            frame_paths,
            out_path,
            dm_path,
            config=config,
            overwrite=overwrite,
            progress=progress,
            start=start,
        )
    _check_fits_in_memory(config, frame_paths)
    asked = config
    config = _detail_params(config, frame_paths)
    progress("read", 0, 1)
    data = io.read_stack(frame_paths)
    progress("read", 1, 1)
    result, dropped, model = fuse_stack(
        data.frames,
        config=config,
        channel_axis=data.channel_axis,
        names=data.names,
        reference=data.reference,
        progress=progress,
    )
    progress("write", 0, 1)
    _write_outputs(
        result,
        out_path,
        dm_path,
        num_frames=data.frames.shape[0],
        dtype=data.dtype,
        icc=data.icc,
        exif=data.exif,
        overwrite=overwrite,
        inputs=frame_paths,
    )
    progress("write", 1, 1)
    return FuseReport(
        output=out_path,
        depth_map=dm_path,
        result=result,
        frames=data.names,
        dropped={data.names[i]: why for i, why in dropped.items()},
        align_model=model,
        seconds=time.perf_counter() - start,
        # (a config other than the caller's: the size turned options of the model off)
        how="in memory" + ("" if config is asked else ", without the defocus model"),
    )


@dataclass
class AlignReport:
    """What an alignment job wrote."""

    outputs: list[Path]
    transforms: Path
    model: str
    dropped: dict[str, str]
    seconds: float


def _aligned_name(name: str) -> str:
    """``a.jpg`` -> ``a.tif``; a page of a multi-page TIFF ``s.tif[3]`` -> ``s_003.tif``."""
    stem, _, page = name.partition("[")
    base = Path(stem).stem
    if page:
        base = f"{base}_{int(page.rstrip(']')):03d}"
    return base + ".tif"


def align_files(
    inputs: Sequence[str | os.PathLike],
    outdir: str | os.PathLike,
    *,
    model: str = "auto",
    crop: str = "common",
    drop_unaligned: bool = False,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> AlignReport:
    """Align the frames in ``inputs`` and write them with ``transforms.json`` to ``outdir``.

    Aligned frames are written as lossless TIFF in the input bit depth
    (``a.jpg`` -> ``outdir/a.tif``), carrying each frame's ICC profile; the
    transforms file lists every input frame in input order (see
    :func:`allfocus.align.save_transforms`). ``outdir`` must not be a folder
    of input frames (``InputError`` otherwise): the aligned
    frames would join the originals.
    """
    from allfocus import io
    from allfocus._core.errors import InputError
    from allfocus.align import align_stack, save_transforms

    progress = progress or _noop
    start = time.perf_counter()
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise InputError(f"{outdir} exists and is not a folder; choose a folder for the output")
    frame_paths = io.find_frames(inputs)
    if outdir.is_dir() and any(Path(p).parent.samefile(outdir) for p in frame_paths):
        # The aligned frames would join the originals: the folder would then
        # hold the stack twice, and fusing the folder would take both.
        raise InputError(
            f"the output folder {outdir} holds the input frames; write the aligned frames "
            "to a folder of their own"
        )
    progress("read", 0, 1)
    data = io.read_stack(frame_paths)
    progress("read", 1, 1)
    names = [_aligned_name(n) for n in data.names]
    if len(set(names)) != len(names):
        raise InputError("two input frames would get the same output name; rename the inputs")
    targets = [outdir / n for n in names]
    transforms_path = outdir / "transforms.json"
    outdir.mkdir(parents=True, exist_ok=True)
    for target in [*targets, transforms_path]:
        if target.suffix == ".json":
            if target.exists() and not overwrite:
                raise InputError(f"{target} exists; pass --overwrite to replace it")
        else:
            io.check_output_path(target, inputs=frame_paths, overwrite=overwrite)
    result = align_stack(
        data.frames,
        model=model,
        reference=data.reference,
        crop=crop,
        drop_unaligned=drop_unaligned,
        channel_axis=data.channel_axis,
        progress=lambda d, t: progress("align", d, t),
    )
    progress("write", 0, len(result.kept))
    dtype = io.output_dtype(data.dtype, Path("x.tif"))
    written = []
    for j, k in enumerate(result.kept):
        frame = result.frames[j]
        if data.channel_axis is None and frame.ndim == 3:
            frame = frame[..., 0]
        written.append(
            io.write_image(
                targets[k],
                frame,
                dtype=dtype,
                icc=data.icc,
                overwrite=overwrite,
                inputs=frame_paths,
            )
        )
        progress("write", j + 1, len(result.kept))
    save_transforms(transforms_path, list(data.names), result.transforms)
    return AlignReport(
        outputs=written,
        transforms=transforms_path,
        model=result.model,
        dropped={data.names[i]: why for i, why in result.dropped.items()},
        seconds=time.perf_counter() - start,
    )


@dataclass
class SharpenReport:
    """What a single-image sharpening job wrote."""

    output: Path
    defocus_map: Path | None
    method: str
    seconds: float


def sharpen_file(
    image: str | os.PathLike,
    output: str | os.PathLike,
    *,
    method: str = "defocus",
    strength: float = 1.0,
    defocus_map: str | os.PathLike | None = None,
    keep_colours: bool = False,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> SharpenReport:
    """Sharpen one photo and write it (same IO rules as :func:`fuse_files`).

    The output keeps the input bit depth where the format allows and carries
    its ICC profile and EXIF; an alpha channel is passed through untouched.
    ``defocus_map`` writes the estimated blur radius (pixels) as float32 TIFF,
    or scaled to 0..10 px over the full range of PNG/JPEG; only the
    ``defocus`` method estimates one. ``progress(done, total)`` reports the
    tiles of the ``learned`` method. ``keep_colours`` makes the ``learned``
    method change only the luma, so the input's hue is kept exactly (the
    other methods always work on the luma).
    """
    from allfocus import io
    from allfocus._core.errors import InputError
    from allfocus.restore import SHARPEN_METHODS, sharpen

    start = time.perf_counter()
    SHARPEN_METHODS.get(method)
    if defocus_map is not None and method != "defocus":
        raise InputError(
            f"--defocus-map needs the 'defocus' method, which estimates the map; got {method!r}"
        )
    src = Path(image)
    out_path = Path(output)
    dm_path = Path(defocus_map) if defocus_map is not None else None
    io.check_output_path(out_path, inputs=[src], overwrite=overwrite)
    if dm_path is not None:
        io.check_output_path(dm_path, inputs=[src], overwrite=overwrite)
    data = io.read_image(src)
    arr = data.array
    alpha = None
    if arr.ndim == 3 and arr.shape[-1] == 4:
        arr, alpha = arr[..., :3], arr[..., 3:]
    extra: dict = {}
    if method == "learned":
        extra["chroma"] = not keep_colours
        if progress is not None:
            extra["progress"] = progress
    result = sharpen(
        arr, method=method, strength=strength, channel_axis=-1 if arr.ndim == 3 else None, **extra
    )
    out = result.image
    if alpha is not None:
        from allfocus._core.validate import as_float_image

        out = np.concatenate([out, as_float_image(alpha)], axis=-1)
    io.write_image(
        out_path,
        out,
        dtype=io.output_dtype(arr.dtype, out_path),
        icc=data.icc,
        exif=data.exif,
        overwrite=overwrite,
        inputs=[src],
    )
    if dm_path is not None and result.defocus_map is not None:
        radius = result.defocus_map.astype(np.float32)
        if dm_path.suffix.lower() in (".tif", ".tiff"):
            io.write_image(dm_path, radius, dtype=np.float32, overwrite=overwrite, inputs=[src])
        else:
            dtype = np.uint8 if dm_path.suffix.lower() in (".jpg", ".jpeg") else np.uint16
            scaled = np.clip(radius / 10.0, 0, 1)
            io.write_image(dm_path, scaled, dtype=dtype, overwrite=overwrite, inputs=[src])
    return SharpenReport(
        output=out_path,
        defocus_map=dm_path,
        method=method,
        seconds=time.perf_counter() - start,
    )
