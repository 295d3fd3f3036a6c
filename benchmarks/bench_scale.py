"""Big stacks and many stacks: time and peak memory of streaming fusion, against enfuse.

Renders focal stacks with allfocus.synth (a 1000 x 1500 scene, mirrored 4 x 4
into 6000 x 4000 frames so rendering stays cheap while every pixel keeps
real detail), saves them as JPEG in benchmarks/_work, then measures, each in
a child process (wall time and peak resident memory):

* allfocus, streaming path, ``--align none --no-exposure-match``, and enfuse
  in focus-stacking mode on 10 frames of 6000 x 4000 RGB::

      enfuse --exposure-weight=0 --saturation-weight=0 --contrast-weight=1 --hard-mask

  targets: allfocus at most half of enfuse's wall time, peak at most 1.5 GB;
* allfocus on 30 such frames: peak memory at most 10 % above 10 frames;
* allfocus on 100 frames of 4000 x 3000 (12 MP): frames per second;
* ``allfocus batch`` on 50 small stacks with 1 and 2 workers: stacks per second.

The allfocus runs use ``allfocus fuse --streaming`` when the installed CLI
has that option, and otherwise this script's ``--fuse-streaming`` mode, which
does what the pipeline's streaming path does (``allfocus.io.iter_frames`` ->
``allfocus.fusion.streaming.fuse_streaming`` -> ``allfocus.io.write_image``)
and also reports where the time goes.

    python benchmarks/bench_scale.py [--quick]

Writes the section "scale" of docs/benchmarks.md.

    python benchmarks/bench_scale.py --gacn [--quick]

instead measures ``allfocus fuse --method gacn`` (which reads a large stack
twice and keeps only its luma and scores, ``fuse_gacn_passes``) on the 10-
and 30-frame 6000 x 4000 stacks: time, peak memory, and what each further
frame costs (target: at most 5 bytes per pixel and frame; in memory the
30 frames would need some 30 GB). Writes the section "scale-gacn".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import WORK, machine_line, markdown_table, measure, write_section

ENFUSE_ARGS = ["--exposure-weight=0", "--saturation-weight=0", "--contrast-weight=1", "--hard-mask"]
ALLFOCUS_ARGS = ["--align", "none", "--no-exposure-match", "-q", "--overwrite"]
PYTHON = sys.executable
BATCH_VIA_PYTHON = (
    "import sys, allfocus.cli.batch; from allfocus.cli.app import main; "
    "sys.exit(main(sys.argv[1:]))"
)


MISSED = """

