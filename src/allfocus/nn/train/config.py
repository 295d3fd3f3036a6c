"""Training configuration: YAML read with ``yaml.safe_load`` into validated dataclasses."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from allfocus._core.errors import ConfigError, missing_dependency

__all__ = ["DataConfig", "LossConfig", "ModelConfig", "TrainConfig", "load_config"]


@dataclass
class ModelConfig:
    """Hyper-parameters of :class:`allfocus.nn.archs.GACN`."""

    channels: int = 8
    num_blocks: int = 4
    activity_channels: int = 8
    windows: tuple[int, ...] = (2, 5, 10)
    decision_channels: int = 8
    boundary_filter: bool = True

    def kwargs(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass
class DataConfig:
    """Where the photos are and how pairs are made (see :mod:`allfocus.nn.train.datasets`)."""

    folders: list[str] = field(default_factory=list)
    recipe: str = "mix"
    crop: int = 112
    scale_range: tuple[float, float] = (0.4, 1.0)
    #: Share of the batches that are whole focus stacks instead of pairs.
    stack_fraction: float = 0.0
    #: Smallest and largest number of frames of those stacks.
    stack_frames: tuple[int, int] = (3, 8)
    #: Share of those stacks whose far layer gets a line of strong contrast
    #: just outside the near object's edge (0-3 px off, 1-4 px wide).
    edge_lines: float = 0.0
    #: Share of those stacks that are one surface tilted through the whole
    #: focus range, half of them posterised like print.
    slanted: float = 0.0


@dataclass
class LossConfig:
    dice_weight: float = 1.0
    qabf_weight: float = 1.0
    #: Weight of the cross-entropy near the ground truth's decision edges.
    edge_weight: float = 0.0
    #: Weight of the cross-entropy on the background side of occlusion edges.
    far_weight: float = 0.0
    #: Weight of the expected distance in frames from the true depth.
    depth_weight: float = 0.0
    constants: str = "gacn"


@dataclass
class TrainConfig:
    """Everything one training run needs; paths are relative to the repository root."""

    name: str = "gacn"
    seed: int = 0
    steps: int = 2000
    batch_size: int = 8
    lr: float = 1e-3
    lr_decay: float = 0.5
    lr_decay_every: int = 800
    grad_clip: float = 1.0
    threads: int = 2
    time_limit_min: float = 0.0
    log_every: int = 25
    checkpoint_every: int = 100
    checkpoint_dir: str = "benchmarks/_work/gacn_ckpt"
    output: str = ""
    record: str = ""
    loss_plot: str = ""
    #: Start from these weights (a registered name or a ``.pt`` state_dict);
    #: activity windows the new model adds start with zero weight.
    init_from: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)

    def validate(self) -> TrainConfig:
        check_loop(self)
        if self.data.recipe not in ("gacn", "synth", "mix"):
            raise ConfigError(
                f"data.recipe must be 'gacn', 'synth' or 'mix'; got {self.data.recipe!r}"
            )
        if self.data.crop < 32:
            raise ConfigError(f"data.crop must be >= 32; got {self.data.crop}")
        if not 0.0 <= self.data.stack_fraction <= 1.0:
            raise ConfigError(
                f"data.stack_fraction must be in [0, 1]; got {self.data.stack_fraction}"
            )
        if not 0.0 <= self.data.edge_lines <= 1.0:
            raise ConfigError(f"data.edge_lines must be in [0, 1]; got {self.data.edge_lines}")
        if not 0.0 <= self.data.slanted <= 1.0:
            raise ConfigError(f"data.slanted must be in [0, 1]; got {self.data.slanted}")
        for name in ("dice_weight", "qabf_weight", "edge_weight", "far_weight", "depth_weight"):
            if getattr(self.loss, name) < 0:
                raise ConfigError(f"loss.{name} must be >= 0; got {getattr(self.loss, name)}")
        low, high = self.data.stack_frames
        if not 3 <= low <= high:
            raise ConfigError(
                f"data.stack_frames must be [low, high] with 3 <= low <= high; got {[low, high]}"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_loop(cfg: Any) -> None:
    """The checks every training config shares (loop counts, learning rate, data folders)."""
    for name in ("steps", "batch_size", "threads", "log_every", "checkpoint_every"):
        if int(getattr(cfg, name)) < 1:
            raise ConfigError(f"{name} must be a positive integer; got {getattr(cfg, name)!r}")
    if not cfg.lr > 0:
        raise ConfigError(f"lr must be positive; got {cfg.lr!r}")
    if not cfg.data.folders:
        raise ConfigError("data.folders must list at least one folder of training photos")


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The top-level mapping of a YAML file (ConfigError when it is not one)."""
    try:
        import yaml
    except ImportError as exc:
        raise missing_dependency("pyyaml", "learned") from exc
    raw = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return raw


def _build(cls: type, values: dict[str, Any] | None, where: str) -> Any:
    values = dict(values or {})
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown key(s) in {where}: {', '.join(unknown)}; valid: {sorted(known)}"
        )
    for key, value in list(values.items()):
        if isinstance(value, list) and key in ("windows", "scale_range", "stack_frames"):
            values[key] = tuple(value)
    return cls(**values)


def load_config(path: str | Path) -> TrainConfig:
    """Read a training YAML file into a validated :class:`TrainConfig`.

    Raises
    ------
    ConfigError
        For unknown keys or invalid values (the message names the key).
    """
    raw = read_yaml(path)
    sub = {
        "model": _build(ModelConfig, raw.pop("model", None), "model"),
        "data": _build(DataConfig, raw.pop("data", None), "data"),
        "loss": _build(LossConfig, raw.pop("loss", None), "loss"),
    }
    cfg = _build(TrainConfig, raw, "the top level")
    for key, value in sub.items():
        setattr(cfg, key, value)
    return cfg.validate()
