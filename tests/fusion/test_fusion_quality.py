"""Ground-truth quality of the fusion methods on synthetic focal stacks.

Floors were measured with ``allfocus.synth.synthetic_stack((128, 128), S,
rng=seed)`` (noise-free, disc PSFs, ``max_radius=6``) and lowered by a margin
of about 0.5 dB, so a real regression fails while float noise does not.
Measured PSNR (dB, whole image / 6-px occlusion band / far side of occlusion
edges) for 5 frames, seed 0: depthmap 35.34 / 30.78 / 25.96, pyramid
35.31 / 30.75 / 25.96, guided 32.89 / 28.15 / 24.35, depthmap with a 15-px
Laplacian-energy window 33.50 / 28.68 / 24.35.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from allfocus.fusion import fuse
from allfocus.synth import synthetic_stack


def psnr(image, truth, mask=None):
    err = ((image - truth) ** 2).mean(axis=-1)
    mse = err.mean() if mask is None else err[mask].mean()
    return 10 * np.log10(1.0 / mse)


def _disc(width):
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))


def occlusion_band(depth, width=6):
    """Pixels within ``width`` of a depth discontinuity of the synthetic scene."""
    gy, gx = np.gradient(depth.astype(np.float32))
    edges = (np.hypot(gx, gy) > 0.05).astype(np.uint8)
    return cv2.dilate(edges, _disc(width)).astype(bool)


def far_side(depth, width=3):
    """Background pixels within ``width`` of a nearer object (where its rim spreads)."""
    d = depth.astype(np.float32)
    return d > cv2.erode(d, _disc(width)) + 0.05


@pytest.fixture(scope="module")
def stacks():
    return {
        (num, seed): synthetic_stack((128, 128), num, rng=seed)
        for num, seed in [(2, 0), (5, 0), (5, 1), (10, 0)]
    }


@pytest.mark.parametrize(
    ("method", "num", "seed", "floor"),
    [
        ("depthmap", 5, 0, 34.8),
        ("depthmap", 5, 1, 33.6),
        ("depthmap", 10, 0, 37.4),
        ("depthmap", 2, 0, 27.6),
        ("pyramid", 5, 0, 34.8),
        ("pyramid", 10, 0, 36.9),
        ("guided", 5, 0, 32.4),
        ("guided", 10, 0, 34.3),
    ],
)
def test_psnr_floor(stacks, method, num, seed, floor):
    s = stacks[num, seed]
    res = fuse(s.frames, method=method, channel_axis=-1)
    assert psnr(res.image, s.sharp) > floor
    # Far better than the plain average of the frames.
    assert psnr(res.image, s.sharp) > psnr(s.frames.mean(axis=0), s.sharp) + 2


def test_default_beats_guided_and_matches_pyramid(stacks):
    for key in [(5, 0), (5, 1), (10, 0)]:
        s = stacks[key]
        scores = {
            m: psnr(fuse(s.frames, method=m, channel_axis=-1).image, s.sharp)
            for m in ("depthmap", "pyramid", "guided")
        }
        assert scores["depthmap"] > scores["guided"] + 1.5
        assert scores["depthmap"] > scores["pyramid"] - 0.2


def test_occlusion_band(stacks):
    s = stacks[5, 0]
    band, far = occlusion_band(s.depth), far_side(s.depth)
    res = fuse(s.frames, method="depthmap", channel_axis=-1)
    assert psnr(res.image, s.sharp, band) > 30.2
    assert psnr(res.image, s.sharp, far) > 25.4
    # A wide focus window spreads decisions across the edge: glow on the
    # background, blur on the object. The default must be clearly better.
    wide = fuse(s.frames, method="depthmap", channel_axis=-1, measure="laplacian_energy", window=15)
    assert psnr(res.image, s.sharp, band) > psnr(wide.image, s.sharp, band) + 1.5
    assert psnr(res.image, s.sharp, far) > psnr(wide.image, s.sharp, far) + 1.0


def test_near_object_wins_at_its_edges(stacks):
    s = stacks[5, 0]
    d = s.depth.astype(np.float32)
    near = d < cv2.dilate(d, _disc(3)) - 0.05  # object pixels next to farther background
    res = fuse(s.frames, method="depthmap", channel_axis=-1)
    assert (np.abs(res.depth - s.best_frame)[near] <= 0.5).mean() > 0.95
    assert psnr(res.image, s.sharp, near) > 33.0


def test_depth_map_tracks_scene_depth(stacks):
    s = stacks[5, 0]
    res = fuse(s.frames, method="depthmap", channel_axis=-1)
    inv = 1 / s.focus_distances
    truth = (inv[0] - 1 / s.depth) / (inv[0] - inv[-1]) * (len(inv) - 1)
    inner = ~occlusion_band(s.depth, 3)
    assert np.abs(res.depth - truth)[inner].mean() < 0.3
    assert res.confidence[inner].mean() > 0.5


def test_flat_regions_have_low_confidence():
    rng = np.random.default_rng(0)
    frames = np.full((3, 48, 48), 0.5, np.float32)
    frames[:, :, 24:] += rng.normal(0, 0.05, (3, 48, 24)).astype(np.float32)
    for method in ("depthmap", "pyramid", "guided"):
        res = fuse(frames, method=method)
        assert res.confidence[:, :4].max() < 0.05, method
