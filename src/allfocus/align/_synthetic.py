"""Misaligned synthetic focus stacks with known transforms (tests and benchmarks).

A focal stack is rendered on a canvas larger than the output, then every
frame is resampled through its own known geometric transform (handheld shake,
focus breathing, tilt) and the centre is cut out, so no frame has an empty
border. The ground truth is the matrix mapping each frame's pixels to the
reference frame, in the convention of :attr:`AlignResult.transforms`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from allfocus._core.errors import InputError
from allfocus.synth import make_scene, render_stack


@dataclass
class MisalignedStack:
    """A misaligned focal stack and its ground truth.

    Attributes
    ----------
    frames : (S, M, N[, C]) ndarray of float32
        The observed (misaligned, defocused) frames.
    transforms : (S, 3, 3) ndarray of float64
        True map of pixel ``(x, y, 1)`` of frame ``k`` to frame ``reference``.
    reference : int
        Frame the transforms point to.
    aligned : (S, M, N[, C]) ndarray of float32
        Each frame's content resampled straight from the canvas into the
        reference frame's geometry: the ideal output of an aligner (same
        defocus as ``frames``, no second interpolation). All resampling here
        uses cubic splines at exact positions.
    canvas_maps : (S, 3, 3) ndarray of float64
        Map of output pixel ``(x, y, 1)`` of frame ``k`` to canvas pixels.
    """

    frames: NDArray[np.float32]
    transforms: NDArray[np.float64]
    reference: int
    aligned: NDArray[np.float32]
    canvas_maps: NDArray[np.float64]


def _about(matrix: NDArray, centre: tuple[float, float]) -> NDArray[np.float64]:
    cx, cy = centre
    to = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1]], dtype=np.float64)
    back = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]], dtype=np.float64)
    return to @ matrix @ back


def random_motion(
    num_frames: int,
    *,
    shape: tuple[int, int],
    max_shift: float = 40.0,
    max_scale: float = 0.05,
    max_rotation: float = 2.0,
    model: str = "similarity",
    rng: int | np.random.Generator | None = None,
) -> NDArray[np.float64]:
    """Random frame motions as (S, 3, 3) maps of frame pixels to scene pixels.

    Translations are uniform in ``[-max_shift, max_shift]`` per axis, rotations
    uniform in ``[-max_rotation, max_rotation]`` degrees, and the scale grows
    linearly through the stack from 1 to ``1 +/- max_scale`` (focus breathing).
    ``model="affine"`` adds up to 1.5 % anisotropic scale and shear,
    ``"homography"`` also a keystone of up to 1.5 % across the frame.
    """
    gen = np.random.default_rng(rng)
    h, w = shape
    sign = 1.0 if gen.random() < 0.5 else -1.0
    scales = 1.0 + sign * max_scale * np.linspace(0.0, 1.0, num_frames)
    out = np.empty((num_frames, 3, 3), dtype=np.float64)
    for k in range(num_frames):
        theta = np.deg2rad(gen.uniform(-max_rotation, max_rotation))
        c, s = np.cos(theta) * scales[k], np.sin(theta) * scales[k]
        m = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        if model in ("affine", "homography"):
            m[:2, :2] = m[:2, :2] @ (np.eye(2) + gen.uniform(-0.015, 0.015, size=(2, 2)))
        if model == "homography":
            m[2, :2] = gen.uniform(-0.015, 0.015, size=2) / (0.5 * np.array([w, h]))
        m[:2, 2] = gen.uniform(-max_shift, max_shift, size=2)
        out[k] = _about(m, ((w - 1) / 2, (h - 1) / 2))
    return out


def _warp_exact(image: NDArray, matrix: NDArray, shape: tuple[int, int]) -> NDArray[np.float32]:
    """Sample ``image`` at ``matrix @ (x, y, 1)`` for every output pixel.

    Cubic splines at the exact positions (OpenCV's warps round positions to
    1/32 pixel, too coarse for a ground truth).
    """
    from scipy import ndimage  # only here: importing it costs every command 0.4 s

    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    pts = np.tensordot(matrix, np.stack([xx, yy, np.ones_like(xx)]), axes=1)
    coords = np.stack([pts[1] / pts[2], pts[0] / pts[2]])
    if image.ndim == 2:
        return ndimage.map_coordinates(image, coords, order=3, mode="reflect").astype(np.float32)
    return np.stack(
        [
            ndimage.map_coordinates(image[..., c], coords, order=3, mode="reflect")
            for c in range(image.shape[2])
        ],
        axis=-1,
    ).astype(np.float32)


def misaligned_stack(
    shape: tuple[int, int] = (256, 256),
    num_frames: int = 5,
    *,
    max_shift: float = 40.0,
    max_scale: float = 0.05,
    max_rotation: float = 2.0,
    model: str = "similarity",
    color: bool = False,
    max_radius: float = 4.0,
    noise: float = 0.0,
    reference: int | None = None,
    motions: NDArray | None = None,
    rng: int | np.random.Generator | None = None,
) -> MisalignedStack:
    """Render a defocused stack whose frames move by known transforms.

    Parameters
    ----------
    shape : (int, int)
        Output frame height and width.
    num_frames : int
        Frames in the stack.
    max_shift, max_scale, max_rotation, model
        Motion ranges, see :func:`random_motion`.
    color : bool
        RGB frames (channels last) when true.
    max_radius : float
        Largest defocus blur radius in pixels (see
        :func:`allfocus.synth.render_stack`).
    noise : float
        Gaussian noise added after warping, in [0, 1] units.
    reference : int, optional
        Frame the true transforms point to; the middle frame by default.
    motions : (S, 3, 3) array_like, optional
        Explicit frame-to-scene maps instead of random ones.
    rng : None, int or numpy.random.Generator
        Seed or generator.

    Returns
    -------
    MisalignedStack
    """
    gen = np.random.default_rng(rng)
    h, w = shape
    if motions is None:
        motions = random_motion(
            num_frames,
            shape=shape,
            max_shift=max_shift,
            max_scale=max_scale,
            max_rotation=max_rotation,
            model=model,
            rng=gen,
        )
    motions = np.asarray(motions, dtype=np.float64)
    num_frames = motions.shape[0]
    ref = num_frames // 2 if reference is None else reference
    if not 0 <= ref < num_frames:
        raise InputError(f"reference must be in [0, {num_frames - 1}]; got {reference}")
    # Canvas large enough that every warped frame corner stays inside it.
    corners = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], float).T
    reach = 0.0
    for m in motions:
        p = m @ corners
        p = p[:2] / p[2]
        off = np.abs(p - np.array([[(w - 1) / 2], [(h - 1) / 2]]))
        reach = max(reach, float(off.max()))
    pad = int(np.ceil(reach - max(h, w) / 2)) + 8
    pad = max(pad, 8)
    big = (h + 2 * pad, w + 2 * pad)
    scene = make_scene(big, color=color, rng=gen)
    synth = render_stack(
        scene.image,
        scene.depth,
        num_frames=num_frames,
        max_radius=max_radius,
        num_layers=16,
        channel_axis=-1 if color else None,
    )
    shift = np.array([[1, 0, pad], [0, 1, pad], [0, 0, 1]], dtype=np.float64)
    canvas_maps = np.stack([shift @ m for m in motions])
    frames = np.empty((num_frames, h, w, *synth.frames.shape[3:]), dtype=np.float32)
    aligned = np.empty_like(frames)
    for k in range(num_frames):
        frames[k] = _warp_exact(synth.frames[k], canvas_maps[k], (h, w))
        aligned[k] = _warp_exact(synth.frames[k], canvas_maps[ref], (h, w))
    if noise > 0:
        frames += gen.normal(0.0, noise, size=frames.shape).astype(np.float32)
    np.clip(frames, 0.0, 1.0, out=frames)
    np.clip(aligned, 0.0, 1.0, out=aligned)
    inv_ref = np.linalg.inv(motions[ref])
    transforms = np.stack([inv_ref @ m for m in motions])
    transforms /= transforms[:, 2:3, 2:3]
    return MisalignedStack(frames, transforms, ref, aligned, canvas_maps)


def corner_errors(estimated: NDArray, true: NDArray, shape: tuple[int, int]) -> NDArray[np.float64]:
    """Distances (pixels) between the 4 frame corners mapped by two transforms.

    Returns, per frame, the Euclidean distances of the four corners
    ``(0, 0), (N-1, 0), (0, M-1), (N-1, M-1)`` mapped by ``estimated[k]`` and by
    ``true[k]``, shape ``(S, 4)``.
    """
    h, w = shape
    corners = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], float).T
    est = np.asarray(estimated, dtype=np.float64) @ corners
    tru = np.asarray(true, dtype=np.float64) @ corners
    est = est[:, :2] / est[:, 2:3]
    tru = tru[:, :2] / tru[:, 2:3]
    return np.sqrt(((est - tru) ** 2).sum(axis=1))
