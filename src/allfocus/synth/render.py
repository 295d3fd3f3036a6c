"""Thin-lens focal-stack rendering with layered occlusion.

Hand-written because no library renders a focal stack from an image and a
depth map: we blur depth layers with disc PSFs and composite them back to
front, which is the standard approximation of defocus at occlusion edges (a
defocused near object's rim spreads over the background behind it).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from allfocus._core.errors import InputError
from allfocus._core.validate import as_float_image, move_channels_last
from allfocus.restore.psf import disc_psf


@dataclass
class SynthStack:
    """A rendered focal stack with its ground truth.

    Attributes
    ----------
    frames : (S, M, N[, C]) ndarray of float32
        The defocused frames in [0, 1], colour last when present.
    sharp : (M, N[, C]) ndarray of float32
        The all-in-focus ground truth.
    depth : (M, N) ndarray of float32
        Scene distance per pixel (arbitrary units, larger is farther).
    focus_distances : (S,) ndarray of float64
        Distance each frame is focused at, near to far.
    radii : (S, M, N) ndarray of float32
        Circle-of-confusion radius (pixels) of the surface at each pixel in
        each frame.
    channel_axis : int or None
        -1 for colour stacks, None for grey.
    """

    frames: NDArray[np.float32]
    sharp: NDArray[np.float32]
    depth: NDArray[np.float32]
    focus_distances: NDArray[np.float64]
    radii: NDArray[np.float32]
    channel_axis: int | None

    @property
    def best_frame(self) -> NDArray[np.intp]:
        """(M, N) index of the frame in which each pixel is sharpest."""
        return np.argmin(self.radii, axis=0)

    @property
    def frame_depth(self) -> NDArray[np.float32]:
        """(M, N) true depth in frame units, the scale of ``FusionResult.depth``.

        Inverse distance interpolated linearly between the frames' focus
        planes: ``k`` on frame ``k``'s plane, ``k + 0.5`` halfway (in inverse
        distance) to the next, clamped to the first and last frame beyond
        them. What a decision-map method's sub-frame depth estimates.
        """
        inv = 1.0 / self.focus_distances
        order = np.argsort(inv)
        steps = np.interp(1.0 / self.depth, inv[order], order.astype(np.float64))
        return steps.astype(np.float32)


def coc_radius(depth: NDArray, focus_distance: float, *, scale: float) -> NDArray[np.float32]:
    """Thin-lens circle-of-confusion radius in pixels.

    For a lens of fixed aperture and focal length the blur radius of a point
    at distance ``d`` when focused at ``f`` is proportional to
    ``|1/d - 1/f|`` (the defocus in dioptres); ``scale`` is that constant of
    proportionality in pixels per inverse distance unit.
    """
    depth = np.asarray(depth, dtype=np.float64)
    return (scale * np.abs(1.0 / depth - 1.0 / focus_distance)).astype(np.float32)


def _blur(image: NDArray[np.float32], radius: float) -> NDArray[np.float32]:
    kernel = disc_psf(radius)
    if kernel.shape == (1, 1):
        return image.copy()
    return cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT)


def render_stack(
    image: NDArray,
    depth: NDArray,
    *,
    num_frames: int = 5,
    focus_distances: NDArray | None = None,
    max_radius: float = 6.0,
    num_layers: int = 32,
    noise: float = 0.0,
    channel_axis: int | None = None,
    rng: int | np.random.Generator | None = None,
) -> SynthStack:
    """Render a focal stack of ``image`` seen at distances ``depth``.

    Depth is split into ``num_layers`` layers (equal steps of inverse
    distance); for each frame every layer is blurred by the disc PSF of its
    circle of confusion and composited far to near with its blurred coverage
    as alpha, so defocused foreground spreads over the background.

    Parameters
    ----------
    image : (M, N[, C]) ndarray
        Sharp image (any dtype; integers are scaled to [0, 1]).
    depth : (M, N) ndarray
        Positive scene distance per pixel.
    num_frames : int
        Frames to render when ``focus_distances`` is not given; they are
        spaced evenly in inverse distance between the nearest and farthest
        depth.
    focus_distances : (S,) array_like, optional
        Explicit focus distances.
    max_radius : float
        Blur radius (pixels) of the nearest surface when focused on the
        farthest one; sets the aperture.
    num_layers : int
        Depth layers used for compositing.
    noise : float
        Standard deviation of additive Gaussian noise, in [0, 1] units.
    channel_axis : int or None
        Colour axis of ``image``.
    rng : None, int or numpy.random.Generator
        Randomness for the noise.

    Returns
    -------
    SynthStack

    Examples
    --------
    >>> import numpy as np
    >>> img = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    >>> d = np.where(np.arange(32)[None, :] < 16, 1.0, 3.0) * np.ones((32, 1))
    >>> s = render_stack(img, d, num_frames=3, max_radius=3)
    >>> s.frames.shape
    (3, 32, 32)
    """
    sharp = as_float_image(move_channels_last(np.asarray(image), channel_axis, stack=False))
    depth = np.asarray(depth, dtype=np.float64)
    if depth.shape != sharp.shape[:2]:
        raise InputError(
            f"depth must have the image's spatial shape {sharp.shape[:2]}; got {depth.shape}"
        )
    if not np.isfinite(depth).all() or depth.min() <= 0:
        raise InputError("depth must be finite and positive everywhere")
    if num_layers < 1:
        raise InputError(f"num_layers must be >= 1; got {num_layers}")
    if max_radius < 0:
        raise InputError(f"max_radius must be >= 0; got {max_radius}")
    if not 0 <= noise <= 1:
        # (a negative sigma was silently taken as its absolute value)
        raise InputError(
            f"noise must lie in [0, 1] (a standard deviation in units of the full range, "
            f"such as 0.003); got {noise}"
        )
    inv = 1.0 / depth
    inv_near, inv_far = float(inv.max()), float(inv.min())
    if focus_distances is None:
        if num_frames < 1:
            raise InputError(f"num_frames must be >= 1; got {num_frames}")
        focus_inv = (
            np.linspace(inv_near, inv_far, num_frames)
            if num_frames > 1
            else [0.5 * (inv_near + inv_far)]
        )
        focus_distances = 1.0 / np.asarray(focus_inv)
    focus_distances = np.asarray(focus_distances, dtype=np.float64)
    span = inv_near - inv_far
    scale = max_radius / span if span > 0 else 0.0

    # Quantise inverse depth into layers; each layer keeps its mean depth.
    if span > 0:
        edges = np.linspace(inv_far, inv_near, num_layers + 1)
        layer = np.clip(np.digitize(inv, edges[1:-1]), 0, num_layers - 1)
    else:
        layer = np.zeros(depth.shape, dtype=np.intp)
    present = np.unique(layer)  # far (0) to near
    color = sharp.ndim == 3
    frames = np.empty((len(focus_distances), *sharp.shape), dtype=np.float32)
    for k, focus in enumerate(focus_distances):
        acc = np.zeros_like(sharp)
        acc_alpha = np.zeros(sharp.shape[:2], dtype=np.float32)
        for lay in present:
            mask = layer == lay
            layer_inv = float(inv[mask].mean())
            radius = scale * abs(layer_inv - 1.0 / focus)
            alpha = _blur(mask.astype(np.float32), radius)
            premult = sharp * (mask[..., None] if color else mask)
            col = _blur(premult.astype(np.float32), radius)
            if col.ndim == 2 and color:
                col = col[..., None]
            keep = 1.0 - alpha
            acc = col + (keep[..., None] if color else keep) * acc
            acc_alpha = alpha + keep * acc_alpha
        norm = np.maximum(acc_alpha, 1e-6)
        frames[k] = acc / (norm[..., None] if color else norm)
    if noise > 0:
        gen = np.random.default_rng(rng)
        frames += gen.normal(0.0, noise, size=frames.shape).astype(np.float32)
    np.clip(frames, 0.0, 1.0, out=frames)
    radii = np.stack([coc_radius(depth, f, scale=scale) for f in focus_distances])
    return SynthStack(
        frames=frames,
        sharp=sharp,
        depth=depth.astype(np.float32),
        focus_distances=focus_distances,
        radii=radii,
        channel_axis=-1 if color else None,
    )
