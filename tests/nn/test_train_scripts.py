"""The training scripts end to end on tiny configs: weights, loss plot and record."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("yaml")
pytest.importorskip("matplotlib")

from allfocus.synth import texture  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for k in range(2):
        img = texture((72, 72), color=True, rng=rng)
        cv2.imwrite(str(folder / f"p{k}.png"), np.round(img * 255).astype(np.uint8))
    return folder


@pytest.mark.parametrize("kind", ["gacn", "deblur"])
def test_script_writes_weights_plot_and_record(kind, tmp_path, photos, monkeypatch):
    module = _script(f"train_{kind}")
    monkeypatch.setattr(module, "ROOT", tmp_path)
    model = (
        "model: {channels: 4, num_blocks: 1, activity_channels: 2, decision_channels: 2}"
        if kind == "gacn"
        else "model: {width: 8, enc_blocks: [1], middle_blocks: 1, dec_blocks: [1]}"
    )
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        f"""
name: tiny
steps: 2
batch_size: 2
threads: 1
log_every: 1
checkpoint_dir: ckpt
output: out/w.pt
record: out/w.md
loss_plot: out/loss.png
{model}
data: {{folders: [{photos}], crop: 48}}
"""
    )
    args = ["--config", str(cfg)] + (["--half"] if kind == "deblur" else [])
    assert module.main(args) == 0
    state = torch.load(tmp_path / "out" / "w.pt", weights_only=True)
    if kind == "deblur":
        assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    else:  # the file records its (tiny, unshipped) architecture and loads from it alone
        from allfocus.nn.infer import pretrained_gacn

        net = pretrained_gacn(str(tmp_path / "out" / "w.pt"))
        assert net.features.out_channels == 4 and net.project.out_channels == 2
    record = (tmp_path / "out" / "w.md").read_text()
    assert "Steps: 2" in record and "sha256" in record and '"name": "tiny"' in record
    assert (tmp_path / "out" / "loss.png").stat().st_size > 1000
