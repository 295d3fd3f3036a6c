"""The learned sharpening method: a small network trained here on synthetic defocus.

The network (:class:`allfocus.nn.archs.DeblurNet`, NAFNet-style) was trained
on photos defocused by :mod:`allfocus.synth`: disc blur of radius 0 to 6 px
varying across the image, occlusion spread, noise and JPEG compression (record:
``allfocus/nn/weights/deblur_v1.md``; measurements: docs/sharpen.md). It runs
tile by tile, so memory stays bounded. Importing this module does not import
torch; calling the method without torch raises ``MissingDependencyError``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from allfocus._core.errors import InputError, missing_dependency
from allfocus._core.validate import FLOAT
from allfocus.restore import SHARPEN_METHODS
from allfocus.restore._luma import (
    check_strength,
    finish_image,
    get_luma,
    merge_luma,
    prepare_image,
)

__all__ = ["learned"]

#: Weights used when none are named.
DEFAULT_WEIGHTS = "deblur_v1"


@SHARPEN_METHODS.register("learned")
def learned(
    image: NDArray,
    *,
    channel_axis: int | None = None,
    strength: float = 1.0,
    weights: str = DEFAULT_WEIGHTS,
    tile: int = 512,
    device: str = "cpu",
    chroma: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> NDArray[np.float32]:
    """Remove defocus blur with the trained network (needs ``allfocus[learned]``).

    Parameters
    ----------
    image : (M, N[, C]) ndarray
        The photo, values in [0, 1] (integers are scaled). Grey images go
        through the colour network as three equal channels; alpha is kept.
    channel_axis : int or None
        Axis of the colour channels, ``None`` for grey.
    strength : float
        0 returns the input, 1 the network's output, in between blends.
    weights : str
        A registered weight name (``"deblur_v1"``) or the path of a ``.pt``
        state_dict of a :class:`~allfocus.nn.archs.DeblurNet` with default
        hyper-parameters.
    tile : int
        Tile side in pixels (memory grows with its square; the result does
        not depend on it).
    device : str
        Torch device, ``"cpu"`` by default.
    chroma : bool
        True: the network's colour, which also restores colour detail at
        coloured edges (hue may move by a few degrees: at most 3.5 degrees
        for 99 % of the pixels of a single-hue test texture). False: only the
        luma changes and the input's colour differences are kept, so hue is
        exactly preserved, as with the seed operators.
    progress : callable, optional
        ``progress(done, total)`` after each tile.

    Returns
    -------
    (M, N[, C]) ndarray of float32
        In [0, 1], channel axis where the input had it.

    Raises
    ------
    MissingDependencyError
        If torch is not installed.
    """
    strength = check_strength(strength)
    if int(tile) < 16:
        raise InputError(f"tile must be at least 16 pixels; got {tile}")
    arr, color = prepare_image(image, channel_axis)
    try:
        from allfocus.nn import infer
    except ImportError as exc:
        raise missing_dependency("torch", "learned") from exc
    model = infer.pretrained_deblur(str(weights))
    grey = not color or arr.shape[-1] == 1
    rgb = np.repeat(arr.reshape(*arr.shape[:2], 1), 3, axis=-1) if grey else arr[..., :3]
    out = infer.deblur_rgb(model, rgb, tile=tile, device=device, progress=progress)
    if grey:
        out = out.mean(axis=-1, dtype=FLOAT)
        if color:
            out = out[..., None]
    else:
        if not chroma:
            luma = get_luma(arr, color=True)
            out = merge_luma(arr[..., :3], luma, get_luma(out, color=True), color=True)
        if arr.shape[-1] == 4:
            out = np.concatenate([out, arr[..., 3:]], axis=-1)
    if strength != 1.0:
        out = np.clip(arr + FLOAT(strength) * (out - arr), 0.0, 1.0)
    return finish_image(out.astype(FLOAT, copy=False), channel_axis)
