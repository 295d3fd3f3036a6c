"""What a training script leaves behind: weights, a loss-curve image, a Markdown record."""

from __future__ import annotations

import datetime
import logging
import platform
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from allfocus.nn.train.loop import dumps, sha256
from allfocus.nn.weights import ARCH_KEY

log = logging.getLogger(__name__)

__all__ = [
    "finish_run",
    "plot_history",
    "record_text",
    "save_weights",
    "weights_fact",
    "write_record",
]


def save_weights(
    model: nn.Module, path: Path, *, half: bool = False, arch: dict[str, Any] | None = None
) -> str:
    """Write ``model``'s state_dict atomically (float16 when ``half``); return its SHA-256.

    ``arch`` (the model's constructor options, plain values) is stored in the
    file under :data:`allfocus.nn.weights.ARCH_KEY`, so that the file can be
    loaded without knowing them (:func:`allfocus.nn.weights.split_arch`).
    """
    state: dict[str, Any] = dict(model.state_dict())
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    if arch is not None:
        state[ARCH_KEY] = {k: list(v) if isinstance(v, tuple) else v for k, v in arch.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)
    return sha256(path)


def weights_fact(model: nn.Module, path: Path) -> str:
    """``Parameters: N; file B bytes; sha256 `...`.`` for a record."""
    params = sum(p.numel() for p in model.parameters())
    return f"Parameters: {params}; file {path.stat().st_size} bytes; sha256 `{sha256(path)}`."


def plot_history(
    history: list[dict],
    path: Path,
    title: str,
    series: Sequence[tuple[str, Callable[[dict], float]]],
    *,
    log_scale: bool = False,
) -> None:
    """Plot loss curves (one per ``(label, value-of-entry)`` in ``series``) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 3.4), dpi=100)
    for label, value in series:
        ax.plot(steps, [value(h) for h in history], label=label)
    if log_scale:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (mean over log interval)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def write_record(
    path: Path,
    *,
    weights: Path,
    script: str,
    config_path: Path,
    config: object,
    facts: Sequence[str],
) -> None:
    """Write the Markdown record of a run: how, ``facts`` (one bullet each), the config."""
    path.write_text(
        record_text(
            weights=weights, script=script, config_path=config_path, config=config, facts=facts
        )
    )


def record_text(
    *,
    weights: Path,
    script: str,
    config_path: Path,
    config: object,
    facts: Sequence[str],
) -> str:
    """The Markdown record of a run: how, then ``facts`` (one bullet each), then the config."""
    threads = getattr(config, "threads", 1)
    lines = [
        f"# {weights.name}",
        "",
        f"- Trained: {datetime.date.today().isoformat()} with `python {script} "
        f"--config {config_path.as_posix()}` (torch {torch.__version__}, "
        f"{platform.machine()}, {threads} CPU threads, Python {sys.version.split()[0]}).",
        *[f"- {fact}" for fact in facts],
        "",
        "## Config",
        "",
        "```json",
        dumps(config.to_dict()),  # type: ignore[attr-defined]
        "```",
        "",
    ]
    return "\n".join(lines)


def finish_run(
    config: Any,
    result: dict,
    *,
    root: Path,
    script: str,
    config_path: Path,
    series: Sequence[tuple[str, Callable[[dict], float]]],
    facts: Callable[[nn.Module, Path, dict], list[str]],
    half: bool = False,
    log_scale: bool = False,
    arch: dict[str, Any] | None = None,
) -> None:
    """After training: weights at ``config.output``, the loss plot, the Markdown record.

    Each is written only when the config names its path (the record also needs
    the weights). ``facts(model, weights_path, last_history_entry)`` gives the
    record's bullets after the "Trained" line. ``arch`` goes into the weight
    file (see :func:`save_weights`).
    """
    model, history = result["model"], result["history"]
    out = root / config.output if config.output else None
    if out is not None:
        digest = save_weights(model, out, half=half, arch=arch)
        log.info("weights: %s (%d bytes, sha256 %s)", out, out.stat().st_size, digest)
    if config.loss_plot:
        title = f"{config.name}: {result['steps']} steps"
        plot_history(history, root / config.loss_plot, title, series, log_scale=log_scale)
    if config.record and out is not None:
        last = history[-1] if history else {}
        write_record(
            root / config.record,
            weights=out,
            script=script,
            config_path=config_path,
            config=config,
            facts=facts(model, out, last),
        )
