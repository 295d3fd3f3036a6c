"""Acceptance test: allfocus metrics against published MFIFB numbers on the Lytro set.

Provenance of the expected values: mean Q^AB/F and Hossny NMI (luma, 256 bins,
summed over the two sources) of the fused images that the MFIFB benchmark
(X. Zhang, "Multi-focus Image Fusion: A Benchmark", arXiv:2005.01116;
github.com/xingchenzhang/MFIFB, commit a3cc510) publishes for CNN (Liu et al.
2017), GFF (Li et al. 2013) and IFCNN (Zhang et al. 2020) on its 20 Lytro pairs
(``lytro_01`` .. ``lytro_20``, the pairs of Nejati et al. 2015), as given to
this project with the data in ``../shared/data/benchmarks``. Tolerance 0.01, the
spread between implementations in the literature.

The data live beside the repository (``../shared/data``) or where the
``ALLFOCUS_DATA`` environment variable points; without them the test is skipped.
Run this file as a script to print the full table of docs/metrics.md::

    .venv/bin/python tests/metrics/test_published.py
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from allfocus.metrics import evaluate, nmi, qabf

METHODS = ("CNN", "GFF", "IFCNN")
PUBLISHED = {
    "qabf": {"CNN": 0.741, "GFF": 0.740, "IFCNN": 0.712},
    "nmi": {"CNN": 1.110, "GFF": 1.066, "IFCNN": 0.927},
}
TOLERANCE = 0.01


def data_root() -> Path:
    """``$ALLFOCUS_DATA`` or ``../shared/data`` beside the repository."""
    env = os.environ.get("ALLFOCUS_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def lytro_scenes(root: Path) -> list[str]:
    """Names of the MFIFB Lytro pairs (folders ``lytro_NN`` in ``mfifb``)."""
    return sorted(p.name for p in (root / "benchmarks" / "mfifb").glob("lytro_*") if p.is_dir())


def _read(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def load_case(root: Path, scene: str, method: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """Fused image and its two sources, RGB uint8 arrays."""
    bench = root / "benchmarks"
    sources = [_read(bench / "mfifb" / scene / f"{scene}_{side}.jpg") for side in "AB"]
    return _read(bench / "mfifb-results" / f"{scene}_{method}.jpg"), sources


def _available() -> bool:
    root = data_root()
    return (root / "benchmarks" / "mfifb").is_dir() and (
        root / "benchmarks" / "mfifb-results"
    ).is_dir()


@pytest.fixture(scope="module")
def lytro_means() -> dict[str, dict[str, float]]:
    if not _available():
        pytest.skip(f"benchmark data not found under {data_root()} (set ALLFOCUS_DATA)")
    root = data_root()
    scenes = lytro_scenes(root)
    assert len(scenes) == 20, scenes
    means: dict[str, dict[str, float]] = {"qabf": {}, "nmi": {}, "qabf_zero": {}}
    for method in METHODS:
        values = {"qabf": [], "nmi": [], "qabf_zero": []}
        for scene in scenes:
            fused, sources = load_case(root, scene, method)
            values["qabf"].append(qabf(fused, sources, channel_axis=-1))
            values["nmi"].append(nmi(fused, sources, channel_axis=-1))
            values["qabf_zero"].append(qabf(fused, sources, channel_axis=-1, border="zero"))
        for name, vals in values.items():
            means[name][method] = float(np.mean(vals))
    return means


@pytest.mark.data
@pytest.mark.parametrize("metric", ["qabf", "nmi"])
@pytest.mark.parametrize("method", METHODS)
def test_lytro_mean_matches_published(lytro_means, metric, method):
    measured = lytro_means[metric][method]
    expected = PUBLISHED[metric][method]
    assert abs(measured - expected) <= TOLERANCE, (
        f"{metric} of {method} on Lytro: measured {measured:.4f}, published {expected:.3f}"
    )


@pytest.mark.data
def test_lytro_ranking_matches_published(lytro_means):
    # The published tables rank CNN > GFF > IFCNN on both metrics.
    for metric in ("qabf", "nmi"):
        m = lytro_means[metric]
        assert m["CNN"] > m["GFF"] > m["IFCNN"], (metric, m)


@pytest.mark.data
@pytest.mark.parametrize("method", METHODS)
def test_replicated_border_is_the_published_one(lytro_means, method):
    """MFIFB's figures come from code that adds no edge at the frame outline: zero
    padding (the plain MATLAB code) lands about 0.01 above them, the default on them."""
    default = lytro_means["qabf"][method]
    zero = lytro_means["qabf_zero"][method]
    expected = PUBLISHED["qabf"][method]
    assert 0.005 < zero - default < 0.015, (method, default, zero)
    assert abs(default - expected) < abs(zero - expected), (method, default, zero, expected)


def _print_table() -> None:  # pragma: no cover - documentation helper
    root = data_root()
    scenes = lytro_scenes(root)
    keys = ("qabf", "nmi", "qy", "qcb", "sf", "ag")
    print(f"data: {root}  ({len(scenes)} Lytro pairs)")
    print("| method | " + " | ".join(keys) + " | published Q^AB/F | published NMI |")
    print("|---" * (len(keys) + 3) + "|")
    for method in METHODS:
        rows = []
        for scene in scenes:
            fused, sources = load_case(root, scene, method)
            rows.append(list(evaluate(fused, sources, channel_axis=-1).values()))
        means = np.mean(rows, axis=0)
        cells = " | ".join(f"{v:.4f}" for v in means)
        print(
            f"| {method} | {cells} | {PUBLISHED['qabf'][method]:.3f} | "
            f"{PUBLISHED['nmi'][method]:.3f} |"
        )


if __name__ == "__main__":  # pragma: no cover
    _print_table()
