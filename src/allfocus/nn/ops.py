"""Differentiable image operations on ``(B, C, H, W)`` tensors (torch only).

Each operation is a function plus an ``nn.Module`` wrapper, as in kornia:
box mean (stride-1 average pooling, constant cost per pixel like an integral
image), spatial frequency of feature maps over a window, and the guided filter
of He, Sun and Tang. Borders are reflected everywhere, so no operation sees
the zero border that biases decisions at the frame edge.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "BoxMean",
    "GuidedFilter",
    "SpatialFrequency",
    "box_mean",
    "gradient_energy",
    "guided_filter",
    "spatial_frequency",
]


def _check_bchw(name: str, tensor: Tensor) -> None:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(tensor).__name__}")
    if tensor.ndim != 4:
        raise ValueError(f"{name} must have shape (B, C, H, W); got {tuple(tensor.shape)}")


def _reflect(tensor: Tensor, radius: int) -> Tensor:
    """Reflect-pad by ``radius``; falls back to replication for inputs too small to reflect."""
    h, w = tensor.shape[-2:]
    mode = "reflect" if radius < h and radius < w else "replicate"
    return F.pad(tensor, (radius, radius, radius, radius), mode=mode)


def box_mean(image: Tensor, radius: int) -> Tensor:
    """Mean over a ``(2 * radius + 1)`` square window with reflected borders.

    Parameters
    ----------
    image : (B, C, H, W) Tensor
    radius : int
        Window radius; 0 returns the input.

    Returns
    -------
    (B, C, H, W) Tensor

    Examples
    --------
    >>> import torch
    >>> float(box_mean(torch.ones(1, 1, 5, 5), 2).min())
    1.0
    """
    _check_bchw("image", image)
    radius = int(radius)
    if radius < 0:
        raise ValueError(f"radius must be >= 0; got {radius}")
    if radius == 0:
        return image
    size = 2 * radius + 1
    if radius == 1:
        return F.avg_pool2d(_reflect(image, radius), size, stride=1)
    # Running sums (an integral image, one axis at a time): cost independent of radius.
    padded = _reflect(image, radius)
    acc = F.pad(padded.cumsum(-1), (1, 0))
    rows = acc[..., size:] - acc[..., :-size]
    acc = F.pad(rows.cumsum(-2), (0, 0, 1, 0))
    return (acc[..., size:, :] - acc[..., :-size, :]) / (size * size)


def gradient_energy(features: Tensor) -> Tensor:
    """Squared row plus column differences to the left and upper neighbour, per channel.

    The first row and column use a replicated neighbour (difference 0 at the border).
    """
    _check_bchw("features", features)
    padded = F.pad(features, (1, 0, 1, 0), mode="replicate")
    dx = padded[..., 1:, 1:] - padded[..., 1:, :-1]
    dy = padded[..., 1:, 1:] - padded[..., :-1, 1:]
    return dx * dx + dy * dy


def spatial_frequency(features: Tensor, radius: int) -> Tensor:
    """Spatial frequency of every channel: windowed mean of squared row and column differences.

    ``SF = mean_window((f(y, x) - f(y, x - 1))**2 + (f(y, x) - f(y - 1, x))**2)``,
    the activity measure GACN applies to deep features; the first row and
    column use their reflected neighbour (difference 0 across the border).

    Parameters
    ----------
    features : (B, C, H, W) Tensor
    radius : int
        Window radius (GACN uses an 11 x 11 window, radius 5).

    Returns
    -------
    (B, C, H, W) Tensor, non-negative
    """
    return box_mean(gradient_energy(features), radius)


def guided_filter(guide: Tensor, src: Tensor, radius: int, eps: float | Tensor) -> Tensor:
    """Guided filter of ``src`` steered by a grey ``guide`` (He, Sun and Tang, 2013).

    Parameters
    ----------
    guide : (B, 1, H, W) or (B, C, H, W) Tensor
        Guidance image; a one-channel guide steers every channel of ``src``,
        otherwise channels are paired.
    src : (B, C, H, W) Tensor
        Image to filter.
    radius : int
        Box radius (window side ``2 * radius + 1``), >= 1.
    eps : float or (B,) Tensor
        Regularisation in squared intensity units, > 0; one value or one per batch item.

    Returns
    -------
    (B, C, H, W) Tensor

    Examples
    --------
    >>> import torch
    >>> g = torch.rand(1, 1, 8, 8)
    >>> guided_filter(g, g, 1, 1e-6).sub(g).abs().max() < 1e-2
    tensor(True)
    """
    _check_bchw("guide", guide)
    _check_bchw("src", src)
    if guide.shape[0] != src.shape[0] or guide.shape[-2:] != src.shape[-2:]:
        raise ValueError(
            f"guide and src must share batch and spatial size; got {tuple(guide.shape)} "
            f"and {tuple(src.shape)}"
        )
    if guide.shape[1] not in (1, src.shape[1]):
        raise ValueError(
            f"guide must have 1 channel or as many as src ({src.shape[1]}); got {guide.shape[1]}"
        )
    if int(radius) < 1:
        raise ValueError(f"radius must be >= 1; got {radius}")
    if isinstance(eps, Tensor):
        eps = eps.to(src).reshape(-1, 1, 1, 1)
        if bool((eps <= 0).any()):
            raise ValueError("eps must be positive")
    elif not eps > 0:
        raise ValueError(f"eps must be positive; got {eps}")
    mean_i = box_mean(guide, radius)
    var_i = box_mean(guide * guide, radius) - mean_i * mean_i
    mean_p = box_mean(src, radius)
    cov_ip = box_mean(guide * src, radius) - mean_i * mean_p
    a = cov_ip / (var_i.clamp_min(0.0) + eps)
    b = mean_p - a * mean_i
    return box_mean(a, radius) * guide + box_mean(b, radius)


class BoxMean(nn.Module):
    """Module form of :func:`box_mean`."""

    def __init__(self, radius: int) -> None:
        super().__init__()
        self.radius = int(radius)

    def forward(self, image: Tensor) -> Tensor:
        return box_mean(image, self.radius)


class SpatialFrequency(nn.Module):
    """Module form of :func:`spatial_frequency`."""

    def __init__(self, radius: int) -> None:
        super().__init__()
        self.radius = int(radius)

    def forward(self, features: Tensor) -> Tensor:
        return spatial_frequency(features, self.radius)


class GuidedFilter(nn.Module):
    """Module form of :func:`guided_filter`.

    Examples
    --------
    >>> import torch
    >>> out = GuidedFilter(2, 1e-2)(torch.rand(2, 1, 9, 9), torch.rand(2, 3, 9, 9))
    >>> tuple(out.shape)
    (2, 3, 9, 9)
    """

    def __init__(self, radius: int, eps: float) -> None:
        super().__init__()
        self.radius = int(radius)
        self.eps = float(eps)

    def forward(self, guide: Tensor, src: Tensor) -> Tensor:
        return guided_filter(guide, src, self.radius, self.eps)