**Missed target: speed.** allfocus took more than half of enfuse's wall
time in this run (ratio in the table above). The machine was likely busy
(see the load average): allfocus's second thread gets no core then, and the
ratio moves towards the ratio of CPU times. Where allfocus's time goes is in
docs/scaling.md.
"""


# ----------------------------------------------------------------------- data


def render_stack(
    folder: Path, *, frames: int, scene: tuple[int, int], tiles: int, seed: int, quality: int = 92
) -> list[Path]:
    """Render ``frames`` frames of a ``scene``-sized scene, mirror-tile them ``tiles`` x ``tiles``.

    Files are kept between runs: a marker records the parameters, and a
    folder whose marker matches is reused.
    """
    import numpy as np
    from PIL import Image

    from allfocus.synth import make_scene
    from allfocus.synth import render_stack as render

    marker = folder / "params.json"
    params = {"frames": frames, "scene": list(scene), "tiles": tiles, "seed": seed, "q": quality}
    paths = [folder / f"frame_{k:03d}.jpg" for k in range(frames)]
    if marker.exists() and json.loads(marker.read_text()) == params:
        return paths
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    gen = np.random.default_rng(seed)
    sc = make_scene(scene, rng=gen, num_objects=6)
    stack = render(
        sc.image,
        sc.depth,
        num_frames=frames,
        max_radius=5.0,
        num_layers=10,
        noise=0.004,
        channel_axis=-1,
        rng=gen,
    )
    half = tiles // 2
    for path, frame in zip(paths, stack.frames, strict=True):
        pixels = (frame * 255 + 0.5).astype(np.uint8)
        if tiles > 1:
            pixels = np.concatenate([pixels, pixels[::-1]], axis=0)
            pixels = np.concatenate([pixels, pixels[:, ::-1]], axis=1)
            pixels = np.tile(pixels, (max(half, 1), max(half, 1), 1))
        Image.fromarray(pixels).save(path, quality=quality)
    marker.write_text(json.dumps(params))
    return paths


def shifted_copies(frames: list[Path], folder: Path, *, step: tuple[int, int]) -> list[Path]:
    """Frame k moved by ``k * step`` pixels (wrapped around), as handheld shots drift.

    Kept between runs, like the rendered stacks.
    """
    import cv2
    import numpy as np

    marker = folder / "params.json"
    params = {"from": [p.name for p in frames], "source": frames[0].parent.name, "step": step}
    paths = [folder / p.name for p in frames]
    if marker.exists() and json.loads(marker.read_text()) == params:
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    middle = len(frames) // 2
    for k, (src, dst) in enumerate(zip(frames, paths, strict=True)):
        img = cv2.imread(str(src), cv2.IMREAD_COLOR)
        img = np.roll(img, ((k - middle) * step[0], (k - middle) * step[1]), axis=(0, 1))
        cv2.imwrite(str(dst), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
    marker.write_text(json.dumps(params))
    return paths


def render_small_stacks(root: Path, *, count: int, seed: int) -> Path:
    """``count`` stack folders of 5 frames of 480 x 640 (JPEG) under ``root``."""
    marker = root / "params.json"
    params = {"count": count, "seed": seed, "frames": 5, "shape": [480, 640]}
    if marker.exists() and json.loads(marker.read_text()) == params:
        return root
    if root.exists():
        shutil.rmtree(root)
    for i in range(count):
        render_stack(root / f"stack_{i:03d}", frames=5, scene=(480, 640), tiles=1, seed=seed + i)
        (root / f"stack_{i:03d}" / "params.json").unlink()
    marker.write_text(json.dumps(params))
    return root


# ------------------------------------------------------------------ commands


def cli_has(args: list[str], text: str) -> bool:
    allfocus = str(Path(PYTHON).with_name("allfocus"))
    out = subprocess.run([allfocus, *args, "--help"], capture_output=True, text=True)
    return out.returncode == 0 and text in out.stdout


def allfocus_cmd(frames: list[Path], output: Path, *, via_cli: bool) -> list[str]:
    names = [str(p) for p in frames]
    if via_cli:
        allfocus = str(Path(PYTHON).with_name("allfocus"))
        return [allfocus, "fuse", *names, "-o", str(output), "--streaming", *ALLFOCUS_ARGS]
    return [PYTHON, str(Path(__file__).resolve()), "--fuse-streaming", *names, "-o", str(output)]


def batch_cmd(stacks: Path, outdir: Path, workers: int) -> list[str]:
    args = [
        "batch",
        str(stacks),
        "-o",
        str(outdir),
        "--workers",
        str(workers),
        "--align",
        "none",
        "--no-exposure-match",
        "--overwrite",
        "-q",
    ]
    if cli_has(["batch"], "--workers"):
        return [str(Path(PYTHON).with_name("allfocus")), *args]
    return [PYTHON, "-c", BATCH_VIA_PYTHON, *args]


def fuse_streaming_main(argv: list[str]) -> None:
    """The streaming path of the pipeline, timed by phase (JSON on the last stderr line)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("frames", nargs="+")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    from allfocus import io
    from allfocus.fusion.streaming import fuse_streaming

    stream = io.iter_frames(args.frames)
    opened = time.perf_counter()
    stamps: list[float] = []
    with stream:
        result = fuse_streaming(
            stream,
            channel_axis=stream.channel_axis,
            progress=lambda n: stamps.append(time.perf_counter()),
        )
    fused = time.perf_counter()
    io.write_image(
        args.output,
        result.image,
        dtype=io.output_dtype(stream.dtype, args.output),
        icc=stream.icc,
        exif=stream.exif,
        overwrite=True,
    )
    end = time.perf_counter()
    phases = {
        "start (imports, headers)": opened - start,
        "frames (read + measure + fold)": stamps[-1] - opened,
        "finish (cleanup, refine)": fused - stamps[-1],
        "write": end - fused,
    }
    print(json.dumps(phases), file=sys.stderr)


# --------------------------------------------------------------------- main


