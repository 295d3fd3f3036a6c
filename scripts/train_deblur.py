"""Train the deblurring network: ``python scripts/train_deblur.py --config configs/deblur.yaml``.

Seeded and resumable (``--resume`` continues from the last checkpoint). At the
end it writes the weights (state_dict; float16 with ``--half``), a loss-curve
image and, when the config names one, a Markdown record of the run.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from allfocus.nn.train.deblur import load_deblur_config, train_deblur
from allfocus.nn.train.report import finish_run, weights_fact

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    parser.add_argument("--half", action="store_true", help="store the weights as float16")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = load_deblur_config(args.config)
    result = train_deblur(cfg, root=ROOT, resume=args.resume)
    nan = float("nan")

    def facts(model, out: Path, last: dict) -> list[str]:
        return [
            f"Steps: {result['steps']} of batch {cfg.batch_size} crops of {cfg.data.crop} px, "
            f"{result['seconds'] / 60:.1f} min"
            + (f", starting from `{cfg.init}`." if cfg.init else "."),
            f"Final loss (mean of the last {cfg.log_every} steps): L1 {last.get('l1', nan):.4f}, "
            f"frequency {last.get('fft', nan):.4f}"
            + (f", adversarial {last.get('adv', nan):.3f}." if cfg.adversarial else "."),
            weights_fact(model, out),
            f"Data: {', '.join(cfg.data.folders)} (see `allfocus.nn.train.deblur_data`).",
        ]

    finish_run(
        cfg,
        result,
        root=ROOT,
        script="scripts/train_deblur.py",
        config_path=args.config,
        series=[("L1", lambda h: h["l1"]), ("frequency L1", lambda h: h["fft"])],
        facts=facts,
        half=args.half,
        log_scale=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
