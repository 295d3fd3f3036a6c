"""Training of the deblurring network: YAML config, seeded, resumable, optional PatchGAN.

Loss: L1 + ``fft_weight`` x L1 of the 2-D spectra (real and imaginary parts,
as in MIMO-UNet's frequency loss: it rewards the high frequencies that plain
L1 leaves soft). With ``adversarial: true`` a PatchGAN critic is trained
alongside and the generator gets ``adv_weight`` x its hinge loss as well (the
first seed report's proposal); ``init`` starts from earlier weights, so the
adversarial term can be measured as a fine-tuning stage against the same
stage without it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from allfocus._core.errors import ConfigError
from allfocus.nn.archs.deblur import DeblurNet, PatchDiscriminator
from allfocus.nn.train.config import _build, check_loop, read_yaml
from allfocus.nn.train.deblur_data import DeblurSampler, load_color_photos
from allfocus.nn.train.loop import fit

__all__ = ["DeblurConfig", "frequency_l1", "load_deblur_config", "train_deblur"]


@dataclass
class DeblurModelConfig:
    width: int = 24
    enc_blocks: tuple[int, ...] = (1, 1, 2)
    middle_blocks: int = 2
    dec_blocks: tuple[int, ...] = (1, 1, 1)

    def kwargs(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass
class DeblurDataConfig:
    folders: list[str] = field(default_factory=list)
    crop: int = 128
    max_radius: float = 6.0
    noise: tuple[float, float] = (0.0, 0.01)
    jpeg: float = 0.3
    texture: float = 0.15
    scale_range: tuple[float, float] = (0.5, 1.0)


@dataclass
class DeblurConfig:
    """One deblurring training run; paths are relative to the repository root."""

    name: str = "deblur"
    seed: int = 0
    steps: int = 5000
    batch_size: int = 8
    lr: float = 1e-3
    lr_min: float = 1e-5
    grad_clip: float = 0.5
    threads: int = 2
    time_limit_min: float = 0.0
    log_every: int = 25
    checkpoint_every: int = 100
    checkpoint_dir: str = "benchmarks/_work/deblur_ckpt"
    init: str = ""
    output: str = ""
    record: str = ""
    loss_plot: str = ""
    fft_weight: float = 0.05
    adversarial: bool = False
    adv_weight: float = 0.005
    model: DeblurModelConfig = field(default_factory=DeblurModelConfig)
    data: DeblurDataConfig = field(default_factory=DeblurDataConfig)

    def validate(self) -> DeblurConfig:
        check_loop(self)
        if self.data.crop < 32 or self.data.crop % 8:
            raise ConfigError(f"data.crop must be a multiple of 8, >= 32; got {self.data.crop}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_deblur_config(path: str | Path) -> DeblurConfig:
    """Read a deblurring training YAML into a validated :class:`DeblurConfig`.

    Raises
    ------
    ConfigError
        For unknown keys or invalid values (the message names the key).
    """
    raw = read_yaml(path)
    model = raw.pop("model", None) or {}
    data = raw.pop("data", None) or {}
    for key in ("enc_blocks", "dec_blocks"):
        if key in model:
            model[key] = tuple(model[key])
    if "noise" in data:
        data["noise"] = tuple(data["noise"])
    cfg = _build(DeblurConfig, raw, "the top level")
    cfg.model = _build(DeblurModelConfig, model, "model")
    cfg.data = _build(DeblurDataConfig, data, "data")
    return cfg.validate()


class _StepSchedule(torch.optim.lr_scheduler.LambdaLR):
    """LambdaLR whose checkpoint holds the step only (also read from other schedulers')."""

    def load_state_dict(self, state_dict: dict) -> None:
        keep = ("last_epoch", "_step_count", "base_lrs", "_last_lr")
        state = {k: state_dict[k] for k in keep if k in state_dict}
        state["lr_lambdas"] = [None] * len(self.lr_lambdas)
        super().load_state_dict(state)


def frequency_l1(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of the real 2-D FFTs (real and imaginary parts)."""
    diff = torch.fft.rfft2(out, norm="ortho") - torch.fft.rfft2(target, norm="ortho")
    return diff.real.abs().mean() + diff.imag.abs().mean()


def train_deblur(
    config: DeblurConfig, *, root: Path, resume: bool = False, stop_after: int | None = None
) -> dict:
    """Train :class:`~allfocus.nn.archs.deblur.DeblurNet` as ``config`` says.

    ``resume`` continues from ``<checkpoint_dir>/<name>_last.pt``;
    ``stop_after`` ends this call (with a checkpoint) after that many steps in
    all, keeping the learning-rate schedule of the full ``config.steps``.

    Returns
    -------
    dict
        ``model`` (eval mode), ``history`` (``{"step", "loss", "l1", "fft",
        "adv", "lr", "seconds"}`` per log interval), ``steps``, ``seconds``.
    """
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    d = config.data
    photos = load_color_photos([root / f for f in d.folders], min_side=d.crop)
    sampler = DeblurSampler(
        photos,
        crop=d.crop,
        max_radius=d.max_radius,
        noise=d.noise,
        jpeg=d.jpeg,
        texture=d.texture,
        scale_range=d.scale_range,
    )
    model = DeblurNet(**config.model.kwargs())
    if config.init:
        model.load_state_dict(torch.load(root / config.init, map_location="cpu", weights_only=True))
    critic = PatchDiscriminator() if config.adversarial else None
    optim = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=(0.9, 0.9), weight_decay=0)
    # Cosine decay from lr to lr_min over config.steps, as a function of the step
    # only (nothing but the step is checkpointed), so a resumed run may change steps.
    floor = config.lr_min / config.lr

    def lr_factor(step: int) -> float:
        done = min(step, config.steps) / config.steps
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * done))

    sched = _StepSchedule(optim, lr_factor)
    optim_d = torch.optim.Adam(critic.parameters(), lr=2e-4, betas=(0.5, 0.9)) if critic else None

    def step_fn() -> dict[str, float]:
        blurred_np, sharp_np = sampler.batch(config.batch_size, rng)
        blurred, sharp = torch.from_numpy(blurred_np), torch.from_numpy(sharp_np)
        out = model(blurred)
        l1 = (out - sharp).abs().mean()
        fft = frequency_l1(out, sharp)
        loss = l1 + config.fft_weight * fft
        adv = torch.zeros(())
        if critic is not None:
            adv = -critic(out).mean()
            loss = loss + config.adv_weight * adv
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optim.step()
        sched.step()
        if critic is not None:
            d_loss = F.relu(1 - critic(sharp)).mean() + F.relu(1 + critic(out.detach())).mean()
            optim_d.zero_grad(set_to_none=True)
            d_loss.backward()
            optim_d.step()
        terms = {"loss": loss, "l1": l1, "fft": fft, "adv": adv}
        return {k: float(v.detach()) for k, v in terms.items()}

    model.train()
    result = fit(
        config,
        parts={
            "model": model,
            "optim": optim,
            "sched": sched,
            "critic": critic,
            "optim_d": optim_d,
        },
        step_fn=step_fn,
        rng=rng,
        root=root,
        resume=resume,
        stop_after=stop_after,
    )
    model.eval()
    return {"model": model, **result}
