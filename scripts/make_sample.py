"""Generate the sample focus stack bundled in src/allfocus/data/sample.

The frames are rendered by allfocus.synth (so they are free of any licence
question), then given a slight magnification change through the stack (focus
breathing, 1.2 % end to end) and a few pixels of handheld shift so the sample
exercises alignment too. Saved as JPEG (quality 92) to stay small.

    python scripts/make_sample.py
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from allfocus import io
from allfocus.synth import make_scene, render_stack

OUT = Path(__file__).resolve().parents[1] / "src" / "allfocus" / "data" / "sample"


def main(breathing: float = 0.012, shake: float = 3.0, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    big = (360, 480)
    scene = make_scene(big, color=True, num_objects=5, rng=rng)
    stack = render_stack(
        scene.image, scene.depth, num_frames=6, max_radius=7, noise=0.004, channel_axis=-1, rng=rng
    )
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.jpg"):
        old.unlink()
    h, w = big
    n = stack.frames.shape[0]
    for k, frame in enumerate(stack.frames):
        scale = 1.0 + breathing * (k / (n - 1) - 0.5)
        dx, dy = rng.uniform(-shake, shake, size=2)
        m = cv2.getRotationMatrix2D((w / 2, h / 2), 0.0, scale)
        m[:, 2] += (dx, dy)
        warped = cv2.warpAffine(
            frame, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT
        )
        crop = warped[20:-20, 20:-20]
        io.write_image(
            OUT / f"frame_{k + 1}.jpg",
            np.clip(crop, 0, 1),
            dtype=np.uint8,
            quality=92,
            overwrite=True,
        )
    print(f"wrote {n} frames to {OUT}")


if __name__ == "__main__":
    main()
