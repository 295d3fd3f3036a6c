"""Train the GACN decision network: ``python scripts/train_gacn.py --config configs/gacn.yaml``.

Seeded and resumable (``--resume`` continues from the last checkpoint). At the
end it writes the weights (state_dict), a Markdown record of the run and a
loss-curve image, at the paths the config names.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from allfocus.nn.train.config import load_config
from allfocus.nn.train.loop import train
from allfocus.nn.train.report import finish_run, weights_fact

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = load_config(args.config)
    result = train(cfg, root=ROOT, resume=args.resume)
    nan = float("nan")

    data = cfg.data
    stacks = ""
    if data.stack_fraction > 0:
        stacks = (
            f"; a share of {data.stack_fraction} of the steps draws whole stacks of "
            f"{data.stack_frames[0]}-{data.stack_frames[1]} frames instead "
            "(about as many frames per step)"
        )
        if data.slanted > 0:
            stacks += (
                f", {data.slanted} of them one surface slanted through the whole focus range "
                "(half of those posterised)"
            )

    def facts(model, out: Path, last: dict) -> list[str]:
        return [
            f"Steps: {result['steps']} of batch {cfg.batch_size} pairs "
            f"({result['steps'] * cfg.batch_size} pairs), {result['seconds'] / 60:.1f} min"
            f"{stacks}.",
            *([f"Started from `{cfg.init_from}`."] if cfg.init_from else []),
            f"Data: recipe `{cfg.data.recipe}` on crops of {cfg.data.crop} px from "
            f"{', '.join(cfg.data.folders)} (see `allfocus.nn.train.datasets`).",
            f"Final loss (mean of the last {cfg.log_every} steps): "
            f"{last.get('loss', nan):.4f} (Dice {last.get('dice', nan):.4f}, "
            f"soft Q^AB/F {last.get('qabf', nan):.4f}"
            + (f", edge cross-entropy {last['edge']:.4f}" if "edge" in last else "")
            + ").",
            weights_fact(model, out),
            "Input: grey frames in [0, 1], one channel, any number of frames.",
            "Licence: BSD-3-Clause (trained here; training photos: BSD100, Set5, Set14, "
            "Urban100, McMaster, see each folder's SOURCE.txt).",
        ]

    finish_run(
        cfg,
        result,
        root=ROOT,
        arch=cfg.model.kwargs(),
        script="scripts/train_gacn.py",
        config_path=args.config,
        series=[
            ("total loss", lambda h: h["loss"]),
            ("Dice loss (initial map)", lambda h: h["dice"]),
            ("1 - soft Q^AB/F (fused)", lambda h: 1 - h["qabf"]),
            *(
                [("cross-entropy near decision edges", lambda h: h["edge"])]
                if cfg.loss.edge_weight > 0
                else []
            ),
            *(
                [("cross-entropy on the far side of occlusion edges", lambda h: h["far"])]
                if cfg.loss.far_weight > 0
                else []
            ),
            *(
                [("expected distance in frames from the true depth", lambda h: h["depth"])]
                if cfg.loss.depth_weight > 0
                else []
            ),
        ],
        facts=facts,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
