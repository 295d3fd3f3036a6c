"""Q^AB/F on the Lytro pairs under allfocus.metrics and under the MATLAB code's border.

Published Q^AB/F figures come from different code, and the border is the
choice that moves them most (docs/metrics.md): the MATLAB code most papers
score with filters with zero padding (``conv2`` or ``filter2`` with
``'same'``), so the outline of every image counts as an edge that every
fusion preserves; ``allfocus.metrics.qabf`` replicates the border by default.
This script scores the same fused images both ways, so that a figure
published with that code can be set beside ours:

* ``allfocus.metrics``: ``qabf(fused, sources, channel_axis=-1)``, colour
  reduced to float Rec. 601 luma, border replicated (the figure every other
  table of benchmarks.md reports);
* ``zero border``: the same with ``border="zero"``;
* ``zero border, 8-bit grey``: ``border="zero"`` on 8-bit grey images
  (OpenCV's rounded RGB-to-grey), as MATLAB's ``rgb2gray`` on the uint8 files
  feeds ``metricXydeas.m`` in the evaluation code of Liu et al.'s survey of
  multi-focus fusion (Information Fusion 2020, github.com/yuliu316316/MFIF).

Fused images: those MFIFB publishes for CNN, GFF and IFCNN
(``../shared/data/benchmarks/mfifb-results``), and allfocus ``gacn`` and
``depthmap`` with their defaults, rounded to 8 bits as a written PNG is.
Sources: MFIFB's copies of the 20 Lytro pairs. Skips cleanly without
``../shared/data``.

    python benchmarks/qabf_codes.py [--no-write]

About a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
from _common import data_dir, machine_line, markdown_table, write_section
from PIL import Image

from allfocus.fusion import fuse
from allfocus.metrics import qabf

PUBLISHED_METHODS = ("CNN", "GFF", "IFCNN")
ALLFOCUS_METHODS = ("gacn", "depthmap")
#: Q^AB/F that MFIFB publishes for its Lytro results (tests/metrics/test_published.py).
MFIFB_PUBLISHED = {"CNN": 0.741, "GFF": 0.740, "IFCNN": 0.712}
#: The third-party Lytro table in the LightMFF repository (REFERENCES.md): its CNN
#: row, and GACN's, whose fused images are not in ../shared/data.
TABLE_PUBLISHED = {"CNN": 0.7019, "GACN": 0.7581}


def _read(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def scores(fused: np.ndarray, sources: list[np.ndarray]) -> tuple[float, float, float]:
    """Q^AB/F of one 8-bit RGB fused image: default, zero border, zero border on 8-bit grey."""
    grey = [cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) for img in (fused, *sources)]
    return (
        qabf(fused, sources, channel_axis=-1),
        qabf(fused, sources, channel_axis=-1, border="zero"),
        qabf(grey[0], grey[1:], border="zero"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-write", action="store_true", help="print, do not write the doc")
    args = parser.parse_args()
    data = data_dir()
    bench = data / "benchmarks" if data else None
    if bench is None or not (bench / "mfifb").is_dir() or not (bench / "mfifb-results").is_dir():
        print("../shared/data/benchmarks/mfifb (and mfifb-results) absent: skipping")
        return
    scenes = sorted(p.name for p in (bench / "mfifb").glob("lytro_*") if p.is_dir())
    start = time.perf_counter()
    results: dict[str, list[tuple[float, float, float]]] = {}
    for scene in scenes:
        sources = [_read(bench / "mfifb" / scene / f"{scene}_{side}.jpg") for side in "AB"]
        fused = {m: _read(bench / "mfifb-results" / f"{scene}_{m}.jpg") for m in PUBLISHED_METHODS}
        stack = np.stack(sources).astype(np.float32) / 255.0
        for method in ALLFOCUS_METHODS:
            image = fuse(stack, method=method, channel_axis=-1).image
            fused[f"allfocus {method}"] = np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)
        for name, image in fused.items():
            results.setdefault(name, []).append(scores(image, sources))
        print(scene, " ".join(f"{n} {v[-1][0]:.4f}/{v[-1][2]:.4f}" for n, v in results.items()))
    rows = []
    for name, values in results.items():
        mean = np.mean(values, axis=0)
        published = MFIFB_PUBLISHED.get(name)
        quoted = TABLE_PUBLISHED.get(name)
        rows.append(
            [
                name,
                f"{mean[0]:.4f}",
                f"{mean[1]:.4f}",
                f"{mean[2]:.4f}",
                f"{published:.3f}" if published else "",
                f"{quoted:.4f}" if quoted else "",
            ]
        )
    rows.append(
        ["GACN (its fused images are not here)", "", "", "", "", f"{TABLE_PUBLISHED['GACN']:.4f}"]
    )
    table = markdown_table(
        [
            "fused images",
            "allfocus.metrics",
            "zero border",
            "zero border, 8-bit grey (the MATLAB code)",
            "MFIFB published",
            "LightMFF table",
        ],
        rows,
    )
    gacn = np.mean(results["allfocus gacn"], axis=0)
    cnn = np.mean(results["CNN"], axis=0)
    body = "\n\n".join(
        [
            f"Command: `python benchmarks/qabf_codes.py` on {machine_line()}; "
            f"{time.perf_counter() - start:.0f} s. Means over the {len(scenes)} Lytro pairs "
            "(MFIFB's copies). Each column scores the same 8-bit fused images; see the "
            "script's docstring for the three codes.",
            table,
            "How to read it: zero padding counts the frame outline as an edge every fusion "
            f"keeps, which adds {gacn[2] - gacn[0]:+.4f} to allfocus `gacn` and "
            f"{cnn[2] - cnn[0]:+.4f} to CNN over allfocus.metrics. MFIFB's published figures "
            "match allfocus.metrics (docs/metrics.md). The LightMFF table's CNN row "
            f"({TABLE_PUBLISHED['CNN']}) matches none of these codes on MFIFB's CNN images "
            f"({cnn[0]:.4f} / {cnn[2]:.4f}), so that table's GACN figure cannot be placed on "
            "either scale; read it as coming from yet another code.",
        ]
    )
    print(body)
    if not args.no_write:
        write_section("qabf-codes", "Q^AB/F of the Lytro pairs under two borders", body)


if __name__ == "__main__":
    main()
