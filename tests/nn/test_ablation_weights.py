"""The ablation runs' weights (``benchmarks/ablation/``) are the ones their configs describe.

bench_gacn scores them for docs/benchmarks.md; these checks fail when a file is
replaced without its record, or a config no longer matches what was trained.
"""

import hashlib
import re
from pathlib import Path

import pytest

from allfocus.fusion import fuse
from allfocus.metrics import psnr
from allfocus.nn.infer import pretrained_gacn
from allfocus.nn.train.config import load_config
from allfocus.synth import synthetic_stack

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").glob("gacn_ablation_*.yaml"))


def test_every_ablation_has_a_config():
    assert len(CONFIGS) >= 4  # control, two recipes, no boundary filter
    names = {load_config(path).name for path in CONFIGS}
    assert "ablation_control" in names


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_ablation_weights_match_config_and_record(config):
    cfg = load_config(config)
    weights = ROOT / cfg.output
    record = ROOT / cfg.record
    assert weights.is_file(), f"train it: python scripts/train_gacn.py --config {config.name}"
    text = record.read_text()
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert f"sha256 `{digest}`" in text, "the record describes another file"
    match = re.search(r"Steps: (\d+) of batch (\d+) pairs", text)
    assert match and int(match[1]) == cfg.steps and int(match[2]) == cfg.batch_size
    assert f"recipe `{cfg.data.recipe}`" in text
    model = pretrained_gacn(str(weights))
    assert model.boundary_filter == cfg.model.boundary_filter


@pytest.mark.parametrize("key", ["nofilter", "synthrecipe"])
def test_ablation_weights_fuse(key):
    """A weight file fuses through the public method (torch backend, the network's own
    output), closer to the truth than either frame."""
    cfg = load_config(ROOT / "configs" / f"gacn_ablation_{key}.yaml")
    stack = synthetic_stack((128, 128), 2, noise=0.0, rng=3)
    refine = "network" if cfg.model.boundary_filter else "soft"
    out = fuse(
        stack.frames, method="gacn", channel_axis=-1, weights=str(ROOT / cfg.output), refine=refine
    )
    fused = psnr(out.image, stack.sharp, channel_axis=-1)
    frames = [psnr(frame, stack.sharp, channel_axis=-1) for frame in stack.frames]
    assert fused > max(frames) + 1.0
