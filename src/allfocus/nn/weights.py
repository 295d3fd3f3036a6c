"""Descriptions of trained weights and their loading (local files only; nothing downloads)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from allfocus._core.errors import InputError, ReadError

__all__ = [
    "ARCH_KEY",
    "WEIGHTS",
    "WeightSpec",
    "get_weight_spec",
    "load_weights",
    "read_state",
    "split_arch",
]

#: Key of a weight file's record of its architecture (constructor options);
#: files written by the training scripts carry it, the shipped ones do not.
ARCH_KEY = "_allfocus_arch"

_HERE = Path(__file__).resolve().parent / "weights"


@dataclass(frozen=True)
class WeightSpec:
    """A trained weight file and what it expects.

    Attributes
    ----------
    name : str
        Registry name (``"gacn_v1"``).
    arch : str
        Model name for :func:`allfocus.nn.models.create_model`.
    file : str
        File name inside ``allfocus/nn/weights/``.
    sha256 : str
        Hex digest of the file; checked on load.
    arch_kwargs : dict
        Constructor hyper-parameters the weights were trained with.
    input_range : (float, float)
        Expected value range of the input.
    input_channels : int
        Channels per image (GACN: 1, colour stacks are decided on their luma;
        the deblurring network: 3, RGB).
    licence : str
    record : str
        The Markdown file describing the training run.
    """

    name: str
    arch: str
    file: str
    sha256: str
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    input_range: tuple[float, float] = (0.0, 1.0)
    input_channels: int = 1
    licence: str = "BSD-3-Clause"
    record: str = ""

    @property
    def path(self) -> Path:
        return _HERE / self.file


def _gacn(name: str, sha256: str, windows: tuple[int, ...]) -> WeightSpec:
    """A shipped GACN: the 8-channel network of ``docs/gacn.md`` with ``windows``."""
    kwargs = {
        "channels": 8,
        "num_blocks": 4,
        "activity_channels": 8,
        "windows": windows,
        "decision_channels": 8,
        "boundary_filter": True,
    }
    return WeightSpec(
        name=name,
        arch="gacn",
        file=f"{name}.pt",
        sha256=sha256,
        arch_kwargs=kwargs,
        record=f"{name}.md",
    )


#: Weights shipped with allfocus.
WEIGHTS: dict[str, WeightSpec] = {
    "gacn_v1": _gacn(
        "gacn_v1", "18da7ac91db19e6ade739e940231dde7cba6ca7b35ff86efaafa543fb205b11b", (2, 5, 10)
    ),
    # gacn_v1 fine-tuned on whole stacks too, with a 3 x 3 window added
    "gacn_v2": _gacn(
        "gacn_v2", "6f2504c4c45074e722f7b99f0508118e176e1bd70da16f0145a15680bec7df63", (1, 2, 5, 10)
    ),
    # gacn_v2 fine-tuned on longer stacks
    "gacn_v3": _gacn(
        "gacn_v3", "6523f6f6d2bc7637468b52bf543249ee119b663ee75384f56757c81dedac8efd", (1, 2, 5, 10)
    ),
    # gacn_v3 fine-tuned with slanted surfaces among the stacks (used from three frames on)
    "gacn_v4": _gacn(
        "gacn_v4", "0c54e1f79b567531d5f1e21ff868c786972688a891e9584efcbadd6be26ebbff", (1, 2, 5, 10)
    ),
    "deblur_v1": WeightSpec(
        name="deblur_v1",
        arch="deblur",
        file="deblur_v1.pt",
        sha256="2bf2cb6f7fa1da020ec9d5afeda1ad5dab1e5634c9f29070caacce6b69afba9e",
        arch_kwargs={
            "in_channels": 3,
            "width": 24,
            "enc_blocks": (1, 1, 2),
            "middle_blocks": 2,
            "dec_blocks": (1, 1, 1),
        },
        input_channels=3,
        record="deblur_v1.md",
    ),
}


def get_weight_spec(name: str) -> WeightSpec:
    """The :class:`WeightSpec` registered as ``name``; InputError listing the valid names."""
    try:
        return WEIGHTS[name]
    except KeyError:
        raise InputError(
            f"unknown weights {name!r}; choose one of: {', '.join(sorted(WEIGHTS))} "
            "or pass a path to a .pt file"
        ) from None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_state(
    source: str | Path | WeightSpec, *, check_hash: bool = True
) -> tuple[dict[str, torch.Tensor], WeightSpec | None]:
    """The state_dict of a registered name, a spec or a file path, and its spec.

    The spec is ``None`` for a plain file path. Raises ``ReadError`` if the
    file is missing or (registered weights, ``check_hash``) its hash does not
    match.
    """
    spec = source if isinstance(source, WeightSpec) else None
    if spec is None and isinstance(source, str) and source in WEIGHTS:
        spec = WEIGHTS[source]
    path = spec.path if spec is not None else Path(source)
    if not path.is_file():
        raise ReadError(f"weight file not found: {path}")
    if spec is not None and check_hash:
        digest = _sha256(path)
        if digest != spec.sha256:
            raise ReadError(
                f"weight file {path} has sha256 {digest}, expected {spec.sha256} "
                "(damaged or replaced file)"
            )
    return torch.load(path, map_location="cpu", weights_only=True), spec


def split_arch(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A loaded weight file's state_dict without, and its architecture record (or ``None``).

    Examples
    --------
    >>> split_arch({"w": 1, ARCH_KEY: {"windows": [1, 2]}})
    ({'w': 1}, {'windows': [1, 2]})
    """
    state = dict(state)
    arch = state.pop(ARCH_KEY, None)
    return state, arch


def load_weights(
    model: nn.Module, source: str | Path | WeightSpec, *, check_hash: bool = True
) -> nn.Module:
    """Load a state_dict into ``model`` from a registered name, a spec or a file path.

    Parameters
    ----------
    model : nn.Module
    source : str, Path or WeightSpec
        A name in :data:`WEIGHTS`, a spec, or the path of a ``.pt`` state_dict.
    check_hash : bool
        Compare the file's SHA-256 with the spec's (registered weights only).

    Returns
    -------
    nn.Module
        ``model``, in eval mode.

    Raises
    ------
    ReadError
        If the file is missing or its hash does not match.
    """
    state, _ = split_arch(read_state(source, check_hash=check_hash)[0])
    model.load_state_dict(state)
    return model.eval()
