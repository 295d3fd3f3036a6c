"""Train the GACN decision network: ``python scripts/train_gacn.py --config configs/gacn.yaml``.

Seeded and resumable (``--resume`` continues from the last checkpoint). At the
end it writes the weights (state_dict), a Markdown record of the run and a
loss-curve image, at the paths the config names.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import platform
import sys
from pathlib import Path

import torch

from allfocus.nn.train.config import load_config
from allfocus.nn.train.loop import dumps, sha256, train

ROOT = Path(__file__).resolve().parents[1]


def _plot(history: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 3.4), dpi=100)
    ax.plot(steps, [h["loss"] for h in history], label="total loss")
    ax.plot(steps, [h["dice"] for h in history], label="Dice loss (initial map)")
    ax.plot(steps, [1 - h["qabf"] for h in history], label="1 - soft Q^AB/F (fused)")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (mean over log interval)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = load_config(args.config)
    result = train(cfg, root=ROOT, resume=args.resume)
    model, history = result["model"], result["history"]
    if cfg.output:
        out = ROOT / cfg.output
        out.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), out)
        logging.info("weights: %s (%d bytes, sha256 %s)", out, out.stat().st_size, sha256(out))
    if cfg.loss_plot:
        _plot(history, ROOT / cfg.loss_plot, f"{cfg.name}: {result['steps']} steps")
    if cfg.record and cfg.output:
        out = ROOT / cfg.output
        last = history[-1] if history else {}
        nan = float("nan")
        params = sum(p.numel() for p in model.parameters())
        lines = [
            f"# {out.name}",
            "",
            f"- Trained: {datetime.date.today().isoformat()} with `python scripts/train_gacn.py "
            f"--config {args.config.as_posix()}` (torch {torch.__version__}, "
            f"{platform.machine()}, {cfg.threads} CPU threads, Python {sys.version.split()[0]}).",
            f"- Steps: {result['steps']} of batch {cfg.batch_size} pairs "
            f"({result['steps'] * cfg.batch_size} pairs), {result['seconds'] / 60:.1f} min.",
            f"- Data: recipe `{cfg.data.recipe}` on crops of {cfg.data.crop} px from "
            f"{', '.join(cfg.data.folders)} (see `allfocus.nn.train.datasets`).",
            f"- Final loss (mean of the last {cfg.log_every} steps): "
            f"{last.get('loss', nan):.4f} (Dice {last.get('dice', nan):.4f}, "
            f"soft Q^AB/F {last.get('qabf', nan):.4f}).",
            f"- Parameters: {params}; file {out.stat().st_size} bytes; sha256 `{sha256(out)}`.",
            "- Input: grey frames in [0, 1], one channel, any number of frames.",
            "- Licence: BSD-3-Clause (trained here; training photos: BSD100, Set5, Set14, "
            "Urban100, McMaster, see each folder's SOURCE.txt).",
            "",
            "## Config",
            "",
            "```json",
            dumps(cfg.to_dict()),
            "```",
            "",
        ]
        (ROOT / cfg.record).write_text("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
