"""Misaligned synthetic stacks with known transforms, rendered once per session."""

from __future__ import annotations

from functools import cache

import pytest

from allfocus.align._synthetic import MisalignedStack, misaligned_stack


@cache
def _stack(
    seed: int,
    shape: tuple[int, int] = (256, 256),
    num_frames: int = 5,
    model: str = "similarity",
    color: bool = False,
    max_radius: float = 4.0,
    still: bool = False,
) -> MisalignedStack:
    motion = {"max_shift": 0.0, "max_scale": 0.0, "max_rotation": 0.0} if still else {}
    return misaligned_stack(
        shape,
        num_frames,
        model=model,
        color=color,
        max_radius=max_radius,
        rng=seed,
        **motion,
    )


@pytest.fixture(scope="session")
def make_stack():
    """``make_stack(seed, shape=..., num_frames=..., model=..., color=..., still=...)``.

    Frames are defocused (allfocus.synth) and moved by known transforms: shift
    up to 40 px per axis, rotation up to 2 degrees, scale up to 5 % (focus
    breathing); cached, so treat the arrays as read-only.
    """
    return _stack
