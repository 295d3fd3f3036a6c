"""``restore_fused`` and ``fuse --restore``: deblur only where no frame was sharp."""

from __future__ import annotations

import numpy as np
import pytest

from allfocus import io
from allfocus._core.errors import ConfigError, InputError
from allfocus.cli.app import main
from allfocus.fusion import fuse
from allfocus.metrics import psnr
from allfocus.pipeline import FuseConfig, fuse_stack
from allfocus.restore.fused import restore_fused, restore_weight
from allfocus.synth import synthetic_stack
from allfocus.synth.files import write_synthetic_stack


def test_weight_follows_blur_and_depth_cues():
    radius = np.zeros((40, 40), np.float32)
    radius[:, 20:] = 3.0
    w = restore_weight(radius, feather=0)
    assert w[:, :20].max() == 0 and w[:, 20:].min() == 1
    # Three or more frames: the sub-frame depth decides (0 on a frame, 1 half-way).
    on_frame = np.full_like(radius, 2.0)
    between = np.full_like(radius, 2.5)
    conf = np.ones_like(radius)
    w_on = restore_weight(radius, depth=on_frame, confidence=conf, num_frames=5, feather=0)
    w_between = restore_weight(radius, depth=between, confidence=conf, num_frames=5, feather=0)
    assert w_on.max() == 0 and np.allclose(w_between[:, 20:], 1.0)
    assert w_between[:, :20].max() == 0
    # Two frames: no sub-frame depth, so the confidence decides.
    sure = restore_weight(radius, depth=on_frame, confidence=conf, num_frames=2, feather=0)
    unsure = restore_weight(radius, depth=on_frame, confidence=0 * conf, num_frames=2, feather=0)
    assert sure.max() == 0 and np.allclose(unsure[:, 20:], 1.0)


def test_two_frame_stack_gains_psnr():
    stack = synthetic_stack((192, 256), 2, max_radius=6.0, noise=0.003, rng=101)
    result = fuse(stack.frames, channel_axis=-1)
    out, weight = restore_fused(
        result.image,
        depth=result.depth,
        confidence=result.confidence,
        num_frames=2,
        method="defocus",
        channel_axis=-1,
    )
    before = psnr(result.image, stack.sharp, channel_axis=-1)
    after = psnr(out, stack.sharp, channel_axis=-1)
    assert after > before + 0.1, (before, after)
    assert 0 < weight.mean() < 1


def test_sharp_input_is_left_alone():
    sharp = synthetic_stack((128, 128), 2, rng=3).sharp
    out, weight = restore_fused(sharp, method="defocus", channel_axis=-1)
    assert psnr(out, sharp, channel_axis=-1) > 40
    assert weight.mean() < 0.1


def test_channel_axis_first_and_grey():
    stack = synthetic_stack((96, 96), 2, rng=4, max_radius=6)
    r = fuse(stack.frames, channel_axis=-1)
    last, _ = restore_fused(r.image, method="defocus", channel_axis=-1)
    first, _ = restore_fused(np.moveaxis(r.image, -1, 0), method="defocus", channel_axis=0)
    assert np.allclose(np.moveaxis(first, 0, -1), last, atol=1e-6)
    grey, _ = restore_fused(r.image.mean(-1), method="defocus")
    assert grey.shape == (96, 96)


def test_bad_method_and_config():
    with pytest.raises(InputError, match="restore method"):
        restore_fused(np.zeros((16, 16)), method="magic")
    with pytest.raises(ConfigError, match="restore"):
        FuseConfig(restore="magic")


def test_pipeline_restore_changes_only_the_image():
    stack = synthetic_stack((96, 128), 2, rng=6, max_radius=6)
    plain, _, _ = fuse_stack(stack.frames, config=FuseConfig(align="none"), channel_axis=-1)
    restored, _, _ = fuse_stack(
        stack.frames, config=FuseConfig(align="none", restore="defocus"), channel_axis=-1
    )
    assert np.array_equal(plain.depth, restored.depth)
    assert not np.array_equal(plain.image, restored.image)


def test_cli_fuse_restore(tmp_path, capsys):
    folder = tmp_path / "stack"
    written = write_synthetic_stack(folder, num_frames=2, shape=(96, 128), seed=7, max_radius=6)
    frames = [str(p) for p in written[:-2]]
    plain, restored = tmp_path / "plain.png", tmp_path / "restored.png"
    assert main(["fuse", *frames, "-o", str(plain), "--align", "none", "-q"]) == 0
    code = main(
        [
            "fuse",
            *frames,
            "-o",
            str(restored),
            "--align",
            "none",
            "--restore",
            "--restore-method",
            "defocus",
            "-q",
        ]
    )
    assert code == 0, capsys.readouterr().err
    truth = io.read_image(written[-2]).array
    a, b = io.read_image(plain).array, io.read_image(restored).array
    assert psnr(b, truth, channel_axis=-1) > psnr(a, truth, channel_axis=-1)
    bad = main(
        ["fuse", *frames, "-o", str(tmp_path / "x.png"), "--restore", "--restore-method", "magic"]
    )
    assert bad == 2
    assert "restore" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_learned_without_torch_names_the_extra(monkeypatch):
    import sys

    from allfocus._core.errors import MissingDependencyError
    from allfocus.pipeline.run import restore_method
    from allfocus.restore import sharpen

    monkeypatch.setitem(sys.modules, "torch", None)
    for name in [m for m in sys.modules if m.startswith("allfocus.nn")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(MissingDependencyError, match=r"allfocus\[learned\]"):
        sharpen(np.zeros((16, 16), np.float32), method="learned")
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    assert restore_method("auto") == "defocus"
    assert restore_method("learned") == "learned"
