"""The ``learned`` sharpening method (weights from a temporary file, so no training needed)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from allfocus._core.errors import InputError  # noqa: E402
from allfocus.nn.archs.deblur import DeblurNet  # noqa: E402
from allfocus.restore import list_methods, sharpen  # noqa: E402
from allfocus.synth import texture  # noqa: E402


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    net = DeblurNet()
    torch.manual_seed(1)
    for name, p in net.named_parameters():
        if name.endswith(("beta", "gamma")):
            p.data.normal_(0, 0.1)
    path = tmp_path_factory.mktemp("w") / "net.pt"
    torch.save(net.state_dict(), path)
    return path


def test_learned_method_registered_and_shapes(weights_file):
    assert "learned" in list_methods()
    rng = np.random.default_rng(0)
    rgb = texture((40, 52), color=True, rng=rng)
    out = sharpen(rgb, method="learned", channel_axis=-1, weights=str(weights_file)).image
    assert out.shape == rgb.shape and out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 1
    grey = rgb.mean(-1)
    g = sharpen(grey, method="learned", weights=str(weights_file)).image
    assert g.shape == grey.shape
    rgba = np.concatenate([rgb, np.full((40, 52, 1), 0.5, np.float32)], -1)
    a = sharpen(rgba, method="learned", channel_axis=-1, weights=str(weights_file)).image
    assert a.shape == rgba.shape and np.all(a[..., 3] == 0.5)
    first = sharpen(
        np.moveaxis(rgb, -1, 0), method="learned", channel_axis=0, weights=str(weights_file)
    ).image
    assert np.allclose(np.moveaxis(first, 0, -1), out, atol=1e-6)
    same = sharpen(
        rgb, method="learned", channel_axis=-1, strength=0.0, weights=str(weights_file)
    ).image
    assert np.allclose(same, rgb, atol=1e-6)


def test_learned_luma_only_keeps_hue(weights_file):
    rng = np.random.default_rng(1)
    rgb = np.clip(texture((48, 48), color=False, rng=rng)[..., None] * 0.5 + [0.3, 0.2, 0.1], 0, 1)
    rgb = rgb.astype(np.float32)
    out = sharpen(
        rgb, method="learned", channel_axis=-1, chroma=False, weights=str(weights_file)
    ).image
    full = sharpen(rgb, method="learned", channel_axis=-1, weights=str(weights_file)).image
    luma = lambda x: x @ np.array([0.299, 0.587, 0.114], np.float32)  # noqa: E731
    # Luma as the network's; colour differences as the input's (where not clipped).
    inside = (out > 0.01).all(-1) & (out < 0.99).all(-1)
    assert np.abs(luma(out) - luma(full))[inside].max() < 1e-3
    diff_in = rgb - luma(rgb)[..., None]
    diff_out = out - luma(out)[..., None]
    assert np.abs(diff_in - diff_out)[inside].max() < 1e-3


def test_learned_method_bad_input(weights_file):
    with pytest.raises(InputError, match="tile"):
        sharpen(np.zeros((20, 20)), method="learned", tile=4, weights=str(weights_file))
    with pytest.raises(InputError, match="unknown weights"):
        sharpen(np.zeros((20, 20)), method="learned", weights="nope")


def test_shipped_weights_load_small_and_recorded():
    from allfocus.nn.models import create_model
    from allfocus.nn.weights import WEIGHTS

    spec = WEIGHTS["deblur_v1"]
    assert spec.path.is_file() and spec.path.stat().st_size < 2 * 2**20
    assert (spec.path.parent / spec.record).is_file()
    net = create_model("deblur", weights="deblur_v1")
    assert not net.training
    assert sum(p.numel() for p in net.parameters()) < 2_000_000


def test_shipped_weights_deblur_a_synthetic_frame():
    """The trained network must beat the blurred input clearly (fails for untrained weights)."""
    from allfocus.synth import make_scene, render_stack

    scene = make_scene((96, 96), rng=11)
    stack = render_stack(
        scene.image, scene.depth, num_frames=3, max_radius=8, noise=0.003, channel_axis=-1, rng=11
    )
    frame, truth = stack.frames[1], stack.sharp
    out = sharpen(frame, method="learned", channel_axis=-1).image

    def psnr(a):
        return 10 * np.log10(1 / np.mean((a - truth) ** 2))

    assert psnr(out) > psnr(frame) + 0.5
