"""Sharpening the defocus left between focus planes.

A surface that lies between two focus planes is sharp in no frame: in the
frames on either side it is blurred by a disc of radius ``step * |delta|``
and ``step * (1 - |delta|)``, where ``step`` is the blur one focus step adds
and ``delta`` the surface's offset from the nearer plane, in steps. A
decision map takes the less blurred frame, so up to half a step of blur is
left in the fused image. On allfocus's synthetic stacks this is most of the
error that remains at 5 frames once occlusion rims are un-mixed
(:mod:`allfocus.fusion.rims`).

Both numbers can be measured. ``step`` is fitted from the stack (frames
matched by disc blurs, :func:`allfocus.fusion.rims.fit_blur_step`). ``delta``
follows from how fast the focus energy (squared Laplacian, smoothed) falls
from the chosen frame to its two neighbours: the classic Gaussian
interpolation of shape from focus. That estimate depends on the texture's
spectrum (on the synthetic stacks it reads 0.15 for a true offset of 0.3),
so it is calibrated pixel by pixel: the fused image is blurred as the three
frames would be for offsets 0, 0.1, ... 0.5, the same estimate is computed
on those, and the measured value is looked up on that curve. The fused image
is then deconvolved by the disc of radius ``step * delta`` with two terms of
the Neumann series (``3 I - 3 B(I) + B(B(I))``), which is stable for the
sub-pixel to one-pixel radii it meets here.

Only interior pixels are sharpened: away from depth edges (where the
energies mix two surfaces) and in frames that have a neighbour on both sides.

Hand-written: no library estimates sub-frame defocus from a focal stack. The
filters are OpenCV's.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from allfocus._core.validate import FLOAT
from allfocus.fusion.rims import Frames, FrameSource, _as_colour, _blur, _grey

#: Offsets (in focus steps) at which the estimate is calibrated.
_OFFSETS = np.linspace(0.0, 0.5, 6)
#: Smoothing (pixels) of the focus energy.
_SIGMA = 4.0
#: Largest residual blur radius (pixels) that is sharpened.
MAX_RADIUS = 1.0
#: Radii (pixels) at which the deconvolved image is computed; pixels between
#: two of them are interpolated.
_LEVELS = np.arange(0.0, MAX_RADIUS + 1e-6, 0.25)


def _log_energy(grey: NDArray[np.float32]) -> NDArray[np.float32]:
    lap = cv2.Laplacian(grey, cv2.CV_32F, ksize=3)
    return np.log(cv2.GaussianBlur(lap * lap, (0, 0), _SIGMA) + FLOAT(1e-7))


def _offset(
    below: NDArray[np.float32], own: NDArray[np.float32], above: NDArray[np.float32]
) -> NDArray[np.float32]:
    """Gaussian interpolation of the log focus energy: the peak's offset, |.| <= 0.5."""
    curve = 2.0 * (2.0 * own - below - above)
    return np.clip((above - below) / np.maximum(curve, 1e-3), -0.5, 0.5)


def _one_surface(depth: NDArray[np.float32], side: int) -> NDArray[np.bool_]:
    """Pixels whose ``side`` x ``side`` neighbourhood spans under one frame of depth."""
    square = np.ones((side, side), np.uint8)
    return (cv2.dilate(depth, square) - cv2.erode(depth, square)) < 1.0


def _interior(depth: NDArray[np.float32], num: int) -> NDArray[np.bool_]:
    """Pixels whose neighbourhood lies on one surface, in a frame with two neighbours."""
    label = np.rint(depth)
    return _one_surface(depth, int(3 * _SIGMA) * 2 + 1) & (label >= 1) & (label <= num - 2)


def residual_radius(
    frames: FrameSource | NDArray | Frames,
    num: int,
    image: NDArray[np.float32],
    depth: NDArray[np.float32],
    step: float,
) -> NDArray[np.float32]:
    """Radius (pixels) of the disc blur left in each fused pixel; 0 where not measured.

    Parameters
    ----------
    frames : (S, M, N[, C]) ndarray, callable or Frames
        The stack, or ``frames(k)`` giving frame ``k`` (float32, colour
        last), in focus order.
    num : int
        Number of frames.
    image : (M, N[, C]) ndarray
        The fused image.
    depth : (M, N) ndarray
        Its depth map (frame index).
    step : float
        Blur radius added by one focus step.
    """
    frames = Frames(frames)
    interior = _interior(depth, num)
    radius = np.zeros(depth.shape, FLOAT)
    if not interior.any():
        return radius
    label = np.clip(np.rint(depth).astype(np.intp), 1, num - 2)
    energies = {}
    for k in np.unique(label[interior]):
        for j in (k - 1, k, k + 1):
            if j not in energies:
                energies[j] = _log_energy(frames.grey(int(j)))
    measured = np.zeros(depth.shape, FLOAT)
    for k in np.unique(label[interior]):
        sel = interior & (label == k)
        delta = _offset(energies[k - 1], energies[k], energies[k + 1])
        measured[sel] = np.abs(delta[sel])
    # The same estimate on the fused image blurred as the frames would be.
    grey = _grey(image)
    curves = np.empty((len(_OFFSETS), *depth.shape), FLOAT)
    for i, off in enumerate(_OFFSETS):
        below = _log_energy(_blur(grey, step * (1.0 + off)))
        own = _log_energy(_blur(grey, step * off))
        above = _log_energy(_blur(grey, step * (1.0 - off)))
        curves[i] = np.abs(_offset(below, own, above))
    np.maximum.accumulate(curves, axis=0, out=curves)  # a monotone curve to invert
    index = np.clip((curves < measured[None]).sum(axis=0) - 1, 0, len(_OFFSETS) - 2)
    low = np.take_along_axis(curves, index[None], axis=0)[0]
    high = np.take_along_axis(curves, (index + 1)[None], axis=0)[0]
    frac = np.clip((measured - low) / np.maximum(high - low, 1e-4), 0.0, 1.0)
    offset = _OFFSETS[index] + frac * (_OFFSETS[1] - _OFFSETS[0])
    radius[interior] = np.minimum(step * offset[interior], MAX_RADIUS)
    return radius


