"""The deblurring network: architecture, tiled inference, the ``learned`` method, training."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("yaml")

from allfocus._core.errors import ConfigError  # noqa: E402
from allfocus.nn.archs.deblur import DeblurNet, PatchDiscriminator  # noqa: E402
from allfocus.nn.infer import deblur_rgb  # noqa: E402
from allfocus.nn.train.deblur import (  # noqa: E402
    frequency_l1,
    load_deblur_config,
    train_deblur,
)
from allfocus.nn.train.deblur_data import DeblurSampler, load_color_photos  # noqa: E402
from allfocus.synth import texture  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _random_net(seed: int = 0) -> DeblurNet:
    torch.manual_seed(seed)
    net = DeblurNet(width=8)
    # Non-zero residual scales, so that every block changes its input.
    for name, p in net.named_parameters():
        if name.endswith(("beta", "gamma")):
            p.data.normal_(0, 0.5)
    return net.eval()


def test_identity_at_init_and_any_size():
    net = DeblurNet(width=8).eval()
    x = torch.rand(1, 3, 37, 50)
    with torch.no_grad():
        y = net(x)
    assert y.shape == x.shape
    # Residual scales start at zero: only intro/outro act, and outro's output is added.
    assert not torch.allclose(y, torch.zeros_like(y))


def test_params_under_two_million():
    assert sum(p.numel() for p in DeblurNet().parameters()) < 2_000_000


@pytest.mark.parametrize("tile", [64, 96])
def test_tiled_equals_whole(tile):
    net = _random_net()
    rgb = texture((150, 170), color=True, rng=np.random.default_rng(3)).astype(np.float32)
    whole = deblur_rgb(net, rgb, tile=1024)
    calls = []
    tiled = deblur_rgb(net, rgb, tile=tile, progress=lambda d, t: calls.append((d, t)))
    assert np.abs(tiled - whole).max() < 1e-4
    assert calls[-1][0] == calls[-1][1] > 1


def test_receptive_radius_bounds_influence():
    net = _random_net()
    x = torch.zeros(1, 3, 160, 160)
    x2 = x.clone()
    x2[..., 80, 80] = 1.0
    with torch.no_grad():
        diff = (net(x2) - net(x)).abs().sum(1)[0]
    ys, xs = np.nonzero(diff.numpy() > 1e-6)
    reach = max(np.abs(ys - 80).max(), np.abs(xs - 80).max())
    assert 0 < reach <= net.receptive_radius


def test_frequency_loss_zero_only_for_equal():
    a = torch.rand(2, 3, 16, 16)
    assert float(frequency_l1(a, a)) == 0.0
    assert float(frequency_l1(a, a.flip(-1))) > 0.0


def test_discriminator_patch_map():
    d = PatchDiscriminator()
    assert d(torch.rand(2, 3, 64, 64)).shape == (2, 1, 8, 8)


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for k in range(3):
        img = texture((80, 90), color=True, rng=rng)
        cv2.imwrite(str(folder / f"p{k}.png"), np.round(img[..., ::-1] * 255).astype(np.uint8))
    return folder


def test_sampler_pairs(photo_dir):
    photos = load_color_photos([photo_dir], min_side=48)
    s = DeblurSampler(photos, crop=48, max_radius=4.0)
    blurred, sharp = s.batch(6, np.random.default_rng(0))
    assert blurred.shape == sharp.shape == (6, 3, 48, 48)
    assert blurred.dtype == np.float32 and 0 <= blurred.min() and blurred.max() <= 1

    # Blur lowers high-frequency energy on average.
    def hf(x):
        return np.abs(np.diff(x, axis=-1)).mean()

    assert hf(blurred) < hf(sharp)
    again, _ = s.batch(6, np.random.default_rng(0))
    assert np.array_equal(again, blurred)


def test_shipped_configs_load():
    paths = sorted((ROOT / "configs").glob("deblur*.yaml"))
    assert len(paths) == 3
    for path in paths:
        cfg = load_deblur_config(path)
        assert cfg.model.enc_blocks == (1, 1, 2)
        # Set5 and Set14 are held out for evaluation.
        assert not any("set5" in f or "set14" in f for f in cfg.data.folders)


def test_bad_config(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  widht: 8\n")
    with pytest.raises(ConfigError, match="widht"):
        load_deblur_config(bad)
    bad.write_text("data:\n  folders: [x]\n  crop: 30\n")
    with pytest.raises(ConfigError, match="crop"):
        load_deblur_config(bad)


def _tiny_config(tmp_path, photo_dir, **extra):
    text = f"""
name: tiny
steps: 4
batch_size: 2
threads: 1
log_every: 2
checkpoint_every: 2
checkpoint_dir: {tmp_path / "ckpt"}
model: {{width: 8, enc_blocks: [1, 1], middle_blocks: 1, dec_blocks: [1, 1]}}
data: {{folders: [{photo_dir}], crop: 48, max_radius: 3.0}}
"""
    for key, value in extra.items():
        text += f"{key}: {value}\n"
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return load_deblur_config(path)


def test_training_is_seeded_and_resumable(tmp_path, photo_dir):
    cfg = _tiny_config(tmp_path / "a", photo_dir)
    full = train_deblur(cfg, root=tmp_path)
    cfg_b = _tiny_config(tmp_path / "b", photo_dir)
    train_deblur(cfg_b, root=tmp_path, stop_after=2)
    resumed = train_deblur(cfg_b, root=tmp_path, resume=True)
    assert resumed["steps"] == full["steps"] == 4
    for a, b in zip(full["model"].parameters(), resumed["model"].parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    assert [h["step"] for h in full["history"]] == [2, 4]


def test_adversarial_training_runs(tmp_path, photo_dir):
    cfg = _tiny_config(tmp_path, photo_dir, adversarial="true")
    result = train_deblur(cfg, root=tmp_path)
    assert all(np.isfinite(h["adv"]) for h in result["history"])
    assert any(h["adv"] != 0 for h in result["history"])
