"""What a higher Q^AB/F buys: the metric's best blend of two sources, against the truth.

For a pair of frames A and B this script searches for the blend
``F = m A + (1 - m) B`` with the highest Q^AB/F (``allfocus.metrics.qabf``):
gradient ascent on its differentiable form (``allfocus.nn.train.losses.soft_qabf``,
the metric's constants), started from gacn's image, with the mask ``m`` free
pixel by pixel or smooth (bilinear between the nodes of a 4 px grid). What is
found is a lower bound on the metric's ceiling for blends. It is scored next to
depthmap and gacn, and next to the truth where there is one:

* ideal pairs (scikit-image's colour sample photos, 256 x 256 crops): each
  region of a random mask sharp in exactly one frame and blurred (Gaussian,
  sigma 2 px) in the other, no defocus spread, no noise, so the right decision
  map gives the truth exactly;
* bench_gacn's two-frame synthetic scenes (seeds 100 and up, 256 x 256), with
  their truth;
* the 20 Lytro pairs (no truth), when ``../shared/data`` is present.

The "hard" column takes, at each pixel, the frame the blend leans to: the same
decisions without the mixing.

    python benchmarks/qabf_ceiling.py [--quick] [--no-write]

Needs torch (the ``learned`` extra). About 25 minutes on 2 cores; ``--quick``
scores 3 items a set.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
from _common import ROOT, data_dir, machine_line, markdown_table, write_section
from bench_gacn import lytro_pairs

from allfocus.fusion import fuse
from allfocus.metrics import psnr, qabf
from allfocus.nn.train.datasets import random_mask
from allfocus.synth import synthetic_stack

#: Rec. 601 luma, as the metric reduces colour.
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
METHODS = ("depthmap", "gacn")
#: Mask cells of the blends: 1 is free per pixel, 4 a 4 px grid.
CELLS = (1, 4)
FIGURE = ROOT / "docs" / "images" / "qabf_ceiling.png"


def start_mask(pair: np.ndarray, fused: np.ndarray) -> np.ndarray:
    """The share of frame A in ``fused``'s luma, pixel by pixel (0.5 where A and B agree)."""
    a, b, f = pair[0] @ _LUMA, pair[1] @ _LUMA, fused @ _LUMA
    diff = a - b
    same = np.abs(diff) < 1e-3
    return np.where(same, 0.5, np.clip((f - b) / np.where(same, 1.0, diff), 0.0, 1.0))


