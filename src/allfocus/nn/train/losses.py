"""Losses of the GACN decision network: Dice on the decision map and a soft Q^AB/F.

The soft Q^AB/F follows GACN (Neurocomputing 470, 2022): the Xydeas-Petrovic
edge-transfer metric with its one hard choice (which of ``g_S`` and ``g_F`` is
the larger) replaced by a steep sigmoid, so it can be differentiated with
respect to the fused image.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "GACN_QABF_CONSTANTS",
    "METRIC_QABF_CONSTANTS",
    "GACNLoss",
    "dice_loss",
    "edge_cross_entropy",
    "far_side_band",
    "far_side_cross_entropy",
    "soft_qabf",
]

#: Constants of GACN's loss (Gamma 1 for both terms).
GACN_QABF_CONSTANTS = {
    "gamma_g": 1.0,
    "kappa_g": -10.0,
    "sigma_g": 0.5,
    "gamma_a": 1.0,
    "kappa_a": -20.0,
    "sigma_a": 0.75,
}

#: The constants of :func:`allfocus.metrics.qabf` (the usual MATLAB code).
METRIC_QABF_CONSTANTS = {
    "gamma_g": 0.9994,
    "kappa_g": -15.0,
    "sigma_g": 0.5,
    "gamma_a": 0.9879,
    "kappa_a": -22.0,
    "sigma_a": 0.8,
}

_FLAT = 1e-6
_TINY = 1e-8


def _sobel(image: Tensor) -> tuple[Tensor, Tensor]:
    """Sobel strength and orientation of (B, C, H, W) images, borders replicated (as the metric)."""
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=image.dtype)
    kernel = torch.stack([kx, kx.T])[:, None].to(image.device)
    b, c, h, w = image.shape
    padded = F.pad(image.reshape(b * c, 1, h, w), (1, 1, 1, 1), mode="replicate")
    grad = F.conv2d(padded, kernel).reshape(b, c, 2, h, w)
    gx, gy = grad[:, :, 0], grad[:, :, 1]
    strength = torch.sqrt(gx * gx + gy * gy + _TINY * _TINY)
    flat = gx.abs() <= _FLAT
    safe = torch.where(flat, torch.full_like(gx, _FLAT), gx)
    angle = torch.where(flat, torch.full_like(gx, math.pi / 2), torch.atan(gy / safe))
    return strength, angle


def soft_qabf(
    fused: Tensor,
    sources: Tensor,
    *,
    constants: dict[str, float] | None = None,
    sharpness: float = 1e5,
) -> Tensor:
    """Differentiable Q^AB/F of ``fused`` (B, 1, H, W) against ``sources`` (B, N, H, W).

    Parameters
    ----------
    fused : (B, 1, H, W) Tensor
    sources : (B, N, H, W) Tensor
        Grey images in [0, 1].
    constants : dict, optional
        Sigmoid constants; :data:`METRIC_QABF_CONSTANTS` by default (matches
        :func:`allfocus.metrics.qabf`), :data:`GACN_QABF_CONSTANTS` for GACN's loss.
    sharpness : float
        Slope of the sigmoid that replaces ``g_S < g_F``.

    Returns
    -------
    (B,) Tensor
        One score per batch item.

    Examples
    --------
    >>> import torch
    >>> a = torch.rand(1, 1, 16, 16)
    >>> round(float(soft_qabf(a, torch.cat([a, a], 1))[0]), 3)
    0.975
    """
    c = METRIC_QABF_CONSTANTS if constants is None else constants
    g_f, a_f = _sobel(fused)
    g_s, a_s = _sobel(sources)
    s = torch.sigmoid(-sharpness * (g_s - g_f))  # ~1 where the source edge is weaker
    ratio = s * g_s / (g_f + _TINY) + (1.0 - s) * g_f / (g_s + _TINY)
    orient = 1.0 - (a_s - a_f).abs() / (math.pi / 2)
    q_g = c["gamma_g"] * torch.sigmoid(-c["kappa_g"] * (ratio - c["sigma_g"]))
    q_a = c["gamma_a"] * torch.sigmoid(-c["kappa_a"] * (orient - c["sigma_a"]))
    num = (q_g * q_a * g_s).sum(dim=(1, 2, 3))
    den = g_s.sum(dim=(1, 2, 3)).clamp_min(_TINY)
    return num / den


def dice_loss(prob: Tensor, target: Tensor, *, smooth: float = 1.0) -> Tensor:
    """Mean over batch and maps of ``1 - Dice`` between (B, K, H, W) maps in [0, 1]."""
    inter = (prob * target).sum(dim=(2, 3))
    total = prob.sum(dim=(2, 3)) + target.sum(dim=(2, 3))
    return (1.0 - (2.0 * inter + smooth) / (total + smooth)).mean()


def edge_cross_entropy(scores: Tensor, target: Tensor, *, radius: int = 4) -> Tensor:
    """Cross-entropy of the frame scores within ``radius`` px of the target's decision edges.

    Dice over the whole map barely notices a decision edge drawn a pixel or
    two off, yet at occlusion edges that is where a fusion's error is. The
    band is found from the one-hot ``target`` (B, N, H, W); batches without
    any edge give 0.
    """
    with torch.no_grad():
        grown = F.max_pool2d(target, 3, stride=1, padding=1)
        shrunk = -F.max_pool2d(-target, 3, stride=1, padding=1)
        edge = (grown - shrunk).amax(dim=1, keepdim=True)
        size = 2 * radius + 1
        band = F.max_pool2d(edge, size, stride=1, padding=radius)[:, 0]
    return _band_cross_entropy(scores, target, band)


def _band_cross_entropy(scores: Tensor, target: Tensor, band: Tensor) -> Tensor:
    """Mean cross-entropy of the frame scores against one-hot ``target`` over ``band`` (B, H, W)."""
    ce = -(target * torch.log_softmax(scores, dim=1)).sum(dim=1)
    return (ce * band).sum() / band.sum().clamp_min(1.0)


def far_side_band(near: Tensor, *, radius: int = 4, jump: float = 0.25) -> Tensor:
    """Pixels within ``radius`` px of something nearer by more than ``jump``: (B, H, W) in {0, 1}.

    ``near`` (B, H, W) is how near each pixel is, scaled to [0, 1]. The band
    is the background side of occlusion edges, where a near object's sharp
    edge lends activity to the background beside it and a decision map
    tends to draw the near object too wide; slanted surfaces change ``near``
    too slowly to count.
    """
    nearest = F.max_pool2d(near[:, None], 2 * radius + 1, stride=1, padding=radius)[:, 0]
    return (nearest - near > jump).to(near.dtype)


def far_side_cross_entropy(
    scores: Tensor, target: Tensor, near: Tensor, *, radius: int = 4
) -> Tensor:
    """Cross-entropy of the frame scores in :func:`far_side_band`; 0 where a batch has none."""
    return _band_cross_entropy(scores, target, far_side_band(near, radius=radius))


def frame_steps(target: Tensor, near: Tensor) -> Tensor:
    """How far each pixel lies from the nearest layer, in frames: (B, H, W).

    The samplers focus their frames at even steps of inverse distance from
    the nearest layer to the farthest, so ``near`` (B, H, W; 1 at the
    nearest layer, 0 at the farthest) is the depth in frame units up to the
    sign of the frames' order, which the one-hot ``target`` (B, N, H, W)
    gives: the order runs near to far when frame 0 wins where the scene is
    nearer than where the last frame wins. Accurate to the samplers' focus
    jitter (0.1 of a step).
    """
    num = target.shape[1]
    area = (1, 2)
    first = (target[:, 0] * near).sum(area) / target[:, 0].sum(area).clamp_min(1.0)
    last = (target[:, -1] * near).sum(area) / target[:, -1].sum(area).clamp_min(1.0)
    forward = (first >= last)[:, None, None]
    return torch.where(forward, 1.0 - near, near) * (num - 1)


def depth_distance(scores: Tensor, target: Tensor, near: Tensor) -> Tensor:
    """Expected distance in frames between the chosen frame and the true depth, over the best.

    ``sum_k p_k |k - d| - min_k |k - d|`` averaged over pixels, with ``p`` the
    softmax of the scores and ``d`` from :func:`frame_steps`. Unlike the
    cross-entropy, which counts every wrong frame alike, it weighs a wrong
    frame by how far it is from the surface: a neighbouring frame costs
    little, the near object's frame given to the background beside it (many
    frames off) a lot. Zero for a decision that always takes the nearest
    frame.
    """
    steps = frame_steps(target, near)
    index = torch.arange(scores.shape[1], dtype=scores.dtype, device=scores.device)
    dist = (index[None, :, None, None] - steps[:, None]).abs()
    expected = (torch.softmax(scores, dim=1) * dist).sum(dim=1)
    return (expected - dist.amin(dim=1)).mean()


class GACNLoss(nn.Module):
    """``dice_weight * Dice(initial map, mask) + qabf_weight * (1 - soft Q^AB/F(fused))``
    ``+ edge_weight * edge_cross_entropy(scores, mask)``
    ``+ far_weight * far_side_cross_entropy(scores, mask, near)``
    ``+ depth_weight * depth_distance(scores, mask, near)``.

    The Dice term compares the initial decision map of every frame with its
    one-hot ground truth (symmetric in the frames); the edge term (off by
    default) weighs the decision near the ground truth's edges, and the
    far-side term (off by default) the background side of occlusion edges
    only, which needs the ``near`` map of the sampler.
    """

    def __init__(
        self,
        *,
        dice_weight: float = 1.0,
        qabf_weight: float = 1.0,
        edge_weight: float = 0.0,
        far_weight: float = 0.0,
        depth_weight: float = 0.0,
        constants: str = "gacn",
    ) -> None:
        super().__init__()
        if constants not in ("gacn", "metric"):
            raise ValueError(f"constants must be 'gacn' or 'metric'; got {constants!r}")
        self.dice_weight = float(dice_weight)
        self.qabf_weight = float(qabf_weight)
        self.edge_weight = float(edge_weight)
        self.far_weight = float(far_weight)
        self.depth_weight = float(depth_weight)
        self.constants = GACN_QABF_CONSTANTS if constants == "gacn" else METRIC_QABF_CONSTANTS

    def forward(
        self,
        outputs: dict[str, Tensor],
        frames: Tensor,
        target: Tensor,
        near: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Loss terms for network ``outputs`` on ``frames`` (B, N, H, W), one-hot ``target``.

        ``near`` (B, H, W) is needed when ``far_weight`` or ``depth_weight`` is set.
        """
        dice = dice_loss(outputs["initial"], target)
        qabf = soft_qabf(outputs["fused"], frames, constants=self.constants).mean()
        total = self.dice_weight * dice + self.qabf_weight * (1.0 - qabf)
        terms = {"loss": total, "dice": dice, "qabf": qabf}
        if self.edge_weight > 0:
            terms["edge"] = edge_cross_entropy(outputs["scores"], target)
            terms["loss"] = terms["loss"] + self.edge_weight * terms["edge"]
        if self.far_weight > 0:
            if near is None:
                raise ValueError("far_weight needs the sampler's near map")
            terms["far"] = far_side_cross_entropy(outputs["scores"], target, near)
            terms["loss"] = terms["loss"] + self.far_weight * terms["far"]
        if self.depth_weight > 0:
            if near is None:
                raise ValueError("depth_weight needs the sampler's near map")
            terms["depth"] = depth_distance(outputs["scores"], target, near)
            terms["loss"] = terms["loss"] + self.depth_weight * terms["depth"]
        return terms
