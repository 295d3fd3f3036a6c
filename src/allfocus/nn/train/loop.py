"""The training loop: seeded, resumable from checkpoints, logging the loss."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from allfocus.nn.archs.gacn import GACN
from allfocus.nn.train.config import TrainConfig
from allfocus.nn.train.datasets import PairSampler, load_photos
from allfocus.nn.train.losses import GACNLoss

__all__ = ["train"]

log = logging.getLogger(__name__)


def _save_checkpoint(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def train(config: TrainConfig, *, root: Path, resume: bool = False) -> dict:
    """Train a GACN model as ``config`` says; return the final state and the loss history.

    Parameters
    ----------
    config : TrainConfig
    root : Path
        Folder the relative paths of ``config`` are resolved against.
    resume : bool
        Continue from ``<checkpoint_dir>/<name>_last.pt`` when it exists.

    Returns
    -------
    dict
        ``model`` (the trained module, eval mode), ``history`` (list of
        ``{"step", "loss", "dice", "qabf", "lr", "seconds"}``), ``steps``, ``seconds``.
    """
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    photos = load_photos([root / f for f in config.data.folders], min_side=config.data.crop)
    sampler = PairSampler(
        photos,
        recipe=config.data.recipe,
        crop=config.data.crop,
        scale_range=config.data.scale_range,
    )
    model = GACN(**config.model.kwargs())
    criterion = GACNLoss(
        dice_weight=config.loss.dice_weight,
        qabf_weight=config.loss.qabf_weight,
        constants=config.loss.constants,
    )
    optim = torch.optim.Adam(model.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.StepLR(optim, config.lr_decay_every, config.lr_decay)
    ckpt = root / config.checkpoint_dir / f"{config.name}_last.pt"
    step, history, elapsed = 0, [], 0.0
    if resume and ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        optim.load_state_dict(state["optim"])
        sched.load_state_dict(state["sched"])
        rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])
        step, history, elapsed = state["step"], state["history"], state["seconds"]
        log.info("resumed %s at step %d", ckpt, step)

    def checkpoint() -> None:
        _save_checkpoint(
            ckpt,
            {
                "model": model.state_dict(),
                "optim": optim.state_dict(),
                "sched": sched.state_dict(),
                "numpy_rng": rng.bit_generator.state,
                "torch_rng": torch.get_rng_state(),
                "step": step,
                "history": history,
                "seconds": elapsed,
                "config": config.to_dict(),
            },
        )

    model.train()
    start = time.perf_counter() - elapsed
    window: list[list[float]] = []
    while step < config.steps:
        frames_np, target_np = sampler.batch(config.batch_size, rng)
        frames, target = torch.from_numpy(frames_np), torch.from_numpy(target_np)
        out = model(frames)
        terms = criterion(out, frames, target)
        optim.zero_grad(set_to_none=True)
        terms["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optim.step()
        sched.step()
        step += 1
        window.append([float(terms[k].detach()) for k in ("loss", "dice", "qabf")])
        elapsed = time.perf_counter() - start
        if step % config.log_every == 0 or step == config.steps:
            mean = np.mean(window, axis=0)
            window = []
            history.append(
                {
                    "step": step,
                    "loss": float(mean[0]),
                    "dice": float(mean[1]),
                    "qabf": float(mean[2]),
                    "lr": float(sched.get_last_lr()[0]),
                    "seconds": elapsed,
                }
            )
            log.info("step %d loss %.4f dice %.4f qabf %.4f (%.0f s)", step, *mean, elapsed)
        limit = config.time_limit_min * 60
        out_of_time = limit > 0 and elapsed > limit
        if step % config.checkpoint_every == 0 or step == config.steps or out_of_time:
            checkpoint()
        if out_of_time:
            log.info("time limit of %.1f min reached at step %d", config.time_limit_min, step)
            break
    model.eval()
    return {"model": model, "history": history, "steps": step, "seconds": elapsed}


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def dumps(obj: object) -> str:
    return json.dumps(obj, indent=1, sort_keys=True)
