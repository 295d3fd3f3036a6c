"""Synthetic focal stacks with ground truth (for tests, benchmarks and training).

A sharp image and a depth map give N frames blurred by disc point-spread
functions whose radius follows the thin-lens circle of confusion, composited
layer by layer so that a defocused foreground spreads over the background.
"""

from __future__ import annotations

import numpy as np

from allfocus.synth.render import SynthStack, coc_radius, render_stack
from allfocus.synth.scene import Scene, make_scene, texture


def synthetic_stack(
    shape: tuple[int, int] = (256, 256),
    num_frames: int = 5,
    *,
    color: bool = True,
    num_objects: int = 4,
    max_radius: float = 6.0,
    noise: float = 0.0,
    rng: int | np.random.Generator | None = None,
) -> SynthStack:
    """Render a procedural scene as a focal stack of ``num_frames`` frames.

    Convenience wrapper of :func:`make_scene` and :func:`render_stack`; see
    them for the parameters.

    Examples
    --------
    >>> s = synthetic_stack((64, 64), 3, rng=0)
    >>> s.frames.shape, s.sharp.shape
    ((3, 64, 64, 3), (64, 64, 3))
    """
    gen = np.random.default_rng(rng)
    scene = make_scene(shape, color=color, num_objects=num_objects, rng=gen)
    return render_stack(
        scene.image,
        scene.depth,
        num_frames=num_frames,
        max_radius=max_radius,
        noise=noise,
        channel_axis=-1 if color else None,
        rng=gen,
    )


__all__ = [
    "Scene",
    "SynthStack",
    "coc_radius",
    "make_scene",
    "render_stack",
    "synthetic_stack",
    "texture",
]