def deconvolve_discs(
    image: NDArray[np.float32], radius: NDArray[np.float32]
) -> NDArray[np.float32]:
    """Undo a disc blur of a per-pixel ``radius`` (at most :data:`MAX_RADIUS`).

    Second-order Neumann series at each of a few radii, interpolated between
    them; 0 leaves a pixel as it is.
    """
    work = _as_colour(image)
    out = np.zeros_like(work)
    total = np.zeros(radius.shape, FLOAT)
    width = _LEVELS[1] - _LEVELS[0]
    for level in _LEVELS:
        weight = np.clip(1.0 - np.abs(radius - level) / width, 0.0, 1.0)
        if not weight.any():
            continue
        if level == 0:
            sharp = work
        else:
            once = _blur(work, float(level)).reshape(work.shape)
            again = _blur(once, float(level)).reshape(work.shape)
            sharp = 3.0 * work - 3.0 * once + again
        out += sharp * weight[..., None]
        total += weight
    out /= np.maximum(total, FLOAT(1e-6))[..., None]
    np.clip(out, 0.0, 1.0, out=out)
    return out.reshape(image.shape)


def sharpen_between_planes(
    frames: FrameSource | NDArray | Frames,
    num: int,
    image: NDArray[np.float32],
    depth: NDArray[np.float32],
    step: float,
) -> NDArray[np.float32]:
    """Deconvolve the blur left where a surface lies between two focus planes.

    The parameters are those of :func:`residual_radius` (``step`` from
    :func:`allfocus.fusion.rims.fit_blur_step`), which measures the radius
    that :func:`deconvolve_discs` then undoes.

    Returns
    -------
    ndarray
        The sharpened image, ``image``'s shape, float32 in [0, 1].
    """
    radius = residual_radius(frames, num, image, np.asarray(depth, FLOAT), step)
    if not (radius > 0.05).any():
        return image
    return deconvolve_discs(np.asarray(image, FLOAT), radius)


#: Largest blur per focus step (pixels) at which surfaces between two focus
#: planes take both neighbouring frames instead of being deconvolved.
BLEND_STEP = 1.0
#: Side (pixels) of the window in which the depth must vary by under one frame.
_BLEND_WINDOW = 9


def blend_between_planes(
    frames: FrameSource | NDArray | Frames,
    num: int,
    image: NDArray[np.float32],
    depth: NDArray[np.float32],
) -> NDArray[np.float32]:
    """Mix the two frames on either side of each pixel's sub-frame depth.

    Where the focus steps are small (:data:`BLEND_STEP`) a surface between two
    planes is nearly as sharp in both neighbouring frames, and mixing them by
    the sub-frame offset averages their noise as well: on six held-out
    synthetic 10-frame stacks (step 0.75 px) gacn rose from 44.56 to 44.84 dB
    and depthmap from 45.14 to 45.32, every scene higher; with 1.5 px steps
    (5 frames) the extra blur cost 0.4 dB, hence the limit. Only pixels whose
    ``_BLEND_WINDOW`` neighbourhood lies within one frame of depth are mixed,
    so depth edges keep the decision map's choice.

    Returns
    -------
    ndarray
        ``image`` with those pixels replaced, float32, ``image``'s shape.
    """
    frames = Frames(frames)
    depth = np.asarray(depth, FLOAT)
    flat = _one_surface(depth, _BLEND_WINDOW)
    low = np.clip(np.floor(depth), 0, num - 1).astype(np.intp)
    weight = np.clip(depth - low, 0.0, 1.0).astype(FLOAT)
    out = np.array(image, dtype=FLOAT, copy=True)
    colour = out.ndim == 3
    for k in np.unique(low[flat]):
        here = flat & (low == k)
        own = frames(int(k))[here]
        above = frames(int(min(k + 1, num - 1)))[here]
        w = weight[here][:, None] if colour else weight[here]
        out[here] = own + w * (above - own)
    return out


__all__ = [
    "BLEND_STEP",
    "MAX_RADIUS",
    "blend_between_planes",
    "deconvolve_discs",
    "residual_radius",
    "sharpen_between_planes",
]
