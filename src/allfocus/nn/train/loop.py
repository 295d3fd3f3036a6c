"""Training loops: a generic seeded, resumable, time-limited driver, and GACN's loop."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from allfocus.nn.archs.gacn import GACN
from allfocus.nn.train.config import TrainConfig
from allfocus.nn.train.datasets import PairSampler, load_photos
from allfocus.nn.train.losses import GACNLoss

__all__ = ["fit", "train", "warm_start"]

log = logging.getLogger(__name__)


def _save_checkpoint(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def fit(
    config: Any,
    *,
    parts: dict[str, Any],
    step_fn: Callable[[], dict[str, float]],
    rng: np.random.Generator,
    root: Path,
    resume: bool = False,
    stop_after: int | None = None,
) -> dict:
    """Run ``step_fn`` until ``config.steps``, logging, checkpointing and resuming.

    Parameters
    ----------
    config
        A training config with ``name``, ``steps``, ``log_every``,
        ``checkpoint_every``, ``checkpoint_dir``, ``time_limit_min`` and
        ``to_dict()``.
    parts : dict
        Objects with ``state_dict``/``load_state_dict`` saved in the checkpoint
        under their key (model, optimisers, schedulers); ``None`` values are
        skipped.
    step_fn : callable
        One optimisation step; returns the loss terms to log (floats).
    rng : numpy.random.Generator
        The data generator, saved and restored with the torch RNG.
    root : Path
        Folder ``config.checkpoint_dir`` is relative to. The checkpoint
        ``<checkpoint_dir>/<name>_last.pt`` is written every
        ``checkpoint_every`` steps, at the end and at the time limit.
    resume : bool
        Continue from that checkpoint when it exists.
    stop_after : int, optional
        End this call after that many steps in all (schedules keep
        ``config.steps``).

    Returns
    -------
    dict
        ``history`` (one dict of mean terms per log interval, plus ``step``,
        ``lr`` when an optimiser is in ``parts`` and ``seconds``), ``steps``
        and ``seconds``.
    """
    checkpoint = root / config.checkpoint_dir / f"{config.name}_last.pt"
    step, history, elapsed = 0, [], 0.0
    if resume and checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        for key, part in parts.items():
            if part is not None and state.get(key) is not None:
                part.load_state_dict(state[key])
        rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])
        step, history, elapsed = state["step"], state["history"], state["seconds"]
        log.info("resumed %s at step %d", checkpoint, step)

    def save() -> None:
        state = {key: part.state_dict() for key, part in parts.items() if part is not None}
        state.update(
            numpy_rng=rng.bit_generator.state,
            torch_rng=torch.get_rng_state(),
            step=step,
            history=history,
            seconds=elapsed,
            config=config.to_dict(),
        )
        _save_checkpoint(checkpoint, state)

    optim = parts.get("optim")
    last = config.steps if stop_after is None else min(config.steps, int(stop_after))
    start = time.perf_counter() - elapsed
    window: list[dict[str, float]] = []
    while step < last:
        window.append(step_fn())
        step += 1
        elapsed = time.perf_counter() - start
        if step % config.log_every == 0 or step == last:
            entry: dict[str, float] = {"step": step}
            entry.update({k: float(np.mean([w[k] for w in window])) for k in window[0]})
            if optim is not None:
                entry["lr"] = float(optim.param_groups[0]["lr"])
            entry["seconds"] = elapsed
            history.append(entry)
            window = []
            terms = " ".join(
                f"{k} {v:.4f}" for k, v in entry.items() if k not in ("step", "seconds")
            )
            log.info("step %d %s (%.0f s)", step, terms, elapsed)
        limit = config.time_limit_min * 60
        out_of_time = limit > 0 and elapsed > limit
        if step % config.checkpoint_every == 0 or step == last or out_of_time:
            save()
        if out_of_time:
            log.info("time limit of %.1f min reached at step %d", config.time_limit_min, step)
            break
    return {"history": history, "steps": step, "seconds": elapsed}


def warm_start(model: GACN, source: str) -> GACN:
    """Load the weights ``source`` (registered name or ``.pt`` path) into ``model``.

    Every tensor must have the source's shape, except that ``model`` may use
    more activity windows (a ``.pt`` path has the windows it records, else
    ``model``'s): the
    decision path's first layer gets the source's weights at the windows both
    share (matched by radius) and zero weight at the new ones, so the
    warm-started network computes exactly what the source computes until
    training moves the new weights.
    """
    from allfocus.nn.weights import read_state, split_arch

    raw, spec = read_state(source)
    state, arch = split_arch(raw)
    recorded = spec.arch_kwargs if spec is not None else arch
    old_windows = tuple(recorded["windows"]) if recorded is not None else model.windows
    missing = [w for w in old_windows if w not in model.windows]
    if missing:
        raise ValueError(f"{source}: windows {missing} are not in the new model's {model.windows}")
    own = model.state_dict()
    reduce = state["reduce.weight"]
    per = reduce.shape[1] // len(old_windows)
    widened = torch.zeros_like(own["reduce.weight"])
    for k, radius in enumerate(old_windows):
        j = model.windows.index(radius)
        widened[:, j * per : (j + 1) * per] = reduce[:, k * per : (k + 1) * per]
    state["reduce.weight"] = widened
    mismatched = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    if mismatched:
        raise ValueError(f"{source}: shapes differ for {', '.join(mismatched)}")
    model.load_state_dict(state)
    return model


def train(
    config: TrainConfig, *, root: Path, resume: bool = False, stop_after: int | None = None
) -> dict:
    """Train a GACN model as ``config`` says; return the final state and the loss history.

    Parameters
    ----------
    config : TrainConfig
    root : Path
        Folder the relative paths of ``config`` are resolved against.
    resume : bool
        Continue from ``<checkpoint_dir>/<name>_last.pt`` when it exists.
    stop_after : int, optional
        End this call after that many steps in all.

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
        edge_lines=config.data.edge_lines,
        slanted=config.data.slanted,
    )
    model = GACN(**config.model.kwargs())
    if config.init_from:
        warm_start(model, config.init_from)
    criterion = GACNLoss(
        dice_weight=config.loss.dice_weight,
        qabf_weight=config.loss.qabf_weight,
        edge_weight=config.loss.edge_weight,
        far_weight=config.loss.far_weight,
        depth_weight=config.loss.depth_weight,
        constants=config.loss.constants,
    )
    optim = torch.optim.Adam(model.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.StepLR(optim, config.lr_decay_every, config.lr_decay)

    low, high = config.data.stack_frames

    def step_fn() -> dict[str, float]:
        if config.data.stack_fraction > 0 and rng.random() < config.data.stack_fraction:
            # Whole stacks cost about num / 2 pairs each: keep a step's work even.
            num = int(rng.integers(low, high + 1))
            size = max(2, round(2 * config.batch_size / num))
            frames_np, target_np, near_np = sampler.stack_batch(size, num, rng)
        else:
            frames_np, target_np, near_np = sampler.batch(config.batch_size, rng)
        frames, target = torch.from_numpy(frames_np), torch.from_numpy(target_np)
        out = model(frames)
        terms = criterion(out, frames, target, torch.from_numpy(near_np))
        optim.zero_grad(set_to_none=True)
        terms["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optim.step()
        sched.step()
        return {k: float(v.detach()) for k, v in terms.items()}

    model.train()
    result = fit(
        config,
        parts={"model": model, "optim": optim, "sched": sched},
        step_fn=step_fn,
        rng=rng,
        root=root,
        resume=resume,
        stop_after=stop_after,
    )
    model.eval()
    return {"model": model, **result}


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def dumps(obj: object) -> str:
    return json.dumps(obj, indent=1, sort_keys=True)
