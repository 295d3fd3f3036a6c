"""Write a synthetic focal stack to files (used by ``allfocus synth`` and the sample)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from allfocus._core.errors import InputError
from allfocus.synth import synthetic_stack

#: Subfolder of a written stack that holds its ground truth (not a frame).
TRUTH_FOLDER = "truth"


def write_synthetic_stack(
    outdir: str | os.PathLike,
    *,
    num_frames: int = 5,
    shape: tuple[int, int] = (480, 640),
    max_radius: float = 6.0,
    noise: float = 0.0,
    color: bool = True,
    scene: str = "objects",
    bits: int = 8,
    seed: int = 0,
    overwrite: bool = False,
) -> list[Path]:
    """Render a scene (``scene``: see :func:`allfocus.synth.synthetic_stack`) and write
    ``frame_00.png ...`` and, in the subfolder ``truth``, its ground truth ``sharp.png``
    and ``depth.tif``.

    The truth lies apart so that the folder fuses as it is (``allfocus fuse
    outdir``) without the answer taken for a frame. Returns the written paths:
    the frames, then ``sharp.png`` and ``depth.tif``.
    """
    from allfocus import io

    if bits not in (8, 16):
        raise InputError(f"bits must be 8 or 16; got {bits}")
    if num_frames < 2:
        raise InputError(f"a focus stack needs at least 2 frames; got {num_frames}")
    outdir = Path(outdir)
    # Rendered first: bad options leave no folder behind.
    stack = synthetic_stack(
        shape, num_frames, color=color, max_radius=max_radius, noise=noise, scene=scene, rng=seed
    )
    outdir.mkdir(parents=True, exist_ok=True)
    dtype = np.uint8 if bits == 8 else np.uint16
    width = max(2, len(str(num_frames - 1)))
    written = []
    for k, frame in enumerate(stack.frames):
        path = outdir / f"frame_{k:0{width}d}.png"
        written.append(io.write_image(path, frame, dtype=dtype, overwrite=overwrite))
    truth = outdir / TRUTH_FOLDER
    truth.mkdir(exist_ok=True)
    written.append(
        io.write_image(truth / "sharp.png", stack.sharp, dtype=dtype, overwrite=overwrite)
    )
    written.append(
        io.write_image(truth / "depth.tif", stack.depth, dtype=np.float32, overwrite=overwrite)
    )
    return written
