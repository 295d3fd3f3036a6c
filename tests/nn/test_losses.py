"""Soft Q^AB/F against allfocus.metrics.qabf, Dice, and the combined loss."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

torch = pytest.importorskip("torch")

from allfocus.metrics import qabf  # noqa: E402
from allfocus.nn.train.losses import (  # noqa: E402
    GACN_QABF_CONSTANTS,
    GACNLoss,
    dice_loss,
    soft_qabf,
)
from allfocus.synth import synthetic_stack  # noqa: E402


def _cases():
    rng = np.random.default_rng(0)
    for seed in range(3):
        s = synthetic_stack((64, 72), 2, color=False, rng=seed)
        a, b = s.frames
        w = rng.random()
        yield s.sharp, (a, b)
        yield w * a + (1 - w) * b, (a, b)
    img = ndi.gaussian_filter(rng.random((48, 48)), 1.0)
    yield img, (img, ndi.gaussian_filter(img, 2))


@pytest.mark.parametrize(("fused", "sources"), list(_cases()))
def test_soft_qabf_matches_the_metric(fused, sources):
    t = torch.from_numpy(np.asarray(fused, np.float32))[None, None]
    s = torch.from_numpy(np.stack(sources).astype(np.float32))[None]
    assert float(soft_qabf(t, s)[0]) == pytest.approx(qabf(fused, list(sources)), abs=0.02)


def test_soft_qabf_batch_and_gradient():
    s = synthetic_stack((40, 40), 2, color=False, rng=5)
    src = torch.from_numpy(s.frames)[None].repeat(2, 1, 1, 1)
    fused = src.mean(1, keepdim=True).clone().requires_grad_(True)
    score = soft_qabf(fused, src, constants=GACN_QABF_CONSTANTS)
    assert score.shape == (2,)
    score.sum().backward()
    assert torch.isfinite(fused.grad).all()
    assert float(fused.grad.abs().sum()) > 0


def test_dice():
    mask = torch.zeros(1, 2, 8, 8)
    mask[:, 0, :4] = 1
    mask[:, 1, 4:] = 1
    assert float(dice_loss(mask, mask)) == pytest.approx(0.0, abs=1e-6)
    assert float(dice_loss(mask.flip(1), mask)) > 0.9


def test_gacn_loss_terms():
    frames = torch.rand(2, 2, 16, 16)
    target = torch.zeros(2, 2, 16, 16)
    target[:, 0] = 1
    out = {"initial": target, "fused": frames[:, :1]}
    terms = GACNLoss()(out, frames, target)
    assert set(terms) == {"loss", "dice", "qabf"}
    with pytest.raises(ValueError, match="constants"):
        GACNLoss(constants="nope")


def test_edge_cross_entropy_weighs_the_decision_near_edges():
    from allfocus.nn.train.losses import edge_cross_entropy

    target = torch.zeros(1, 2, 32, 32)
    target[:, 0, :, :16] = 1
    target[:, 1, :, 16:] = 1
    right = 8 * (2 * target - 1)
    shifted = right.roll(3, dims=3)  # the edge drawn 3 px off
    far_off = right.clone()
    far_off[..., :4] = -far_off[..., :4]  # wrong only far from the edge
    assert edge_cross_entropy(right, target) < 1e-3
    assert edge_cross_entropy(shifted, target) > 1.0
    assert edge_cross_entropy(far_off, target) < 1e-3
    flat = torch.zeros(1, 2, 8, 8)
    flat[:, 0] = 1
    assert float(edge_cross_entropy(torch.zeros(1, 2, 8, 8), flat)) == 0.0


def test_far_side_band_lies_beside_the_near_object():
    from allfocus.nn.train.losses import far_side_band

    near = torch.zeros(1, 32, 32)
    near[:, :, :16] = 1.0
    near[:, :, 16:] += torch.linspace(0, 0.2, 16)  # a slant, not an edge
    band = far_side_band(near, radius=4)[0]
    assert band[:, 16:20].all() and not band[:, 20:].any() and not band[:, :16].any()


def test_far_side_cross_entropy_sees_a_near_object_drawn_too_wide():
    from allfocus.nn.train.losses import far_side_cross_entropy

    target = torch.zeros(1, 2, 32, 32)
    target[:, 0, :, :16] = 1  # frame 0 is sharp on the near object, left
    target[:, 1, :, 16:] = 1
    near = target[:, 0].clone()
    right = 8 * (2 * target - 1)
    wide = right.roll(3, dims=3)  # the near object's frame wins 3 px into the background
    wide[..., :3] = right[..., :3]
    narrow = right.roll(-3, dims=3)  # the background's frame wins 3 px into the object
    narrow[..., -3:] = right[..., -3:]
    assert float(far_side_cross_entropy(right, target, near)) < 1e-3
    assert float(far_side_cross_entropy(wide, target, near)) > 1.0
    assert float(far_side_cross_entropy(narrow, target, near)) < 1e-3
    flat = torch.zeros(1, 32, 32)
    assert float(far_side_cross_entropy(wide, target, flat)) == 0.0


def test_gacn_loss_far_term_needs_the_near_map():
    frames = torch.rand(1, 2, 16, 16)
    target = torch.zeros(1, 2, 16, 16)
    target[:, 0, :, :8] = 1
    target[:, 1, :, 8:] = 1
    out = {"initial": target, "fused": frames[:, :1], "scores": 2 * target - 1}
    loss = GACNLoss(far_weight=1.0)
    terms = loss(out, frames, target, target[:, 0])
    assert set(terms) == {"loss", "dice", "qabf", "far"}
    with pytest.raises(ValueError, match="near"):
        loss(out, frames, target)


def _slanted_stack_target(num: int, *, reverse: bool):
    """A near square in front of a slanted plane: near map, one-hot target, true steps."""
    steps = torch.linspace(1.0, num - 1.0, 32).expand(32, 32).clone()  # the slant, left to right
    steps[8:24, 8:24] = 0.0  # the near square, sharp in the first frame
    near = 1.0 - steps / (num - 1)
    index = steps.round().long()
    if reverse:
        index = num - 1 - index
    target = torch.nn.functional.one_hot(index, num).permute(2, 0, 1).float()
    return near[None], target[None], steps[None]


@pytest.mark.parametrize("reverse", [False, True])
def test_frame_steps_recovers_the_depth_in_frames_in_either_order(reverse):
    from allfocus.nn.train.losses import frame_steps

    near, target, steps = _slanted_stack_target(6, reverse=reverse)
    expected = 5 - steps if reverse else steps
    torch.testing.assert_close(frame_steps(target, near), expected)


def test_depth_distance_weighs_a_wrong_frame_by_how_far_it_is():
    from allfocus.nn.train.losses import depth_distance

    near, target, _ = _slanted_stack_target(6, reverse=False)
    right = 20 * target - 10
    assert float(depth_distance(right, target, near)) < 1e-6
    # The same pixels (a 3 px strip of the slant beside the square) given a
    # neighbouring frame, or the near square's frame: the farther, the worse.
    strip = (slice(None), slice(None), slice(8, 24), slice(24, 27))
    neighbour, far_off = right.clone(), right.clone()
    neighbour[strip] = (20 * target - 10).roll(-1, dims=1)[strip]
    far_off[strip] = -10.0
    far_off[:, 0, 8:24, 24:27] = 10.0
    d_neighbour = float(depth_distance(neighbour, target, near))
    d_far = float(depth_distance(far_off, target, near))
    assert 0 < d_neighbour < d_far
    assert d_far > 2 * d_neighbour


def test_gacn_loss_depth_term_needs_the_near_map():
    near, target, _ = _slanted_stack_target(4, reverse=False)
    frames = torch.rand(1, 4, 32, 32)
    out = {"initial": target, "fused": frames[:, :1], "scores": 2 * target - 1}
    loss = GACNLoss(depth_weight=1.0)
    terms = loss(out, frames, target, near)
    assert set(terms) == {"loss", "dice", "qabf", "depth"}
    with pytest.raises(ValueError, match="near"):
        loss(out, frames, target)