def run(cmd: list[str], label: str, env: dict[str, str] | None = None) -> dict:
    result = measure(cmd, env)
    if result["rc"] not in (0,):
        raise SystemExit(f"{label} failed (exit {result['rc']}): {result['stderr']}")
    print(
        f"{label:48s} {result['seconds']:7.2f} s {result['peak_mb']:8.1f} MB "
        f"(cpu {result['user_s']:.1f} user + {result['sys_s']:.1f} sys)",
        flush=True,
    )
    return result


def median_run(runs: list[dict]) -> dict:
    """The run with the median wall time (the upper middle one for an even count)."""
    return sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]


def phases_of(result: dict) -> dict | None:
    for line in reversed(result["stderr"].strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--fuse-streaming":
        fuse_streaming_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each tool on 10 frames (median kept)"
    )
    parser.add_argument(
        "--gacn", action="store_true", help="method gacn on 10 and 30 big frames instead"
    )
    args = parser.parse_args()
    if args.gacn:
        gacn_main(args.quick)
        return

    if args.quick:
        big_scene, tiles, n_small, mp12_scene = (250, 375), 4, 10, (375, 500)
        n_mp12 = 20
    else:
        big_scene, tiles, n_small, mp12_scene = (1000, 1500), 4, 50, (750, 1000)
        n_mp12 = 100
    big = (big_scene[0] * tiles, big_scene[1] * tiles)
    mp12 = (mp12_scene[0] * tiles, mp12_scene[1] * tiles)
    WORK.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    frames10 = render_stack(
        WORK / f"scale_{big[1]}x{big[0]}_10", frames=10, scene=big_scene, tiles=tiles, seed=7
    )
    frames30 = render_stack(
        WORK / f"scale_{big[1]}x{big[0]}_30", frames=30, scene=big_scene, tiles=tiles, seed=8
    )
    frames100 = render_stack(
        WORK / f"scale_{mp12[1]}x{mp12[0]}_{n_mp12}",
        frames=n_mp12,
        scene=mp12_scene,
        tiles=tiles,
        seed=9,
    )
    small = render_small_stacks(WORK / f"scale_batch_{n_small}", count=n_small, seed=100)
    print(f"data ready in {time.perf_counter() - t0:.1f} s", flush=True)

    load_before = os.getloadavg()[0]
    via_cli = cli_has(["fuse"], "--streaming")
    out = WORK / "scale_out"
    out.mkdir(exist_ok=True)
    enfuse = shutil.which("enfuse")
    results: dict[str, dict] = {}
    # The 10-frame comparison alternates the two tools ``--repeat`` times and
    # keeps each one's median run: one run of each on a shared 2-core machine
    # moves the ratio by several hundredths either way.
    # A third run per round leaves glibc's allocator at its defaults
    # (allfocus._core.memory), to show what keeping freed memory saves.
    pairs: list[tuple[dict, dict | None]] = []
    plain: list[dict] = []
    for i in range(args.repeat):
        af = run(
            allfocus_cmd(frames10, out / "af10.jpg", via_cli=via_cli),
            f"allfocus 10 x {big[1]}x{big[0]} (run {i + 1})",
        )
        plain.append(
            run(
                allfocus_cmd(frames10, out / "af10_plain.jpg", via_cli=via_cli),
                f"allfocus 10, ALLFOCUS_MALLOC=default (run {i + 1})",
                env={"ALLFOCUS_MALLOC": "default"},
            )
        )
        en = None
        if enfuse:
            en = run(
                [enfuse, *ENFUSE_ARGS, f"--output={out / 'en10.jpg'}", *map(str, frames10)],
                f"enfuse 10 x {big[1]}x{big[0]} (run {i + 1})",
            )
        pairs.append((af, en))
    results["af10"] = median_run([af for af, _ in pairs])
    results["af10_plain"] = median_run(plain)
    if enfuse:
        results["en10"] = median_run([en for _, en in pairs if en is not None])
    results["af30"] = run(
        allfocus_cmd(frames30, out / "af30.jpg", via_cli=via_cli),
        f"allfocus 30 x {big[1]}x{big[0]}",
    )
    # Handheld: the same 10 frames drifting 6 px down and 4 px left per frame,
    # aligned and fused frame by frame (the default --align auto).
    shifted = shifted_copies(frames10, WORK / f"scale_{big[1]}x{big[0]}_10_shifted", step=(6, -4))
    aligned_cmd = allfocus_cmd(shifted, out / "af10_aligned.jpg", via_cli=True)
    aligned_cmd[aligned_cmd.index("none")] = "auto"
    results["af10_aligned"] = run(aligned_cmd, f"allfocus 10 x {big[1]}x{big[0]}, aligned")
    results["af100"] = run(
        allfocus_cmd(frames100, out / "af100.jpg", via_cli=via_cli),
        f"allfocus {n_mp12} x {mp12[1]}x{mp12[0]}",
    )
    for workers in (1, 2):
        target = out / f"batch_{workers}"
        if target.exists():
            shutil.rmtree(target)
        results[f"batch{workers}"] = run(
            batch_cmd(small, target, workers),
            f"allfocus batch {n_small} stacks, {workers} worker(s)",
        )

    load_after = os.getloadavg()[0]
    af10, af30, af100 = results["af10"], results["af30"], results["af100"]

    def row(label: str, r: dict, count: int, unit: str) -> list:
        cpu = f"{r['user_s']:.1f} + {r['sys_s']:.1f}"
        return [label, r["seconds"], cpu, r["peak_mb"], f"{count / r['seconds']:.2f} {unit}/s"]

    rows = [row(f"allfocus, 10 frames {big[1]}x{big[0]}", af10, 10, "frames")]
    rows.append(
        row(
            f"allfocus, 10 frames {big[1]}x{big[0]}, `ALLFOCUS_MALLOC=default`",
            results["af10_plain"],
            10,
            "frames",
        )
    )
    checks = []
    if enfuse:
        en10 = results["en10"]
        rows.append(row(f"enfuse, 10 frames {big[1]}x{big[0]}", en10, 10, "frames"))
        ratio = af10["seconds"] / en10["seconds"]
        each = ", ".join(f"{a['seconds'] / e['seconds']:.2f}" for a, e in pairs if e is not None)
        checks.append(
            ("time <= 0.5 x enfuse", f"{ratio:.2f} x (median; runs: {each})", ratio <= 0.5)
        )
    checks.append(
        ("peak <= 1500 MB (10 frames)", f"{af10['peak_mb']:.0f} MB", af10["peak_mb"] <= 1500)
    )
    rows.append(row(f"allfocus, 30 frames {big[1]}x{big[0]}", af30, 30, "frames"))
    rows.append(
        row(
            f"allfocus, 10 frames {big[1]}x{big[0]} shifted 7 px a frame, `--align auto`",
            results["af10_aligned"],
            10,
            "frames",
        )
    )
    growth = af30["peak_mb"] / af10["peak_mb"] - 1
    checks.append(("peak(30) <= 1.1 x peak(10)", f"{growth * 100:+.1f} %", growth <= 0.10))
    rows.append(row(f"allfocus, {n_mp12} frames {mp12[1]}x{mp12[0]}", af100, n_mp12, "frames"))
    for workers in (1, 2):
        rows.append(
            row(
                f"allfocus batch, {n_small} stacks 5 x 640x480, {workers} worker(s)",
                results[f"batch{workers}"],
                n_small,
                "stacks",
            )
        )
    missed = any(not ok for _, _, ok in checks)
    table = markdown_table(["run", "wall s", "CPU s (user + sys)", "peak MB", "throughput"], rows)
    check_table = markdown_table(
        ["target", "measured", "met"], [[n, v, "yes" if ok else "**no**"] for n, v, ok in checks]
    )
    print(table)
    print(check_table)
    phases = phases_of(af10)
    profile = ""
    if phases:
        profile = "\n\nWhere the 10-frame allfocus run spends its time:\n\n" + markdown_table(
            ["phase", "s"], [[k, v] for k, v in phases.items()]
        )
    how = (
        "`allfocus fuse --streaming " + " ".join(ALLFOCUS_ARGS[:-2]) + "`"
        if via_cli
        else "`python benchmarks/bench_scale.py --fuse-streaming` (the pipeline's streaming path: "
        "iter_frames -> fuse_streaming -> write_image; the CLI has no `--streaming` yet)"
    )
    body = (
        f"Command: `python benchmarks/bench_scale.py{' --quick' if args.quick else ''}` on "
        f"{machine_line()}. Synthetic colour stacks rendered by allfocus.synth "
        f"({big_scene[1]}x{big_scene[0]} scenes mirrored {tiles} x {tiles}), 8-bit JPEG "
        f"(quality 92) in and out. allfocus: {how}, default method (depthmap). enfuse options: "
        f"`{' '.join(ENFUSE_ARGS)}`. Peak memory is the child's maximum resident set "
        f"(for batch: the largest process); CPU time is the child's, with its threads "
        f"(for batch: the client process only). `ALLFOCUS_MALLOC=default` leaves glibc's "
        f"allocator at its defaults instead of keeping freed blocks for reuse "
        f"(allfocus._core.memory). The 10-frame runs (both allfocus variants and enfuse) "
        f"alternate {args.repeat} times; the table shows each one's median run, the target "
        f"row each pair's ratio. Every other figure is one run. Load average "
        f"{load_before:.1f} before the runs, {load_after:.1f} after (on {os.cpu_count()} "
        f"cores).\n\n"
        + table
        + "\n\nTargets:\n\n"
        + check_table
        + profile
        + (MISSED if missed else "")
    )
    write_section("scale", "Big stacks, many stacks (streaming, batch) vs enfuse", body)


