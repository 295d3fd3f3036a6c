"""Restoration of a fused image where no frame of the stack was sharp.

Stacks with few frames (two is common: a light-field pair, a quick handheld
pair) leave surfaces that lie between the focus planes blurred in every
frame, so fusion can only pick the least blurred. :func:`restore_fused`
finds those places and deblurs only there:

1. the remaining blur radius of the fused image is estimated with
   :func:`allfocus.restore.estimate_defocus_map` (it is near 0 wherever
   fusion took a pixel from a frame focused on it);
2. the fusion's own maps say where no frame was in focus: with three or
   more frames, where the sub-frame depth lies between two frames (0 on a
   frame, 1 half-way: a surface half-way between focus planes is blurred in
   both); with two frames, which give no sub-frame depth, where the focus
   measure had no clear winner (``1 - confidence``);
3. the restoration weight is the product of the two (the blur cue is 0 below
   ``min_radius`` and 1 from ``min_radius + 0.5`` px), feathered; the restored
   image (the ``learned`` network or the classical ``defocus``
   deconvolution) is blended in by that weight.

Both cues must agree: the blur estimate alone reads natural softness (a
photo's own shallow depth of field, soft textures) as defocus, and restoring
there moves the image away from what the frames show (docs/deblur.md
measures it).

Sharp regions therefore stay exactly as fused.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from allfocus._core.errors import InputError
from allfocus._core.validate import FLOAT
from allfocus.restore._luma import finish_image, prepare_image

__all__ = ["RESTORE_CHOICES", "restore_fused", "restore_weight"]

#: Restoration methods ``fuse --restore`` accepts.
RESTORE_CHOICES = ("learned", "defocus")


def restore_weight(
    radius: NDArray[np.float32],
    *,
    depth: NDArray | None = None,
    confidence: NDArray | None = None,
    num_frames: int | None = None,
    min_radius: float = 0.9,
    feather: float = 2.0,
) -> NDArray[np.float32]:
    """Per-pixel weight in [0, 1] of the restored image (see the module docs).

    Parameters
    ----------
    radius : (M, N) ndarray
        Estimated remaining blur radius of the fused image (pixels).
    depth : (M, N) ndarray, optional
        Sub-frame depth map (frame index) of the fusion.
    confidence : (M, N) ndarray, optional
        Confidence map of the fusion in [0, 1].
    num_frames : int, optional
        Frames in the stack (the depth cue needs at least 3).
    min_radius : float
        Blur radius (pixels) below which a pixel counts as sharp.
    feather : float
        Gaussian smoothing (pixels) of the weight, so no seam shows.
    """
    blur = np.clip((np.asarray(radius, FLOAT) - min_radius) / 0.5, 0.0, 1.0)
    if depth is not None and num_frames is not None and num_frames >= 3:
        d = np.asarray(depth, FLOAT)
        weight = blur * (2.0 * np.abs(d - np.round(d)))  # 0 at a frame, 1 half-way between two
    elif confidence is not None:
        weight = blur * (1.0 - np.clip(np.asarray(confidence, FLOAT), 0.0, 1.0))
    else:
        weight = blur
    if feather > 0:
        weight = cv2.GaussianBlur(weight, (0, 0), feather, borderType=cv2.BORDER_REFLECT)
    return np.clip(weight, 0.0, 1.0).astype(FLOAT)


def restore_fused(
    image: NDArray,
    *,
    depth: NDArray | None = None,
    confidence: NDArray | None = None,
    num_frames: int | None = None,
    method: str = "learned",
    channel_axis: int | None = None,
    **params,
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Deblur a fused image where no frame was sharp; return it and the weight used.

    Parameters
    ----------
    image : (M, N[, C]) ndarray
        The fused image in [0, 1].
    depth, confidence : (M, N) ndarray, optional
        The fusion's depth and confidence maps (:class:`allfocus.FusionResult`).
    num_frames : int, optional
        Frames in the stack.
    method : {"learned", "defocus"}
        ``"learned"``: the trained network (needs ``allfocus[learned]``);
        ``"defocus"``: the classical per-region deconvolution.
    channel_axis : int or None
        Colour axis of ``image``.
    **params
        Passed to the restoration method.

    Returns
    -------
    image : (M, N[, C]) ndarray of float32
    weight : (M, N) ndarray of float32
        Where (1) and how much the restored image replaced the fused one.
    """
    from allfocus.restore import defocus_sharpen, estimate_defocus_map, sharpen

    if method not in RESTORE_CHOICES:
        raise InputError(
            f"restore method must be one of {', '.join(RESTORE_CHOICES)}; got {method!r}"
        )
    arr, color = prepare_image(image, channel_axis)
    axis = -1 if color else None
    if method == "defocus":  # its own blur map is the blur cue: estimate it once
        restored, radius = defocus_sharpen(arr, channel_axis=axis, **params)
    else:
        restored, radius = None, estimate_defocus_map(arr, channel_axis=axis)
    weight = restore_weight(radius, depth=depth, confidence=confidence, num_frames=num_frames)
    if float(weight.max()) <= 0.0:
        return finish_image(arr, channel_axis), weight
    if restored is None:
        restored = sharpen(arr, method=method, channel_axis=axis, **params).image
    w = weight[..., None] if color else weight
    out = arr + w * (restored - arr)
    return finish_image(np.clip(out, 0.0, 1.0).astype(FLOAT), channel_axis), weight