def best_blend(
    pair: np.ndarray, start: np.ndarray, *, cell: int = 1, steps: int = 150, lr: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """The blend of ``pair`` (2, M, N, 3) in [0, 1] with the highest Q^AB/F found from ``start``.

    Returns the blended image and its mask (the share of frame A), each (M, N[, 3]).
    """
    import torch
    import torch.nn.functional as F

    from allfocus.nn.train.losses import soft_qabf

    h, w = pair.shape[1:3]
    a, b = (torch.from_numpy(np.ascontiguousarray(f @ _LUMA)).double()[None, None] for f in pair)
    sources = torch.cat([a, b], 1)
    init = start.astype(np.float32)
    if cell > 1:
        init = cv2.resize(init, (w // cell, h // cell), interpolation=cv2.INTER_AREA)
    init = np.clip(init, 0.01, 0.99)
    logit = torch.from_numpy(np.log(init / (1.0 - init))).double()[None, None]
    logit.requires_grad_(True)

    def mask() -> torch.Tensor:
        up = logit if cell == 1 else F.interpolate(logit, (h, w), mode="bilinear")
        return torch.sigmoid(up)

    opt = torch.optim.Adam([logit], lr=lr)
    for _ in range(steps):
        m = mask()
        loss = -soft_qabf(m * a + (1.0 - m) * b, sources, sharpness=1e4)[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
    m = mask().detach().numpy()[0, 0].astype(np.float32)
    return m[..., None] * pair[0] + (1.0 - m[..., None]) * pair[1], m


def ideal_pair(photo: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Frames (2, 256, 256, 3) and truth: each region sharp in one frame, blurred in the other."""
    y = int(rng.integers(0, photo.shape[0] - 256 + 1))
    x = int(rng.integers(0, photo.shape[1] - 256 + 1))
    truth = np.ascontiguousarray(photo[y : y + 256, x : x + 256])
    mask = random_mask(256, rng)[..., None]
    blur = cv2.GaussianBlur(truth, (0, 0), 2.0, borderType=cv2.BORDER_REFLECT)
    pair = np.stack([mask * truth + (1 - mask) * blur, (1 - mask) * truth + mask * blur])
    return pair.astype(np.float32), truth


def score_set(items, steps: int) -> dict[str, tuple[list[float], list[float], list[float]]]:
    """Per row: Q^AB/F, Q^AB/F of the hard decisions (blends only) and PSNR (with a truth)."""
    rows: dict[str, tuple[list[float], list[float], list[float]]] = {}

    def add(name: str, image: np.ndarray, pair, truth, hard: np.ndarray | None = None) -> None:
        q, qh, p = rows.setdefault(name, ([], [], []))
        q.append(qabf(image, list(pair), channel_axis=-1))
        if hard is not None:
            qh.append(qabf(hard, list(pair), channel_axis=-1))
        if truth is not None:
            p.append(psnr(np.clip(image, 0, 1), truth, channel_axis=-1))

    for pair, truth in items:
        if truth is not None:
            add("truth", truth, pair, None)
        fused = {m: fuse(pair, method=m, channel_axis=-1).image for m in METHODS}
        for method in METHODS:
            add(method, fused[method], pair, truth)
        start = start_mask(pair, fused["gacn"])
        for cell in CELLS:
            blend, m = best_blend(pair, start, cell=cell, steps=steps)
            hard = np.where(m[..., None] >= 0.5, pair[0], pair[1])
            add(BLEND_ROWS[cell], blend, pair, truth, hard)
    return rows


BLEND_ROWS = {
    1: "highest-Q^AB/F blend, mask free per pixel",
    4: "highest-Q^AB/F blend, mask smooth over 4 px",
}


def table(rows, with_truth: bool) -> str:
    headers = ["fused image", "Q^AB/F", "Q^AB/F, hard decisions"]
    if with_truth:
        headers.append("PSNR against the truth (dB)")
    body = []
    for name, (q, qh, p) in rows.items():
        row = [name, f"{np.mean(q):.4f}", f"{np.mean(qh):.4f}" if qh else ""]
        if with_truth:
            row.append(f"{np.mean(p):.2f}" if p else "(itself)")
        body.append(row)
    return markdown_table(headers, body)


def sample_photos() -> list[np.ndarray]:
    from skimage import data

    names = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "retina")
    return [getattr(data, n)()[..., :3].astype(np.float32) / 255.0 for n in names]


def figure(pair: np.ndarray, truth: np.ndarray, steps: int, path) -> None:
    """Truth, gacn, the smooth highest-Q^AB/F blend and its mask: a 100 px crop at 2x."""
    fused = fuse(pair, method="gacn", channel_axis=-1).image
    blend, mask = best_blend(pair, start_mask(pair, fused), cell=4, steps=steps)
    crop = (slice(120, 220), slice(0, 100))
    row = np.concatenate(
        [truth[crop], fused[crop], blend[crop], np.repeat(mask[crop][..., None], 3, -1)], 1
    )
    row = cv2.resize(np.clip(row, 0, 1), None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(str(path), np.round(row[..., ::-1] * 255).astype(np.uint8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 items a set")
    parser.add_argument("--steps", type=int, default=150, help="ascent steps a blend (150)")
    parser.add_argument("--no-write", action="store_true", help="print, do not write the doc")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        print("torch is not installed (pip install 'allfocus[learned]'); skipping")
        return
    torch.set_num_threads(2)
    count = 3 if args.quick else None
    t0 = time.perf_counter()
    flag = " --quick" if args.quick else ""
    parts = [
        f"Command: `python benchmarks/qabf_ceiling.py{flag}` on {machine_line()}. "
        f"Blends: {args.steps} steps of Adam (rate 0.1) on the mask's logits, from gacn's "
        "image. Means over the items of each set.",
        "How to read it: where there is a truth, a fused image equal to it scores the "
        "truth's own Q^AB/F, and a blend that scores more is further from the truth (last "
        "column). Q^AB/F rewards keeping each source's edges as they are, the blurred "
        "frame's soft edges included, so mixing some of the blurred frame into the sharp one "
        "raises it; the same masks taken hard (each pixel from the frame the blend leans to) "
        "score at most 0.001 more than the methods' own decisions. Reading: docs/gacn.md, "
        "Results.",
    ]
    rng = np.random.default_rng(0)
    photos = sample_photos()
    ideal = [ideal_pair(photos[i % len(photos)], rng) for i in range(count or 16)]
    rows = score_set(ideal, args.steps)
    if not args.no_write:
        figure(*ideal[0], args.steps, FIGURE)
    parts.append(
        f"### Ideal pairs ({len(ideal)}, scikit-image photos; the right decisions give the "
        "truth)\n\n" + table(rows, True) + "\n\n"
        f"![truth, gacn, blend, mask](images/{FIGURE.name})\n\n"
        "*The figure:* a 100 px crop of the first ideal pair at twice its size: "
        "the truth, gacn, the highest-Q^AB/F blend with the smooth mask, and that mask "
        "(white: frame A)."
    )
    print(parts[-1], flush=True)
    synth = []
    for seed in range(100, 100 + (count or 30)):
        s = synthetic_stack((256, 256), 2, noise=0.003, rng=seed)
        synth.append((s.frames.astype(np.float32), s.sharp.astype(np.float32)))
    rows = score_set(synth, args.steps)
    parts.append(
        f"### Synthetic two-frame scenes ({len(synth)}, bench_gacn's seeds 100 and up)\n\n"
        + table(rows, True)
    )
    print(parts[-1], flush=True)
    data = data_dir()
    lytro = data / "benchmarks" / "lytro" if data else None
    pairs = lytro_pairs(lytro) if lytro and lytro.is_dir() else []
    if pairs:
        pairs = pairs[:count] if count else pairs
        rows = score_set([(p, None) for p in pairs], args.steps)
        parts.append(f"### Lytro ({len(pairs)} colour pairs, 520 x 520)\n\n" + table(rows, False))
    else:
        parts.append("Lytro data not found; Lytro rows skipped.")
    print(parts[-1], flush=True)
    parts.append(f"{(time.perf_counter() - t0) / 60:.1f} minutes in all.")
    if not args.no_write:
        write_section("qabf-ceiling", "What a higher Q^AB/F buys", "\n\n".join(parts))


if __name__ == "__main__":
    main()
