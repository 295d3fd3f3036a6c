"""NumPy <-> torch boundary of the learned fusion: cached models and tiled inference.

The only place in allfocus where arrays become tensors and back. Device and
threads are the caller's choice (CPU float32 by default).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from allfocus._core.errors import ConfigError
from allfocus.fusion import _gacn_net as _net
from allfocus.fusion._gacn_net import float_luma
from allfocus.nn.archs.deblur import DeblurNet
from allfocus.nn.archs.gacn import GACN
from allfocus.nn.models import create_model
from allfocus.nn.weights import WEIGHTS, read_state, split_arch

__all__ = [
    "TorchScorer",
    "boundary_weights",
    "deblur_rgb",
    "decision_scores",
    "pretrained_deblur",
    "pretrained_gacn",
]


def _frozen(model: nn.Module) -> nn.Module:
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@functools.lru_cache(maxsize=4)
def pretrained_deblur(weights: str) -> DeblurNet:
    """The deblurring network with ``weights`` (registered name or ``.pt`` path), eval mode."""
    name = "deblur"
    src = weights if not weights.endswith(".pt") else Path(weights)
    return _frozen(create_model(name, weights=src))


@functools.lru_cache(maxsize=4)
def pretrained_gacn(weights: str) -> GACN:
    """The GACN with ``weights`` (registered name or file path), norms folded, eval mode.

    A ``.pt`` file (a state_dict, as ``scripts/train_gacn.py`` writes) is
    built with the architecture it records; a file without that record (as
    earlier versions of the script wrote) must have the architecture of one
    of the registered GACN weights (``gacn_v1``'s three activity windows or
    the four of ``gacn_v2`` and ``gacn_v3``).
    """
    if not weights.endswith(".pt"):
        names = _gacn_weight_names()
        if weights not in names:
            raise ConfigError(
                f"unknown gacn weights {weights!r}; choose auto, {', '.join(names)} "
                "or the path of a .pt file written by scripts/train_gacn.py"
            )
        model = create_model("gacn", weights=weights)
    else:
        model = _gacn_from_file(Path(weights))
    model.fold_norms()
    return _frozen(model)


def _gacn_weight_names() -> list[str]:
    """Names of the registered weights of the GACN architecture."""
    return [name for name, spec in WEIGHTS.items() if spec.arch == "gacn"]


def _gacn_from_file(path: Path) -> GACN:
    """A GACN with ``path``'s recorded architecture, else the first registered one it fits.

    Without a record the architecture is guessed from the tensors' shapes;
    activity windows of other radii but the same count cannot be told apart.
    """
    state, arch = split_arch(read_state(path)[0])
    if arch is not None:
        try:
            model = create_model("gacn", **arch)
            model.load_state_dict(state)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise ConfigError(
                f"weights {str(path)!r} do not match the GACN architecture they record "
                f"({arch}): {exc}"
            ) from None
        return model.eval()
    shapes = []
    for spec in (WEIGHTS[name] for name in _gacn_weight_names()):
        if spec.arch_kwargs in shapes:
            continue
        shapes.append(spec.arch_kwargs)
        model = create_model("gacn", **spec.arch_kwargs)
        try:
            model.load_state_dict(state)
        except RuntimeError:
            continue
        return model.eval()
    raise ConfigError(
        f"weights {str(path)!r} fit none of the GACN architectures of the shipped weights "
        f"({', '.join(_gacn_weight_names())}): train with a "
        "config whose model section matches one of them (configs/gacn*.yaml)"
    )


class TorchScorer:
    """A GACN run by torch, as :func:`allfocus.fusion._gacn_net.decision_scores` runs it.

    The torch backend of ``fuse_gacn`` (``backend="torch"``, and any ``.pt``
    file); ``model`` is the network itself.
    """

    def __init__(self, model: GACN, device: str = "cpu") -> None:
        self.model = model
        self.device = device
        self.receptive_radius = model.receptive_radius
        self.activity_size = (model.project.out_channels + 1) * len(model.windows)
        self.feature_channels = model.features.out_channels

    def score_stack(self, luma: NDArray[np.float32]) -> NDArray[np.float32]:
        """Scores (S, M, N) of one grey stack (:meth:`GACN.scores_frame_by_frame`)."""
        return _run(self.model, luma, self.device)

    def boundary_weights(self, initial: NDArray[np.float32], luma: NDArray) -> NDArray[np.float32]:
        """The network's boundary guided filter on decision weights (:func:`boundary_weights`)."""
        return boundary_weights(self.model, initial, luma, device=self.device)


def _run(model: GACN, luma: NDArray, device: str) -> NDArray[np.float32]:
    with torch.inference_mode():
        x = torch.from_numpy(float_luma(luma))[None].to(device)
        return model.scores_frame_by_frame(x)[0].cpu().numpy()


def decision_scores(
    model: GACN,
    luma: NDArray[np.float32],
    *,
    tile: int = 512,
    halo: int | None = None,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
    dtype: type = np.float32,
) -> NDArray:
    """Per-frame decision scores (logits over frames) of a grey stack, run by torch on
    ``device``: :func:`allfocus.fusion._gacn_net.decision_scores` (parameters and
    tiling there)."""
    return _net.decision_scores(
        TorchScorer(model, device), luma, tile=tile, halo=halo, progress=progress, dtype=dtype
    )


def boundary_weights(
    model: GACN, initial: NDArray[np.float32], luma: NDArray[np.float32], *, device: str = "cpu"
) -> NDArray[np.float32]:
    """The network's boundary guided filter applied to decision weights (S, M, N)."""
    with torch.inference_mode():
        w = torch.from_numpy(np.ascontiguousarray(initial))[None].to(device)
        x = torch.from_numpy(float_luma(luma))[None].to(device)
        return model.refine(w, x)[0].cpu().numpy()


def deblur_rgb(
    model: DeblurNet,
    rgb: NDArray[np.float32],
    *,
    tile: int = 512,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> NDArray[np.float32]:
    """Run the deblurring network on an RGB image (M, N, 3) in [0, 1], tile by tile.

    Tiles start on the network's down-sampling grid and carry a halo of its
    receptive radius, so the result equals whole-image inference up to float
    rounding; memory stays bounded by the tile size. ``progress(done, total)``
    is called after each tile. Returns float32 (M, N, 3) clipped to [0, 1].
    """
    rows, cols = rgb.shape[:2]
    m = model.multiple
    halo = -(-model.receptive_radius // m) * m
    side = max(m, (int(tile) // m) * m)
    starts = [(y, x) for y in range(0, rows, side) for x in range(0, cols, side)]
    out = np.empty((rows, cols, 3), dtype=np.float32)
    chw = np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32)
    with torch.inference_mode():
        for done, (y, x) in enumerate(starts, 1):
            y0, x0 = max(0, y - halo), max(0, x - halo)
            y1, x1 = min(rows, y + side + halo), min(cols, x + side + halo)
            part = torch.from_numpy(chw[:, y0:y1, x0:x1].copy())[None].to(device)
            res = model(part)[0].clamp_(0, 1).cpu().numpy()
            ye, xe = min(rows, y + side), min(cols, x + side)
            out[y:ye, x:xe] = res[:, y - y0 : ye - y0, x - x0 : xe - x0].transpose(1, 2, 0)
            if progress is not None:
                progress(done, len(starts))
    return out
