"""Where gacn stands against depthmap on synthetic scenes no other benchmark uses.

For each frame count it fuses six 384 x 512 colour scenes (seeds 200-205,
blur radius up to 6 px, noise 0.003, 8-bit quantised; bench_fusion and
bench_gacn use seeds 100 and up) in process with both methods' defaults, and
prints each scene's PSNR, the means, and where the difference in squared error
lies: beyond near objects' edges (pixels within 4 px of a surface nearer by a
quarter of the scene's depth range), inside them, and away from depth edges.
A diagnostic: it prints, and writes nothing.

    python benchmarks/gacn_gap.py [--frames 5 10] [--seeds 200 201 ...] [--weights my_run.pt]
                                  [--oracle]

``--weights`` scores other gacn weights (a registered name or a ``.pt`` file
written by scripts/train_gacn.py) in place of the default ones.

``--oracle`` adds a table that separates the two inputs of the defocus model:
each method's plain fusion (its decision labels, model off) is restored once
with the method's own sub-frame depth and once with the renderer's true depth
(``SynthStack.frame_depth``). If a method gains much more from the true depth
than the other, its depth map, not its choice of frames, is what holds it back.
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy import ndimage as ndi

from allfocus.fusion import fuse
from allfocus.fusion.depthmap import DEFOCUS_MODEL_OFF, restore_detail
from allfocus.metrics import psnr
from allfocus.synth import synthetic_stack

METHODS = ("depthmap", "gacn")


def bands(depth: np.ndarray, radius: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Masks beyond near edges, inside them, and away from depth edges."""
    inv = 1.0 / depth
    jump = 0.25 * (inv.max() - inv.min())
    size = 2 * radius + 1
    beyond = ndi.maximum_filter(inv, size) - inv > jump
    inside = inv - ndi.minimum_filter(inv, size) > jump
    return beyond, inside, ~(beyond | inside)


def scene(
    num: int, seed: int, weights: str, *, oracle: bool = False
) -> dict[str, tuple[float, np.ndarray, float]]:
    """Per method: PSNR, per-band squared-error sums (over all pixels) and, with ``oracle``,
    the PSNR of its plain fusion restored with the true depth (NaN without)."""
    s = synthetic_stack((384, 512), num, max_radius=6.0, noise=0.003, rng=seed)
    frames = (np.clip(np.round(s.frames * 255), 0, 255) / 255).astype(np.float32)
    masks = bands(s.depth)
    out = {}
    for method in METHODS:
        params = {"weights": weights} if method == "gacn" else {}
        image = np.clip(fuse(frames, method=method, channel_axis=-1, **params).image, 0, 1)
        err = ((image - s.sharp) ** 2).mean(axis=-1)
        parts = np.array([err[m].sum() / err.size for m in masks])
        true_depth = float("nan")
        if oracle:
            # The same labels (model off), restored with the true depth instead of their own.
            plain = fuse(frames, method=method, channel_axis=-1, **params, **DEFOCUS_MODEL_OFF)
            restored, _ = restore_detail(
                frames, plain.image, s.frame_depth, unmix_rims=True, sharpen_between=True
            )
            true_depth = psnr(np.clip(restored, 0, 1), s.sharp, channel_axis=-1)
        out[method] = (psnr(image, s.sharp, channel_axis=-1), parts, true_depth)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[5, 10])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(200, 206)))
    parser.add_argument("--weights", default="auto", help="gacn weights (default: auto)")
    parser.add_argument(
        "--oracle", action="store_true", help="also restore each method's labels with true depth"
    )
    args = parser.parse_args()
    print("| frames | seed | depthmap dB | gacn dB | gacn - depthmap |")
    print("|---|---|---|---|---|")
    summary = []
    for num in args.frames:
        rows = [scene(num, seed, args.weights, oracle=args.oracle) for seed in args.seeds]
        for seed, row in zip(args.seeds, rows, strict=True):
            d, g = row["depthmap"][0], row["gacn"][0]
            print(f"| {num} | {seed} | {d:.2f} | {g:.2f} | {g - d:+.2f} |", flush=True)
        means = {m: np.mean([r[m][0] for r in rows]) for m in METHODS}
        extra = np.mean([r["gacn"][1] - r["depthmap"][1] for r in rows], axis=0)
        summary.append((num, means, extra, rows))
    print()
    print("| frames | depthmap dB | gacn dB | extra error beyond / inside / away |")
    print("|---|---|---|---|")
    for num, means, extra, _ in summary:
        total = extra.sum()
        if total > 0 and (extra >= 0).all():
            split = " / ".join(f"{100 * e / total:.0f} %" for e in extra)
        else:  # shares of a small or mixed-sign total mislead: the mean squared errors instead
            split = " / ".join(f"{1e6 * e:+.1f}e-6" for e in extra)
        print(f"| {num} | {means['depthmap']:.2f} | {means['gacn']:.2f} | {split} |")
    if not args.oracle:
        return
    print()
    print("| frames | depthmap, own depth | true depth | gacn, own depth | true depth |")
    print("|---|---|---|---|---|")
    for num, _, _, rows in summary:
        cells = [np.mean([r[m][i] for r in rows]) for m in METHODS for i in (0, 2)]
        print(f"| {num} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")


if __name__ == "__main__":
    main()
