"""Acceptance numbers of issue 7 on small synthetic frames (see docs/sharpen.md).

The frame is the middle one of a three-frame stack rendered with
``max_radius=10``, so its blur radius varies from 0 to about 5 px across the
picture, with noise 0.005 as in real photos. The default method must gain
1.5 dB over the input on average and at least half of what the same
deconvolution gains with the true blur map; a sharp photo must come back
within 40 dB.
"""

from __future__ import annotations

import numpy as np
import pytest

from allfocus.restore import deconvolve_by_map, sharpen
from allfocus.synth import make_scene, render_stack

SEEDS = range(6)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((np.asarray(a, np.float64) - b) ** 2)))


@pytest.fixture(scope="module")
def frames():
    out = []
    for seed in SEEDS:
        scene = make_scene((256, 256), rng=seed)
        stack = render_stack(
            scene.image,
            scene.depth,
            num_frames=3,
            max_radius=10,
            noise=0.005,
            channel_axis=-1,
            rng=seed,
        )
        out.append((stack.frames[1], stack.radii[1], stack.sharp))
    return out


def test_default_gains_over_input_and_half_the_oracle(frames):
    gains, oracle = [], []
    for frame, radii, sharp in frames:
        assert 4.5 < radii.max() <= 5.0
        before = psnr(frame, sharp)
        gains.append(psnr(sharpen(frame, channel_axis=-1).image, sharp) - before)
        oracle.append(psnr(deconvolve_by_map(frame, radii, channel_axis=-1), sharp) - before)
    assert np.mean(gains) >= 1.5, gains
    assert np.mean(gains) >= 0.5 * np.mean(oracle), (gains, oracle)


def test_seed_operators_do_not_beat_the_default(frames):
    frame, _, sharp = frames[0]
    default = psnr(sharpen(frame, channel_axis=-1).image, sharp)
    for method in ("kernel3", "unsharp", "clahe"):
        assert psnr(sharpen(frame, method=method, channel_axis=-1).image, sharp) < default


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("noise", [0.0, 0.005])
def test_sharp_photo_is_not_made_worse(seed, noise):
    image = make_scene((256, 256), rng=seed).image
    rng = np.random.default_rng(seed)
    image = np.clip(image + rng.normal(0, noise, image.shape), 0, 1).astype(np.float32)
    out = sharpen(image, channel_axis=-1).image
    assert psnr(out, image) >= 40.0
