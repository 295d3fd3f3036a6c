"""The Q^AB/F ceiling benchmark's blend search (``benchmarks/qabf_ceiling.py``)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

from allfocus.metrics import qabf

pytest.importorskip("torch")

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def ceiling(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    yield importlib.import_module("qabf_ceiling")
    for name in ("qabf_ceiling", "bench_gacn"):
        sys.modules.pop(name, None)


def _pair(seed: int = 0):
    rng = np.random.default_rng(seed)
    photo = rng.random((300, 300, 3)).astype(np.float32)
    photo = np.repeat(np.repeat(photo, 2, 0), 2, 1)  # some structure above the pixel scale
    return rng, photo


def test_ideal_pair_is_the_truth_on_each_side_of_its_mask(ceiling):
    rng, photo = _pair()
    pair, truth = ceiling.ideal_pair(photo, rng)
    assert pair.shape == (2, 256, 256, 3) and truth.shape == (256, 256, 3)
    sharp_in_a = np.all(pair[0] == truth, axis=-1)
    sharp_in_b = np.all(pair[1] == truth, axis=-1)
    # every pixel is sharp in exactly one frame (flat patches may be both)
    assert np.mean(sharp_in_a | sharp_in_b) > 0.99
    assert 0.05 < np.mean(sharp_in_a & ~sharp_in_b) < 0.95


def test_start_mask_reads_the_share_of_each_frame(ceiling):
    rng, photo = _pair(1)
    pair, _ = ceiling.ideal_pair(photo, rng)
    share = np.full(pair.shape[1:3], 0.3, np.float32)
    fused = share[..., None] * pair[0] + (1 - share[..., None]) * pair[1]
    start = ceiling.start_mask(pair, fused)
    differ = np.abs((pair[0] - pair[1]) @ ceiling._LUMA) >= 1e-3
    np.testing.assert_allclose(start[differ], 0.3, atol=1e-3)
    assert np.all(start[~differ] == 0.5)


@pytest.mark.parametrize("cell", [1, 4])
def test_best_blend_raises_the_metric_above_its_start(ceiling, cell):
    rng, photo = _pair(2)
    pair, _ = ceiling.ideal_pair(photo, rng)
    pair = pair[:, :64, :64]
    start = np.full((64, 64), 0.5, np.float32)
    blend, mask = ceiling.best_blend(pair, start, cell=cell, steps=40)
    assert mask.shape == (64, 64) and np.all((mask >= 0) & (mask <= 1))
    np.testing.assert_allclose(blend, mask[..., None] * pair[0] + (1 - mask[..., None]) * pair[1])
    before = qabf(0.5 * pair[0] + 0.5 * pair[1], list(pair), channel_axis=-1)
    assert qabf(blend, list(pair), channel_axis=-1) > before + 0.02
