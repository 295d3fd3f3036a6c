"""GACN-style multi-focus decision network, made fair for any number of frames.

After B. Ma, Y. Zhu, X. Yin, X. Ban, H. Huang and M. Mukeshimana, "SESF-Fuse" and
especially X. Ban's group's "Multi-focus image fusion using a gradient aware
cascade network" (GACN), Neurocomputing 470 (2022) 266-277, arXiv:2010.08751.
This is an independent implementation (no code from the released repository):

* feature path shared by all frames: densely connected 3x3 convolutions
  without pooling, each followed by channel squeeze-excitation;
* activity: spatial frequency of the deep features over windows of several
  sizes (box filters by running sums, constant cost per pixel), after a
  learned 1x1 projection of the 64 feature channels to a few activity
  channels (element-wise work on 64 full-resolution channels would dominate
  the CPU time);
* decision path: for frame ``k`` the log activity relative to the *best other
  frame*, ``log(SF_k) - max_{j != k} log(SF_j)``, goes through convolutions
  with spatial squeeze-excitation to a per-frame score; a softmax over frames
  gives the initial decision map. The score is made odd in the relative
  activity (``g(rel) - g(-rel)``): pairs constrain only the odd part, and a
  free even part would let clearly worse frames outscore the best one when
  there are three or more. For two frames this is GACN's pairwise
  comparison; for more it is symmetric in the frames (every frame competes
  with all others, none is a reference);
* boundary guided filter: the map is guided-filtered only in a band around
  decision boundaries and blended with the initial map elsewhere.

Differences from the paper, on purpose: reflection padding (no zero-border
bias), log-ratio activity instead of ``sigmoid(1000 * (SF_A - SF_B))`` votes,
the activity projection and a narrow decision path (CPU budget of about one
second for a 520 x 520 pair on two cores), and N-frame symmetry.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from allfocus.nn.ops import box_mean, gradient_energy, guided_filter

__all__ = ["GACN", "ChannelSE", "DenseFeatures", "SpatialSE"]


class ChannelSE(nn.Module):
    """Channel squeeze-excitation (Hu et al. 2018): global pool, bottleneck, sigmoid gate."""

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        gate = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean(dim=(2, 3), keepdim=True)))))
        return x * gate


class SpatialSE(nn.Module):
    """Spatial squeeze-excitation (Roy et al. 2018): a k x k conv to one map, sigmoid gate."""

    def __init__(self, channels: int, kernel_size: int = 7) -> None:
        super().__init__()
        self.pad = kernel_size // 2
        self.conv = nn.Conv2d(channels, 1, kernel_size)

    def forward(self, x: Tensor) -> Tensor:
        padded = F.pad(x, (self.pad,) * 4, mode="reflect")
        if torch.is_grad_enabled():
            return x * torch.sigmoid(self.conv(padded))
        return x * torch.sigmoid(_conv_to_one(padded, self.conv))


def _conv_to_one(padded: Tensor, conv: nn.Conv2d) -> Tensor:
    """``conv(padded)`` for a k x k convolution to one channel, without autograd.

    As k row convolutions (one output channel per kernel row) and the sum of
    their outputs shifted by one row each: the same values up to float
    rounding. The CPU's convolution kernels are no faster for one output
    channel than for eight, so the direct 7 x 7 convolution of the spatial
    squeeze-excitation took about half of the decision path's time; this
    takes a quarter of it (8 channels, 600 x 600, two threads).
    """
    k = conv.kernel_size[0]
    rows = conv.weight[0].permute(1, 0, 2).unsqueeze(2)  # (k, C, 1, k): kernel row -> channel
    planes = F.conv2d(padded, rows).contiguous()  # (B, k, H + k - 1, W)
    height = planes.shape[2] - (k - 1)
    out = planes[:, 0, :height].clone()
    for dy in range(1, k):
        out += planes[:, dy, dy : dy + height]
    if conv.bias is not None:
        out += conv.bias
    return out.unsqueeze(1)


class _ConvBlock(nn.Module):
    """Reflect-padded 3x3 conv, batch norm, ReLU, channel SE.

    (GACN applies batch norm after the ReLU; before it, the norm folds into the
    convolution at inference, see :meth:`fold_norm`.)
    """

    def __init__(self, cin: int, cout: int, reduction: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3)
        self.norm = nn.BatchNorm2d(cout)
        self.se = ChannelSE(cout, reduction)

    def forward(self, x: Tensor) -> Tensor:
        padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
        if not torch.is_grad_enabled():
            # 3-4 times faster on the CPU for 17-25 input channels (same values)
            padded = padded.contiguous(memory_format=torch.channels_last)
        return self.se(F.relu(self.norm(self.conv(padded)), inplace=True))

    @torch.no_grad()
    def fold_norm(self) -> None:
        """Fold the (eval-mode) batch norm into the convolution; the norm becomes identity."""
        if not isinstance(self.norm, nn.BatchNorm2d):
            return
        norm = self.norm
        scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
        self.conv.weight.mul_(scale[:, None, None, None])
        bias = self.conv.bias if self.conv.bias is not None else torch.zeros_like(scale)
        self.conv.bias = nn.Parameter((bias - norm.running_mean) * scale + norm.bias)
        self.norm = nn.Identity()


class DenseFeatures(nn.Module):
    """Densely connected feature extractor without pooling (the input is one grey frame)."""

    def __init__(self, channels: int = 16, num_blocks: int = 4, reduction: int = 8) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            _ConvBlock(1 + k * channels if k else 1, channels, reduction) for k in range(num_blocks)
        )
        self.out_channels = channels * num_blocks

    def forward(self, x: Tensor) -> Tensor:
        if not torch.is_grad_enabled():
            return self._forward_inplace(x)
        outs: list[Tensor] = []
        inp = x
        for block in self.blocks:
            outs.append(block(inp))
            inp = torch.cat([x, *outs], dim=1)
        return torch.cat(outs, dim=1)

    def _forward_inplace(self, x: Tensor) -> Tensor:
        """The same values without autograd: each block writes into one buffer.

        Concatenating the growing input before every block copied it again
        each time (about a sixth of the network's time on the CPU); each
        block's input is instead a leading channel slice of the buffer,
        contiguous for one image. Autograd cannot use this: the slices a
        block saved for its gradient are written to by the next block.
        """
        batch, _, height, width = x.shape
        channels = self.blocks[0].conv.out_channels
        buf = x.new_empty((batch, 1 + self.out_channels, height, width))
        buf[:, :1] = x
        filled = 1
        for block in self.blocks:
            buf[:, filled : filled + channels] = block(buf[:, :filled])
            filled += channels
        return buf[:, 1:]


class GACN(nn.Module):
    """Decision network for multi-focus fusion of ``N >= 1`` grey frames in [0, 1].

    Parameters
    ----------
    channels : int
        Channels of every dense block (GACN: 16; 8 here keeps a 520 x 520
        pair near one second on two CPU cores).
    num_blocks : int
        Dense blocks (GACN: 4).
    activity_channels : int
        Channels the features are projected to before the spatial frequency
        (GACN: none, all 64).
    windows : tuple of int
        Radii of the spatial-frequency windows (GACN: one 11 x 11 window, radius 5).
    decision_channels : int
        Width of the decision path.
    reduction : int
        Channel squeeze-excitation bottleneck ratio.
    activity_eps : float
        Floor added to the activity before the logarithm (flat regions tie).
    boundary_radius, boundary_eps : int, float
        Guided filter of the boundary refinement (GACN: r = 3, eps = 0.1).
    band_radius : int
        Radius of the box blur that finds decision boundaries (GACN: 9 x 9 Gaussian).
    band_low, band_high : float
        The blurred map between these values marks the boundary band.
    boundary_filter : bool
        Refine the map near boundaries (``False`` for the ablation without it).

    Examples
    --------
    >>> import torch
    >>> net = GACN(channels=4, num_blocks=2, activity_channels=2, windows=(2,),
    ...            decision_channels=4).eval()
    >>> out = net(torch.rand(1, 3, 24, 24))
    >>> tuple(out["weights"].shape)
    (1, 3, 24, 24)
    """

    def __init__(
        self,
        *,
        channels: int = 8,
        num_blocks: int = 4,
        activity_channels: int = 8,
        windows: tuple[int, ...] = (2, 5, 10),
        decision_channels: int = 8,
        reduction: int = 8,
        activity_eps: float = 1e-4,
        boundary_radius: int = 3,
        boundary_eps: float = 0.1,
        band_radius: int = 4,
        band_low: float = 0.1,
        band_high: float = 0.9,
        boundary_filter: bool = True,
    ) -> None:
        super().__init__()
        self.features = DenseFeatures(channels, num_blocks, reduction)
        self.windows = tuple(int(w) for w in windows)
        self.activity_eps = float(activity_eps)
        self.project = nn.Conv2d(self.features.out_channels, activity_channels, 1)
        # The grey frame itself joins the projected features: the network can
        # always fall back on a classical spatial frequency of the image.
        act = (activity_channels + 1) * len(self.windows)
        width = decision_channels
        self.reduce = nn.Conv2d(act, width, 1)
        self.sse0 = SpatialSE(width)
        self.conv1 = nn.Conv2d(width, width, 3)
        self.sse1 = SpatialSE(width)
        self.conv2 = nn.Conv2d(width, width, 3)
        self.sse2 = SpatialSE(width)
        self.score = nn.Conv2d(width, 1, 3)
        self.boundary_radius = int(boundary_radius)
        self.boundary_eps = float(boundary_eps)
        self.band_radius = int(band_radius)
        self.band_low = float(band_low)
        self.band_high = float(band_high)
        self.boundary_filter = bool(boundary_filter)

    @property
    def receptive_radius(self) -> int:
        """Pixels the scores look beyond a pixel (for tiling halos)."""
        feat = len(self.features.blocks)
        return feat + 1 + max(self.windows) + 3 * 3 + 3

    def fold_norms(self) -> GACN:
        """Fold every batch norm into its convolution (inference only; returns self)."""
        for block in self.features.blocks:
            block.fold_norm()
        return self

    def activity(self, frames: Tensor) -> Tensor:
        """Log multi-scale activity of every frame: (B, N, H, W) -> (B, N, A, H, W)."""
        b, n, h, w = frames.shape
        flat = frames.reshape(b * n, 1, h, w)
        feats = torch.cat([flat, self.project(self.features(flat))], dim=1)
        energy = gradient_energy(feats)
        maps = [box_mean(energy, r) for r in self.windows]
        act = torch.log(torch.cat(maps, dim=1) + self.activity_eps)
        return act.reshape(b, n, -1, h, w)

    def decide(self, activity: Tensor) -> Tensor:
        """Per-frame scores (B, N, H, W) from log activities (B, N, A, H, W).

        Frame ``k`` sees its activity minus the largest activity among the
        other frames (zero for a single frame), so permuting frames permutes
        the scores.
        """
        b, n, a, h, w = activity.shape
        if n == 1:
            rel = torch.zeros_like(activity)
        elif n == 2:
            rel = activity - activity.flip(1)
        else:
            # Largest activity among the *other* frames: max of the running
            # maxima from the front (up to k - 1) and from the back (from k + 1).
            front = activity.cummax(dim=1).values
            back = activity.flip(1).cummax(dim=1).values.flip(1)
            floor = torch.full_like(activity[:, :1], float("-inf"))
            before = torch.cat([floor, front[:, :-1]], dim=1)
            after = torch.cat([back[:, 1:], floor], dim=1)
            rel = activity - torch.maximum(before, after)
        # The score is odd in the relative activity, s(rel) = g(rel) - g(-rel):
        # trained on pairs only the difference of the two frames' outputs is
        # constrained, and a free even part would let a clearly worse frame
        # outscore the best one among three or more. For two frames
        # rel_B = -rel_A, so g runs once per frame either way.
        if n == 2:
            out = self._path(rel.reshape(b * n, a, h, w)).reshape(b, n, h, w)
            return out - out.flip(1)
        both = torch.cat([rel, -rel], dim=1).reshape(b * 2 * n, a, h, w)
        out = self._path(both).reshape(b, 2 * n, h, w)
        return out[:, :n] - out[:, n:]

    def _path(self, x: Tensor) -> Tensor:
        """The decision convolutions g: relative activity (K, A, H, W) -> (K, 1, H, W)."""
        return self._path_reduced(self.reduce(x))

    def _path_reduced(self, x: Tensor) -> Tensor:
        """:meth:`_path` after its first (1 x 1) convolution."""
        x = self.sse0(F.relu(x, inplace=True))
        x = self.sse1(F.relu(self.conv1(F.pad(x, (1, 1, 1, 1), mode="reflect")), inplace=True))
        x = self.sse2(F.relu(self.conv2(F.pad(x, (1, 1, 1, 1), mode="reflect")), inplace=True))
        padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
        return self.score(padded) if torch.is_grad_enabled() else _conv_to_one(padded, self.score)

    def scores(self, frames: Tensor) -> Tensor:
        """Per-frame decision scores (logits over frames), (B, N, H, W)."""
        return self.decide(self.activity(frames))

    def scores_frame_by_frame(self, frames: Tensor) -> Tensor:
        """:meth:`scores` of one stack (1, N, H, W), one frame's features at a time.

        The same scores up to float rounding. :meth:`scores` runs the feature
        extractor on all frames as one batch and keeps several copies of all
        activities for the comparison with the other frames; here only the
        activities of the N frames are kept (``A`` channels each), the largest
        and second largest of them give each frame the largest among the
        *other* frames, and the decision path runs on one frame at a time.
        For inference; training uses :meth:`scores`.
        """
        batch, num = frames.shape[:2]
        if batch != 1:
            raise ValueError(f"scores_frame_by_frame takes one stack; got a batch of {batch}")
        if num < 2:
            return self.scores(frames)
        # Filled in place: stacking a list of the frames' activities would
        # hold every activity twice at its peak.
        first = self.activity(frames[:, :1])[0, 0]
        acts = first.new_empty((num, *first.shape))
        acts[0] = first
        del first
        for k in range(1, num):
            acts[k] = self.activity(frames[:, k : k + 1])[0, 0]

        # The path's first convolution (1 x 1) is linear, so g(rel) and
        # g(-rel) share one matrix product: W rel + b and b - W rel. The rest of
        # the path, of few channels, runs some 30 % faster on channels-last
        # tensors on the CPU (same values up to float rounding).
        weight = self.reduce.weight.reshape(self.reduce.out_channels, -1)
        bias = self.reduce.bias.reshape(-1, 1, 1)

        def path(rel: Tensor) -> Tensor:
            reduced = (weight @ rel.reshape(rel.shape[0], -1)).reshape(-1, *rel.shape[1:])
            both = torch.stack([bias + reduced, bias - reduced])
            out = self._path_reduced(both.contiguous(memory_format=torch.channels_last))
            return out[0, 0] - out[1, 0]

        if num == 2:  # the relative activities are opposite: one pass of the path
            first = path(acts[0] - acts[1])
            return torch.stack([first, -first])[None]
        # Largest and second largest activity, streamed over the frames: frame
        # k's largest among the others is the second largest where it holds the
        # largest (ties: both are equal), the largest elsewhere.
        top = acts[0].clone()
        second = torch.full_like(top, float("-inf"))
        for k in range(1, num):
            torch.maximum(second, torch.minimum(top, acts[k]), out=second)
            torch.maximum(top, acts[k], out=top)
        out = torch.empty((1, num, *frames.shape[2:]), dtype=acts.dtype, device=acts.device)
        for k in range(num):
            out[0, k] = path(acts[k] - torch.where(acts[k] >= top, second, top))
        return out

    def refine(self, initial: Tensor, frames: Tensor) -> Tensor:
        """Boundary guided filter: smooth the weights (B, N, H, W) only near decision edges.

        The guide is the frame mix under the initial weights; outside the band
        where the box-blurred weights lie strictly between ``band_low`` and
        ``band_high`` the initial weights are kept. Returns weights summing to one.
        """
        guide = (initial * frames).sum(dim=1, keepdim=True)
        filtered = guided_filter(guide, initial, self.boundary_radius, self.boundary_eps)
        with torch.no_grad():
            blurred = box_mean(initial, self.band_radius)
            band = ((blurred > self.band_low) & (blurred < self.band_high)).to(initial.dtype)
            band = band.amax(dim=1, keepdim=True)
        mixed = (band * filtered + (1.0 - band) * initial).clamp_min(0.0)
        return mixed / mixed.sum(dim=1, keepdim=True).clamp_min(1e-6)

    def forward(self, frames: Tensor) -> dict[str, Tensor]:
        """Decide and fuse ``frames`` (B, N, H, W) in [0, 1].

        Returns
        -------
        dict
            ``scores`` (logits), ``initial`` (softmax over frames), ``weights``
            (after the boundary filter, or the initial map without it) and
            ``fused`` (B, 1, H, W).
        """
        if frames.ndim != 4:
            raise ValueError(f"frames must have shape (B, N, H, W); got {tuple(frames.shape)}")
        scores = self.scores(frames)
        initial = torch.softmax(scores, dim=1)
        weights = self.refine(initial, frames) if self.boundary_filter else initial
        fused = (weights * frames).sum(dim=1, keepdim=True)
        return {"scores": scores, "initial": initial, "weights": weights, "fused": fused}
