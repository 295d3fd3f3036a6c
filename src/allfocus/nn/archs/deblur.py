"""A small NAFNet-style U-Net for single-image defocus deblurring.

After L. Chen, X. Chu, X. Zhang and J. Sun, "Simple Baselines for Image
Restoration" (NAFNet, ECCV 2022). An independent, reduced implementation:

* blocks of layer norm, 1x1 expansion, 3x3 depth-wise convolution and a
  *simple gate* (the product of the two halves of the channels) in place of
  activations, then a gated feed-forward part; both parts are residual with
  learned per-channel scales that start at zero (each block starts as the
  identity, which keeps early training stable);
* a U-Net of three 2x down-samplings (strided 2x2 convolutions) and pixel
  shuffle up-samplings with additive skips; the output is added to the input
  (the network predicts the missing detail).

Left out on purpose: NAFNet's simplified channel attention. It pools over
the whole image, so results would depend on the tile a pixel falls in; without
it the network is translation-equivariant up to the down-sampling grid, and
tiled inference (with a halo of :attr:`DeblurNet.receptive_radius` and tiles
aligned to :attr:`DeblurNet.multiple`) equals whole-image inference.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["DeblurNet", "NAFBlock", "PatchDiscriminator"]


class LayerNorm2d(nn.Module):
    """Layer norm over the channels of each pixel (tile-independent)."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        y = (x - mu) / torch.sqrt(var + self.eps)
        return y * self.weight[:, None, None] + self.bias[:, None, None]


def _gate(x: Tensor) -> Tensor:
    a, b = x.chunk(2, dim=1)
    return a * b


class NAFBlock(nn.Module):
    """Norm, 1x1 (2c), depth-wise 3x3, gate, 1x1; then norm, 1x1 (2c), gate, 1x1."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        c = channels
        self.norm1 = LayerNorm2d(c)
        self.expand = nn.Conv2d(c, 2 * c, 1)
        self.depthwise = nn.Conv2d(2 * c, 2 * c, 3, padding=1, groups=2 * c)
        self.project = nn.Conv2d(c, c, 1)
        self.norm2 = LayerNorm2d(c)
        self.ffn_in = nn.Conv2d(c, 2 * c, 1)
        self.ffn_out = nn.Conv2d(c, c, 1)
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        y = self.project(_gate(self.depthwise(self.expand(self.norm1(x)))))
        x = x + self.beta * y
        y = self.ffn_out(_gate(self.ffn_in(self.norm2(x))))
        return x + self.gamma * y


class DeblurNet(nn.Module):
    """U-Net of :class:`NAFBlock` predicting a sharp image from a blurred one.

    Parameters
    ----------
    in_channels : int
        Image channels (3 for RGB, 1 for grey).
    width : int
        Channels at full resolution; doubled at each down-sampling.
    enc_blocks : tuple of int
        Blocks at each encoder level (its length is the number of levels).
    middle_blocks : int
        Blocks at the coarsest level.
    dec_blocks : tuple of int
        Blocks at each decoder level, coarse to fine.

    Input and output are ``(B, C, H, W)`` in [0, 1] (the output is not
    clamped during training); any ``H, W`` (padded internally to a multiple of
    :attr:`multiple`).
    """

    def __init__(
        self,
        in_channels: int = 3,
        width: int = 24,
        enc_blocks: tuple[int, ...] = (1, 1, 2),
        middle_blocks: int = 2,
        dec_blocks: tuple[int, ...] = (1, 1, 1),
    ) -> None:
        super().__init__()
        if len(enc_blocks) != len(dec_blocks):
            raise ValueError("enc_blocks and dec_blocks must have the same length")
        self.intro = nn.Conv2d(in_channels, width, 3, padding=1)
        self.outro = nn.Conv2d(width, in_channels, 3, padding=1)
        self.encoders, self.downs = nn.ModuleList(), nn.ModuleList()
        self.decoders, self.ups = nn.ModuleList(), nn.ModuleList()
        c = width
        for n in enc_blocks:
            self.encoders.append(nn.Sequential(*[NAFBlock(c) for _ in range(n)]))
            self.downs.append(nn.Conv2d(c, 2 * c, 2, stride=2))
            c *= 2
        self.middle = nn.Sequential(*[NAFBlock(c) for _ in range(middle_blocks)])
        for n in dec_blocks:
            self.ups.append(nn.Sequential(nn.Conv2d(c, 2 * c, 1, bias=False), nn.PixelShuffle(2)))
            c //= 2
            self.decoders.append(nn.Sequential(*[NAFBlock(c) for _ in range(n)]))
        self.multiple = 2 ** len(enc_blocks)
        # Receptive radius: each 3x3 depth-wise conv adds its level's stride, the
        # intro/outro convs 1 px each, down/up-sampling a stride each.
        radius = 2
        for level, n in enumerate(enc_blocks):
            radius += n * 2**level + 2**level
        radius += middle_blocks * 2 ** len(enc_blocks)
        for level, n in enumerate(dec_blocks):
            radius += n * 2 ** (len(dec_blocks) - 1 - level) + 2 ** (len(dec_blocks) - level)
        self.receptive_radius = int(radius)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        m = self.multiple
        ph, pw = (-h) % m, (-w) % m
        inp = F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x
        y = self.intro(inp)
        skips = []
        for enc, down in zip(self.encoders, self.downs, strict=True):
            y = enc(y)
            skips.append(y)
            y = down(y)
        y = self.middle(y)
        for dec, up, skip in zip(self.decoders, self.ups, reversed(skips), strict=True):
            y = dec(up(y) + skip)
        y = self.outro(y) + inp
        return y[..., :h, :w]


class PatchDiscriminator(nn.Module):
    """PatchGAN critic (Isola et al. 2017): strided convs to a map of real/fake logits."""

    def __init__(self, in_channels: int = 3, width: int = 32, layers: int = 3) -> None:
        super().__init__()
        mods: list[nn.Module] = []
        c_in, c = in_channels, width
        for i in range(layers):
            mods += [nn.Conv2d(c_in, c, 4, stride=2, padding=1)]
            if i > 0:
                mods += [nn.InstanceNorm2d(c, affine=True)]
            mods += [nn.LeakyReLU(0.2, inplace=True)]
            c_in, c = c, c * 2
        mods += [nn.Conv2d(c_in, 1, 3, padding=1)]
        self.net = nn.Sequential(*mods)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
