"""The GACN module on random-init tiny models: shapes, frame symmetry, norm folding."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from allfocus.nn import create_model, list_models  # noqa: E402
from allfocus.nn.archs import GACN  # noqa: E402

TINY = {
    "channels": 4,
    "num_blocks": 2,
    "activity_channels": 2,
    "windows": (1, 3),
    "decision_channels": 4,
}


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return GACN(**TINY).eval()


@pytest.mark.parametrize("num", [1, 2, 3, 5])
@pytest.mark.parametrize("batch", [1, 2])
def test_forward_shapes(tiny, num, batch):
    with torch.no_grad():
        out = tiny(torch.rand(batch, num, 20, 23))
    for key in ("scores", "initial", "weights"):
        assert out[key].shape == (batch, num, 20, 23)
    assert out["fused"].shape == (batch, 1, 20, 23)
    torch.testing.assert_close(out["weights"].sum(1), torch.ones(batch, 20, 23))
    assert float(out["weights"].min()) >= 0


@pytest.mark.parametrize("num", [2, 5])
def test_frame_permutation_permutes_scores(tiny, num):
    x = torch.rand(1, num, 24, 24)
    perm = torch.randperm(num)
    torch.testing.assert_close(tiny.scores(x)[:, perm], tiny.scores(x[:, perm]))


def test_identical_frames_tie(tiny):
    frame = torch.rand(1, 1, 16, 16)
    out = tiny(frame.repeat(1, 3, 1, 1))
    torch.testing.assert_close(out["initial"], torch.full_like(out["initial"], 1 / 3))
    torch.testing.assert_close(out["fused"], frame, atol=1e-5, rtol=0)


def test_fold_norms_keeps_the_output():
    torch.manual_seed(1)
    net = GACN(**TINY)
    net.train()
    net(torch.rand(4, 2, 16, 16))  # move the running statistics off their defaults
    net.eval()
    x = torch.rand(1, 3, 18, 18)
    with torch.no_grad():
        before = net.scores(x)
        after = net.fold_norms().scores(x)
    torch.testing.assert_close(after, before, atol=1e-4, rtol=1e-4)


def test_backward_reaches_every_parameter(tiny):
    tiny.train()
    out = tiny(torch.rand(2, 2, 16, 16))
    (out["fused"].mean() + out["initial"][:, 0].mean()).backward()
    missing = [n for n, p in tiny.named_parameters() if p.grad is None]
    assert not missing


def test_without_boundary_filter_weights_are_initial():
    net = GACN(**TINY, boundary_filter=False).eval()
    out = net(torch.rand(1, 2, 12, 12))
    torch.testing.assert_close(out["weights"], out["initial"])


def test_registry_and_small_size():
    assert "gacn" in list_models()
    net = create_model("gacn")
    params = sum(p.numel() for p in net.parameters())
    assert params * 4 < 2 * 2**20
    with pytest.raises(ValueError, match="gacn"):
        create_model("nope")


def test_bad_input(tiny):
    with pytest.raises(ValueError, match="B, N, H, W"):
        tiny(torch.rand(2, 16, 16))


@pytest.mark.parametrize("num", [1, 2, 3, 6])
def test_frame_by_frame_scores_match_the_batched_ones(tiny, num):
    frames = torch.rand(1, num, 24, 29)
    with torch.inference_mode():
        batched = tiny.scores(frames)
        streamed = tiny.scores_frame_by_frame(frames)
    torch.testing.assert_close(streamed, batched, atol=1e-4, rtol=1e-4)


def test_frame_by_frame_scores_with_tied_frames(tiny):
    """Two identical frames: each one's largest *other* activity is its twin's."""
    frame = torch.rand(1, 1, 20, 20)
    frames = torch.cat([frame, frame, 0.5 * frame], dim=1)
    with torch.inference_mode():
        batched = tiny.scores(frames)
        streamed = tiny.scores_frame_by_frame(frames)
    torch.testing.assert_close(streamed, batched, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(streamed[:, 0], streamed[:, 1])


def test_frame_by_frame_scores_take_one_stack(tiny):
    with pytest.raises(ValueError, match="one stack"):
        tiny.scores_frame_by_frame(torch.rand(2, 3, 16, 16))


@pytest.mark.parametrize("batch", [1, 3])
def test_features_without_autograd_match_the_training_path(tiny, batch):
    # Inference writes every block into one buffer instead of concatenating;
    # the values must be those of the concatenating path that training uses.
    x = torch.rand(batch, 1, 19, 21)
    with torch.no_grad():
        fast = tiny.features(x)
    slow = tiny.features(x).detach()
    assert fast.shape == (batch, tiny.features.out_channels, 19, 21)
    torch.testing.assert_close(fast, slow, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("num", [2, 4])
def test_scores_without_autograd_match_the_training_path(num):
    # Without autograd the convolutions to one channel (spatial squeeze-excitation,
    # the score) run as row convolutions and shifted sums; same values.
    torch.manual_seed(2)
    net = GACN(**{**TINY, "channels": 8, "decision_channels": 8}).eval()
    x = torch.rand(1, num, 26, 31)
    with torch.no_grad():
        fast = net.scores(x)
    slow = net.scores(x).detach()
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)
