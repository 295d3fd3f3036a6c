"""Fusion quality, time and memory on synthetic stacks with ground truth, against enfuse.

Renders allfocus.synth stacks of 2, 5 and 10 frames (colour, several scenes),
writes them as 8-bit PNG, then fuses the same files with every registered
allfocus method (through the ``allfocus fuse`` command, so reading and writing
count as they do for enfuse) and with enfuse in focus-stacking mode:

    enfuse --exposure-weight=0 --saturation-weight=0 --contrast-weight=1 --hard-mask

PSNR and SSIM are measured against the sharp ground truth. Each run's wall time
and peak memory are measured in a child process.

    python benchmarks/bench_fusion.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import WORK, machine_line, markdown_table, measure, write_section

ENFUSE_ARGS = ["--exposure-weight=0", "--saturation-weight=0", "--contrast-weight=1", "--hard-mask"]


BOUND = "selection bound"
SELECTION_NOTE = """

*Selection bound* is not a method: each pixel is copied from the frame closest
to the ground truth there, the highest PSNR that any per-pixel choice of
frames can reach on these files (optimistic: knowing the truth, it also picks
the frame whose noise fits best). Where it is less than 3 dB above enfuse, no
method that only copies each pixel from a frame can meet the 3 dB target
there; `depthmap` goes beyond it by restoring detail that no frame holds (the
background under a near object's blurred rim, and the defocus left between
focus planes; docs/methods.md, "The defocus model").
"""


def selection_bound(frames: list[np.ndarray], truth: np.ndarray) -> np.ndarray:
    """The best any per-pixel choice of frames can do: each pixel from the frame
    closest to the ground truth there (squared error over the channels).

    No method that copies each pixel from one frame (depth-map methods,
    hard-mask pyramids at full resolution) can score a higher PSNR; it is
    optimistic, since with the truth at hand it also picks whichever frame's
    noise happens to fit.
    """
    stack = np.stack(frames).astype(np.float64)
    error = ((stack - truth.astype(np.float64)[None]) ** 2).sum(axis=-1)
    pick = error.argmin(axis=0)
    return np.take_along_axis(stack, pick[None, ..., None], axis=0)[0].astype(truth.dtype)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer scenes")
    parser.add_argument("--size", type=int, nargs=2, default=(384, 512), metavar=("H", "W"))
    args = parser.parse_args()

    from allfocus import io
    from allfocus.fusion import DEFAULT_METHOD, list_methods
    from allfocus.metrics import psnr, ssim
    from allfocus.synth.files import write_synthetic_stack

    seeds = [0, 1] if args.quick else [0, 1, 2, 3, 4]
    counts = [2, 5, 10]
    tools = [*list_methods(), "enfuse"]
    enfuse = shutil.which("enfuse")
    if enfuse is None:
        print("enfuse not installed: skipped (run `make peers` to install it)")
        tools.remove("enfuse")
    allfocus_cmd = [str(Path(sys.executable).with_name("allfocus"))]
    results: dict[tuple[str, int], list[dict]] = {}
    load = os.getloadavg()
    failures: dict[str, int] = {}
    for n in counts:
        for seed in seeds:
            folder = WORK / f"fusion_{n}_{seed}"
            if folder.exists():
                shutil.rmtree(folder)
            written = write_synthetic_stack(
                folder,
                num_frames=n,
                shape=tuple(args.size),
                max_radius=6.0,
                noise=0.003,
                seed=100 + seed,
            )
            frames = [str(p) for p in written[:-2]]
            truth = io.read_image(written[-2]).array
            bound = selection_bound([io.read_image(f).array for f in frames], truth)
            results.setdefault((BOUND, n), []).append(
                {
                    "psnr": psnr(bound, truth, channel_axis=-1),
                    "ssim": ssim(bound, truth, channel_axis=-1),
                }
            )
            for tool in tools:
                out = folder / f"out_{tool}.png"
                if tool == "enfuse":
                    cmd = [enfuse, *ENFUSE_ARGS, f"--output={out}", *frames]
                else:
                    cmd = [
                        *allfocus_cmd,
                        "fuse",
                        *frames,
                        "-o",
                        str(out),
                        "--method",
                        tool,
                        "--align",
                        "none",
                        "-q",
                    ]
                run = measure(cmd)
                if run["rc"] != 0:
                    print(f"{tool} failed on {folder.name}: {run['stderr'].strip()}")
                    failures.setdefault(tool, 0)
                    failures[tool] += 1
                    continue
                fused = io.read_image(out).array[..., :3]
                run["psnr"] = psnr(fused, truth, channel_axis=-1)
                run["ssim"] = ssim(fused, truth, channel_axis=-1)
                results.setdefault((tool, n), []).append(run)
                print(
                    f"{n:2d} frames seed {seed} {tool:10s} PSNR {run['psnr']:6.2f} "
                    f"SSIM {run['ssim']:.4f} {run['seconds']:6.2f} s {run['peak_mb']:7.1f} MB",
                    flush=True,
                )
    rows = []
    for n in counts:
        base = np.mean([r["psnr"] for r in results[("enfuse", n)]]) if enfuse else None
        for tool in [*tools, BOUND]:
            rs = results.get((tool, n), [])
            if not rs:
                continue
            mean_psnr = float(np.mean([r["psnr"] for r in rs]))
            timed = tool != BOUND
            rows.append(
                [
                    n,
                    tool + (" (default)" if tool == DEFAULT_METHOD else ""),
                    mean_psnr,
                    f"{mean_psnr - base:+.2f}" if base is not None else "n/a",
                    float(np.mean([r["ssim"] for r in rs])),
                    float(np.mean([r["seconds"] for r in rs])) if timed else "-",
                    float(np.max([r["peak_mb"] for r in rs])) if timed else "-",
                ]
            )
    table = markdown_table(
        ["frames", "method", "PSNR dB", "vs enfuse dB", "SSIM", "time s", "peak MB"], rows
    )
    print(table)
    body = (
        f"Command: `python benchmarks/bench_fusion.py{' --quick' if args.quick else ''}` on "
        f"{machine_line()}. Synthetic colour stacks ({args.size[1]}x{args.size[0]}, "
        f"max blur radius 6 px, noise 0.003, {len(seeds)} scenes per row, seeds 100+), "
        f"8-bit PNG files fused by each tool's command line (time and peak memory include "
        f"reading and writing; allfocus with `--align none`). enfuse options: "
        f"`{' '.join(ENFUSE_ARGS)}`. Load average {load[0]:.1f} before the runs, "
        f"{os.getloadavg()[0]:.1f} after (on {os.cpu_count()} cores).\n\n" + table + SELECTION_NOTE
    )
    if failures:
        body += "\n\nRuns that failed (left out of the means): " + ", ".join(
            f"{tool} x{count}" for tool, count in failures.items()
        )
    write_section("fusion", "Fusion on synthetic stacks with ground truth (vs enfuse)", body)


if __name__ == "__main__":
    main()
