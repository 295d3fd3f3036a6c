"""Figure for docs/alignment.md: the same crop of a real stack fused without and with alignment.

python scripts/figure_alignment.py   # needs ../shared/data (or $ALLFOCUS_DATA)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import cv2
import numpy as np

from allfocus import io
from allfocus.pipeline import FuseConfig, fuse_files

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "images" / "align_pcb.png"


def main() -> None:
    data = Path(os.environ.get("ALLFOCUS_DATA", ROOT.parent / "shared" / "data"))
    frames = data / "stacks" / "focus-stack-pcb" / "pcb"
    if not frames.is_dir():
        sys.exit(f"skipped: {frames} not found")
    inputs = [str(frames / "pcb_*.jpg")]
    plain = fuse_files(inputs, None, config=FuseConfig(align="none")).result.image
    report = fuse_files(inputs, None, config=FuseConfig(align="auto"))
    aligned = report.result.image
    # The aligned result is cropped to the common area: find its offset in the plain one.
    dy = (plain.shape[0] - aligned.shape[0]) // 2
    dx = (plain.shape[1] - aligned.shape[1]) // 2
    y, x, h, w = 620, 820, 360, 460
    a = plain[y + dy : y + dy + h, x + dx : x + dx + w]
    b = aligned[y : y + h, x : x + w]
    gap = np.ones((h, 8, 3), np.float32)
    panel = np.concatenate([a, gap, b], axis=1)
    img = io.to_dtype(panel, np.uint8)[..., ::-1].copy()
    for text, x0 in (("--align none", 8), (f"--align auto ({report.align_model})", w + 16)):
        cv2.putText(img, text, (x0, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
    cv2.imwrite(str(OUT), img)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
