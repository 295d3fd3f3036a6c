"""Training config, data recipes and the seeded, resumable loop (tiny runs)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("yaml")

from allfocus._core.errors import ConfigError  # noqa: E402
from allfocus.nn.train.config import load_config  # noqa: E402
from allfocus.nn.train.datasets import PairSampler, load_photos, random_mask  # noqa: E402
from allfocus.nn.train.loop import train  # noqa: E402
from allfocus.synth import texture  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for k in range(3):
        img = texture((80, 90), color=False, rng=rng)
        cv2.imwrite(str(folder / f"p{k}.png"), np.round(img * 255).astype(np.uint8))
    return folder


def test_shipped_configs_load():
    for path in sorted((ROOT / "configs").glob("gacn*.yaml")):
        cfg = load_config(path)
        assert cfg.data.recipe in ("gacn", "synth", "mix")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("steps: 10\nmodel:\n  chanels: 4\ndata:\n  folders: [x]\n", "chanels"),
        ("steps: 0\ndata:\n  folders: [x]\n", "steps"),
        ("data:\n  folders: [x]\n  recipe: other\n", "recipe"),
        ("data:\n  folders: [x]\n  stack_fraction: 1.5\n", "stack_fraction"),
        ("data:\n  folders: [x]\n  stack_frames: [2, 5]\n", "stack_frames"),
        ("data:\n  folders: [x]\n  edge_lines: -0.1\n", "edge_lines"),
        ("data:\n  folders: [x]\n  slanted: 2\n", "slanted"),
        ("data:\n  folders: [x]\nloss:\n  far_weight: -1\n", "far_weight"),
        ("data:\n  folders: [x]\nloss:\n  depth_weight: -1\n", "depth_weight"),
    ],
)
def test_bad_config(tmp_path, text, match):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config(bad)


def test_mask_fraction():
    rng = np.random.default_rng(3)
    for _ in range(10):
        mask = random_mask(64, rng)
        assert set(np.unique(mask)) <= {0.0, 1.0}
        assert 0.1 < mask.mean() < 0.9


@pytest.mark.parametrize("recipe", ["gacn", "synth", "mix"])
def test_sampler(photo_dir, recipe):
    photos = load_photos([photo_dir], min_side=64)
    sampler = PairSampler(photos, recipe=recipe, crop=48)
    frames, target, near = sampler.batch(3, np.random.default_rng(0))
    assert frames.shape == target.shape == (3, 2, 48, 48)
    assert frames.dtype == np.float32 and 0 <= frames.min() and frames.max() <= 1
    np.testing.assert_allclose(target.sum(1), 1.0)
    # the near region of a pair is a drawn shape: 0 or 1, both present
    assert near.shape == (3, 48, 48) and set(np.unique(near)) == {0.0, 1.0}
    again, _, _ = sampler.batch(3, np.random.default_rng(0))
    np.testing.assert_array_equal(frames, again)


@pytest.mark.parametrize("num", [3, 6])
def test_stack_batches(photo_dir, num):
    photos = load_photos([photo_dir], min_side=64)
    sampler = PairSampler(photos, crop=48)
    frames, target, near = sampler.stack_batch(2, num, np.random.default_rng(1))
    assert frames.shape == target.shape == (2, num, 48, 48)
    assert near.shape == (2, 48, 48) and near.min() == 0.0 and near.max() == 1.0
    assert frames.dtype == np.float32 and 0 <= frames.min() and frames.max() <= 1
    np.testing.assert_allclose(target.sum(1), 1.0)
    # each frame is the sharpest somewhere in some stack, and the target marks it
    assert (target.sum(axis=(0, 2, 3)) > 0).sum() >= 2
    assert set(np.unique(target)) == {0.0, 1.0}


def test_edge_line_hugs_the_outline_from_outside():
    from allfocus.nn.train.datasets import edge_line

    rng = np.random.default_rng(5)
    for _ in range(10):
        mask = random_mask(64, rng) > 0
        line = edge_line(mask, rng)
        assert line.any() and not (line & mask).any()
        reach = cv2.dilate(mask.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
        assert line[~reach].sum() == 0  # within 7 px of the object
        # along part of the outline only
        ring = reach & ~mask
        assert line.sum() < ring.sum()


def test_stacks_with_edge_lines(photo_dir):
    photos = load_photos([photo_dir], min_side=64)
    plain = PairSampler(photos, crop=48).stack(4, np.random.default_rng(2))
    again = PairSampler(photos, crop=48, edge_lines=0.0).stack(4, np.random.default_rng(2))
    np.testing.assert_array_equal(plain[0], again[0])  # off: the same stacks as before
    lined = [
        PairSampler(photos, crop=48, edge_lines=1.0).stack(4, np.random.default_rng(s))
        for s in range(4)
    ]
    for frames, target, _ in lined:
        assert frames.shape == (4, 48, 48) and 0 <= frames.min() and frames.max() <= 1
        np.testing.assert_allclose(target.sum(0), 1.0)


def test_slanted_stacks(photo_dir):
    photos = load_photos([photo_dir], min_side=64)
    plain = PairSampler(photos, crop=48).stack(5, np.random.default_rng(3))
    again = PairSampler(photos, crop=48, slanted=0.0).stack(5, np.random.default_rng(3))
    np.testing.assert_array_equal(plain[0], again[0])  # off: the same stacks as before
    for seed in range(4):
        frames, target, near = PairSampler(photos, crop=48, slanted=1.0).stack(
            5, np.random.default_rng(seed)
        )
        assert frames.shape == (5, 48, 48) and 0 <= frames.min() and frames.max() <= 1
        np.testing.assert_allclose(target.sum(0), 1.0)
        # one plane through the whole focus range: the nearest and the farthest
        # frames each win somewhere, and the nearness goes from 0 to 1 with no
        # step (the layered stacks step from one layer to the next)
        assert target[0].any() and target[-1].any()
        assert near.min() == 0.0 and near.max() == 1.0
        assert max(np.abs(np.diff(near, axis=a)).max() for a in (0, 1)) < 0.1
    assert max(np.abs(np.diff(plain[2], axis=a)).max() for a in (0, 1)) > 0.5


def test_warm_start_with_a_new_window_computes_the_same(tmp_path):
    from allfocus.nn.archs.gacn import GACN
    from allfocus.nn.infer import pretrained_gacn
    from allfocus.nn.train.loop import warm_start

    net = warm_start(GACN(windows=(1, 2, 5, 10)), "gacn_v1").eval().fold_norms()
    frames = torch.rand(1, 3, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(net.scores(frames), pretrained_gacn("gacn_v1").scores(frames))
    with pytest.raises(ValueError, match="windows"):
        warm_start(GACN(windows=(1, 2)), "gacn_v1")


def test_warm_start_from_a_file_uses_its_recorded_windows(tmp_path):
    from allfocus.nn.archs.gacn import GACN
    from allfocus.nn.train.loop import warm_start
    from allfocus.nn.train.report import save_weights

    torch.manual_seed(1)
    source = GACN(windows=(1, 5)).eval()
    path = tmp_path / "two_windows.pt"
    save_weights(source, path, arch={"windows": (1, 5)})
    net = warm_start(GACN(windows=(1, 2, 5)), str(path)).eval()
    frames = torch.rand(1, 3, 40, 40)
    with torch.no_grad():
        torch.testing.assert_close(net.scores(frames), source.scores(frames))


def test_sampler_rejects_unknown_recipe(photo_dir):
    with pytest.raises(ValueError, match="recipe"):
        PairSampler(load_photos([photo_dir], min_side=64), recipe="nope")


def _config(tmp_path, photo_dir, steps):
    text = f"""
name: tiny
steps: {steps}
batch_size: 2
threads: 1
log_every: 1
checkpoint_every: 2
checkpoint_dir: {tmp_path / "ckpt"}
model: {{channels: 4, num_blocks: 2, activity_channels: 2, windows: [1, 2],
         decision_channels: 4}}
data: {{folders: ["{photo_dir}"], recipe: mix, crop: 40, stack_fraction: 0.5,
        stack_frames: [3, 4]}}
loss: {{edge_weight: 0.5, far_weight: 0.5, depth_weight: 0.5}}
"""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / f"tiny{steps}.yaml"
    path.write_text(text)
    return load_config(path)


def test_training_is_seeded_and_resumable(tmp_path, photo_dir):
    cfg = _config(tmp_path / "a", photo_dir, 4)
    straight = train(cfg, root=Path("/"))
    assert straight["steps"] == 4 and len(straight["history"]) == 4
    half = train(_config(tmp_path / "b", photo_dir, 2), root=Path("/"))
    assert half["steps"] == 2
    resumed = train(_config(tmp_path / "b", photo_dir, 4), root=Path("/"), resume=True)
    assert resumed["steps"] == 4
    for a, b in zip(
        straight["model"].state_dict().values(), resumed["model"].state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b)
