"""What a job does: fuse a stack or sharpen a photo, then write the downloads and previews.

Fusion goes through :func:`allfocus.pipeline.fuse_files`, the one pipeline;
this module only adds the extra download formats (16-bit TIFF, PNG, JPEG) and
the 8-bit previews the page shows. Each function reports progress as
``report(stage, fraction_of_whole_job)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

Report = Callable[[str, float], None]

#: File written for each download format of the result and of the depth map.
RESULT_FILES = {"png": "result.png", "tiff": "result.tif", "jpeg": "result.jpg"}
DEPTH_FILES = {"png": "depth.png", "tiff": "depth.tif"}
#: 8-bit JPEG previews shown by the page (the JPEG result doubles as "after").
PREVIEW_FILES = {
    "before": "preview_before.jpg",
    "after": "result.jpg",
    "depth": "preview_depth.jpg",
}

#: Share of the whole job taken by each stage of :func:`allfocus.pipeline.fuse_files`.
_FUSE_STAGES = {
    "read": (0.0, 0.15),
    "align": (0.15, 0.55),
    "exposure": (0.55, 0.6),
    "fuse": (0.6, 0.9),
    "write": (0.9, 0.95),
}
#: The same with restoration (``FuseConfig.restore``) after fusion.
_FUSE_RESTORE_STAGES = {**_FUSE_STAGES, "fuse": (0.6, 0.75), "restore": (0.75, 0.9)}
#: What each ``restore`` choice does, for the page.
_RESTORE_DESCRIPTIONS = {
    "auto": "the learned network when it is installed, else classical deconvolution",
    "learned": "a trained deblurring network (needs allfocus[learned])",
    "defocus": "classical deconvolution of the estimated blur",
}
_PREVIEW_QUALITY = 90

# Viridis at nine evenly spaced points; the depth preview interpolates them.
_VIRIDIS = np.array(
    [
        (68, 1, 84),
        (71, 44, 122),
        (59, 81, 139),
        (44, 113, 142),
        (33, 144, 141),
        (39, 173, 129),
        (92, 200, 99),
        (170, 220, 50),
        (253, 231, 37),
    ],
    dtype=np.float32,
)


def fusion_methods() -> tuple[list[dict[str, str]], str]:
    """Registered fusion methods as ``[{name, description}]`` and the default name."""
    from allfocus.fusion import DEFAULT_METHOD, FUSION_METHODS

    items = [{"name": n, "description": FUSION_METHODS.describe(n)} for n in FUSION_METHODS]
    return items, DEFAULT_METHOD


def sharpen_methods() -> tuple[list[dict[str, str]], str] | None:
    """Sharpening methods like :func:`fusion_methods`; ``None`` when this build has none."""
    try:
        from allfocus.restore import DEFAULT_METHOD, SHARPEN_METHODS, list_methods
    except ImportError:
        return None
    names = list(list_methods())
    if not names:
        return None
    items = [{"name": n, "description": SHARPEN_METHODS.describe(n)} for n in names]
    return items, DEFAULT_METHOD if DEFAULT_METHOD in names else names[0]


def restore_choices() -> dict[str, Any]:
    """The ``restore`` options of a fusion job, for ``GET /api/methods``.

    ``choices`` lists ``{name, description, available}`` (``learned`` is
    available when torch is installed; ``auto`` and ``defocus`` always are);
    ``default`` is the method used when restoration is switched on without
    one. Restoration itself is off unless asked for.
    """
    import importlib.util

    from allfocus.pipeline.config import RESTORE_CHOICES

    has_torch = importlib.util.find_spec("torch") is not None
    return {
        "choices": [
            {
                "name": name,
                "description": _RESTORE_DESCRIPTIONS.get(name, name),
                "available": has_torch or name != "learned",
            }
            for name in RESTORE_CHOICES
        ],
        "default": "auto",
    }


def run_fuse(
    folder: Path,
    inputs: Sequence[Path],
    *,
    frame_counts: Sequence[int],
    names: dict[str, str],
    method: str,
    align: str,
    restore: str | None = None,
    report: Report,
) -> dict[str, Any]:
    """Fuse the frames in ``inputs`` (in stack order) and write every output into ``folder``.

    Parameters
    ----------
    folder : pathlib.Path
        The job's folder.
    inputs : sequence of pathlib.Path
        Frame files in stack order.
    frame_counts : sequence of int
        Frames in each input (pages of a multi-page TIFF, else 1).
    names : dict
        Display name of each input file, keyed by its file name.
    method, align : str
        As :class:`allfocus.pipeline.FuseConfig`.
    restore : str or None
        As :attr:`allfocus.pipeline.FuseConfig.restore`: deblur where no frame
        was sharp with this method (``None``: off).
    report : callable
        ``report(stage, fraction)``; may raise to cancel the job.

    Returns
    -------
    dict
        What the page shows: frame names, dropped frames, alignment model,
        restoration method used (``None`` when off), seconds, image size,
        whether there is a depth map.
    """
    from allfocus import io
    from allfocus.pipeline import FuseConfig, fuse_files
    from allfocus.pipeline.run import depth_to_image, restore_method

    stages = _FUSE_STAGES if restore is None else _FUSE_RESTORE_STAGES

    def progress(stage: str, done: int, total: int) -> None:
        low, high = stages.get(stage, (None, None))
        if low is not None:
            report(stage, low + (high - low) * done / max(total, 1))

    config = FuseConfig(method=method, align=align, restore=restore)
    png = folder / RESULT_FILES["png"]
    depth_png = folder / DEPTH_FILES["png"]
    fused = fuse_files(
        [str(p) for p in inputs], png, config=config, depth_map=depth_png, progress=progress
    )
    report("export", 0.95)
    saved = io.read_image(png)  # what fuse_files wrote: bit depth, ICC profile, EXIF
    result = fused.result
    _write_downloads(folder, result.image, icc=saved.icc, exif=saved.exif)
    depth, depth_dtype = depth_to_image(result.depth, len(fused.frames), Path("depth.tif"))
    io.write_image(folder / DEPTH_FILES["tiff"], depth, dtype=depth_dtype)
    _write_preview(folder / PREVIEW_FILES["depth"], _colourise(result.depth, len(fused.frames) - 1))
    _write_preview(folder / PREVIEW_FILES["before"], _middle_frame(inputs, frame_counts))
    report("export", 1.0)
    return {
        "frames": [_display(n, names) for n in fused.frames],
        "dropped": {_display(n, names): why for n, why in fused.dropped.items()},
        "align_model": fused.align_model,
        "how": fused.how,
        "restore": None if restore is None else restore_method(restore),
        "seconds": round(fused.seconds, 2),
        "width": int(result.image.shape[1]),
        "height": int(result.image.shape[0]),
        "depth": True,
    }


def run_sharpen(
    folder: Path,
    source: Path,
    *,
    name: str,
    method: str,
    max_pixels: int,
    report: Report,
) -> dict[str, Any]:
    """Sharpen the photo ``source`` and write every output into ``folder``.

    ``name`` is the photo's display name; the other arguments are as
    :func:`run_fuse`. The depth map is the estimated defocus map (blur radius
    in pixels in the TIFF, scaled to the 16-bit range in the PNG), when the
    method gives one.
    """
    import time

    from allfocus import io
    from allfocus._core.validate import as_float_image
    from allfocus.restore import sharpen

    start = time.perf_counter()
    report("read", 0.0)
    data = io.read_image(source, max_pixels=max_pixels)
    image, alpha = _split_alpha(data.array)
    report("sharpen", 0.1)
    sharpened = sharpen(image, method=method, channel_axis=-1 if image.ndim == 3 else None)
    report("write", 0.85)
    out = sharpened.image
    if alpha is not None:
        out = np.concatenate([as_float_image(out), as_float_image(alpha)[..., None]], axis=-1)
    io.write_image(
        folder / RESULT_FILES["png"],
        out,
        dtype=io.output_dtype(data.array.dtype, "result.png"),
        icc=data.icc,
        exif=data.exif,
    )
    _write_downloads(folder, out, icc=data.icc, exif=data.exif)
    defocus = getattr(sharpened, "defocus_map", None)
    if defocus is not None:
        defocus = np.asarray(defocus, dtype=np.float32)
        top = float(defocus.max()) if defocus.size else 0.0
        io.write_image(folder / DEPTH_FILES["tiff"], defocus, dtype=np.float32)
        scaled = defocus / top if top > 0 else np.zeros_like(defocus)
        io.write_image(folder / DEPTH_FILES["png"], scaled, dtype=np.uint16)
        _write_preview(folder / PREVIEW_FILES["depth"], _colourise(defocus, top))
    _write_preview(folder / PREVIEW_FILES["before"], data.array)
    report("write", 1.0)
    return {
        "frames": [name],
        "dropped": {},
        "align_model": "none",
        "seconds": round(time.perf_counter() - start, 2),
        "width": int(data.array.shape[1]),
        "height": int(data.array.shape[0]),
        "depth": defocus is not None,
    }


def _write_downloads(
    folder: Path, image: NDArray, *, icc: bytes | None, exif: bytes | None
) -> None:
    """The 16-bit TIFF and the JPEG beside the PNG (already written with the input's bit depth)."""
    from allfocus import io

    io.write_image(folder / RESULT_FILES["tiff"], image, dtype=np.uint16, icc=icc, exif=exif)
    io.write_image(
        folder / RESULT_FILES["jpeg"], _split_alpha(image)[0], dtype=np.uint8, icc=icc, exif=exif
    )


def _write_preview(path: Path, image: NDArray) -> None:
    from allfocus import io

    io.write_image(path, _split_alpha(image)[0], dtype=np.uint8, quality=_PREVIEW_QUALITY)


def _split_alpha(image: NDArray) -> tuple[NDArray, NDArray | None]:
    """``(colour, alpha)`` of an RGBA image; ``(image, None)`` for any other."""
    if image.ndim == 3 and image.shape[2] == 4:
        return image[..., :3], image[..., 3]
    return image, None


def _colourise(values: NDArray, top: float) -> NDArray[np.uint8]:
    """Map ``values`` in [0, top] to viridis colours for the depth preview."""
    values = np.asarray(values, dtype=np.float32)
    t = np.clip(values / np.float32(top), 0, 1) if top > 0 else np.zeros_like(values)
    anchors = np.linspace(0, 1, len(_VIRIDIS), dtype=np.float32)
    channels = [np.interp(t, anchors, _VIRIDIS[:, c]) for c in range(3)]
    return np.rint(np.stack(channels, axis=-1)).astype(np.uint8)


def _middle_frame(inputs: Sequence[Path], frame_counts: Sequence[int]) -> NDArray:
    """The reference (middle) frame of the stack, as read: the "before" picture."""
    from allfocus import io

    index = sum(frame_counts) // 2
    for path, count in zip(inputs, frame_counts, strict=True):
        if index < count:
            if count == 1:
                return io.read_image(path).array
            return io.read_frames(path)[index].array
        index -= count
    raise IndexError("frame_counts do not cover the stack")  # unreachable: counts are probed


def _display(name: str, names: dict[str, str]) -> str:
    """``frame_0003.tif[2]`` -> ``"IMG_12.tif[2]"`` using the upload's display names."""
    base, bracket, page = name.partition("[")
    return names.get(base, base) + bracket + page