def gacn_main(quick: bool) -> None:
    """Method gacn on big stacks, read twice: time, peak and bytes per pixel and frame."""
    scene, tiles = ((250, 375), 4) if quick else ((1000, 1500), 4)
    rows_px, cols_px = scene[0] * tiles, scene[1] * tiles
    WORK.mkdir(parents=True, exist_ok=True)
    stacks = {
        n: render_stack(
            WORK / f"scale_{cols_px}x{rows_px}_{n}", frames=n, scene=scene, tiles=tiles, seed=seed
        )
        for n, seed in ((10, 7), (30, 8))
    }
    out = WORK / "scale_out"
    out.mkdir(exist_ok=True)
    allfocus = str(Path(PYTHON).with_name("allfocus"))
    load_before = os.getloadavg()[0]
    results = {}
    for n, frames in stacks.items():
        cmd = [allfocus, "fuse", *map(str, frames), "-o", str(out / f"gacn{n}.jpg")]
        cmd += ["--method", "gacn", *ALLFOCUS_ARGS]
        results[n] = run(cmd, f"allfocus gacn {n} x {cols_px}x{rows_px}")
    load_after = os.getloadavg()[0]
    pixels = rows_px * cols_px
    slope = (results[30]["peak_mb"] - results[10]["peak_mb"]) * 2**20 / (20 * pixels)
    # What the in-memory path would hold: 3.5 times the colour stack as float32.
    in_memory_gb = 3.5 * 30 * pixels * 3 * 4 / 2**30
    rows = [
        [
            f"allfocus `--method gacn`, {n} frames {cols_px}x{rows_px}",
            r["seconds"],
            f"{r['user_s']:.1f} + {r['sys_s']:.1f}",
            r["peak_mb"],
            f"{n * pixels / 1e6 / r['seconds']:.2f}",
        ]
        for n, r in results.items()
    ]
    table = markdown_table(
        ["run", "wall s", "CPU s (user + sys)", "peak MB", "megapixel-frames/s"], rows
    )
    checks = markdown_table(
        ["target", "measured", "met"],
        [
            [
                "each further frame <= 5 bytes per pixel",
                f"{slope:.2f}",
                "yes" if slope <= 5 else "**no**",
            ]
        ],
    )
    print(table)
    print(checks)
    body = (
        f"Command: `python benchmarks/bench_scale.py --gacn{' --quick' if quick else ''}` on "
        f"{machine_line()}. The stacks of the section above (8-bit JPEG, "
        f"{cols_px}x{rows_px}), fused with `allfocus fuse --method gacn "
        f"{' '.join(ALLFOCUS_ARGS[:-2])}`: over 256 MiB as float32 it reads the stack twice "
        f"(`fuse_gacn_passes`: luma as uint16 and the network's scores as float16 for every "
        f"frame, then the frames again for the blend; no defocus model). Held in memory, 30 "
        f"frames would need about {in_memory_gb:.0f} GB. Peak memory is the child's maximum "
        f"resident set; one run each; load average {load_before:.1f} before, "
        f"{load_after:.1f} after (on {os.cpu_count()} cores).\n\n"
        + table
        + "\n\nWhat each further frame costs, (peak(30) - peak(10)) / 20 frames / pixels:\n\n"
        + checks
    )
    write_section("scale-gacn", "Big stacks with gacn (read twice)", body)


if __name__ == "__main__":
    main()
