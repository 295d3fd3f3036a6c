"""Synthetic focal stacks with ground truth (for tests, benchmarks and training).

A sharp image and a depth map give N frames blurred by disc point-spread
functions whose radius follows the thin-lens circle of confusion, composited
layer by layer so that a defocused foreground spreads over the background.
"""

from __future__ import annotations

import numpy as np

from allfocus._core.errors import InputError
from allfocus.synth.render import SynthStack, coc_radius, render_stack
from allfocus.synth.scene import Scene, make_label_scene, make_scene, texture

#: Scenes :func:`synthetic_stack` draws: ``"objects"`` (textured objects over a
#: slanted textured background, :func:`make_scene`) or ``"label"`` (a slanted
#: printed surface, :func:`make_label_scene`).
SCENES = ("objects", "label")


def synthetic_stack(
    shape: tuple[int, int] = (256, 256),
    num_frames: int = 5,
    *,
    color: bool = True,
    num_objects: int = 4,
    max_radius: float = 6.0,
    noise: float = 0.0,
    scene: str = "objects",
    rng: int | np.random.Generator | None = None,
) -> SynthStack:
    """Render a procedural scene as a focal stack of ``num_frames`` frames.

    Convenience wrapper of :func:`make_scene` (``scene="objects"``) or
    :func:`make_label_scene` (``scene="label"``; ``num_objects`` unused) and
    :func:`render_stack`; see them for the parameters.

    Examples
    --------
    >>> s = synthetic_stack((64, 64), 3, rng=0)
    >>> s.frames.shape, s.sharp.shape
    ((3, 64, 64, 3), (64, 64, 3))
    """
    if scene not in SCENES:
        raise InputError(f"scene must be one of {', '.join(SCENES)}; got {scene!r}")
    gen = np.random.default_rng(rng)
    if scene == "label":
        drawn = make_label_scene(shape, color=color, rng=gen)
    else:
        drawn = make_scene(shape, color=color, num_objects=num_objects, rng=gen)
    return render_stack(
        drawn.image,
        drawn.depth,
        num_frames=num_frames,
        max_radius=max_radius,
        noise=noise,
        channel_axis=-1 if color else None,
        rng=gen,
    )


__all__ = [
    "SCENES",
    "Scene",
    "SynthStack",
    "coc_radius",
    "make_label_scene",
    "make_scene",
    "render_stack",
    "synthetic_stack",
    "texture",
]
