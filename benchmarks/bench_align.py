"""Alignment accuracy and time on synthetic stacks with known transforms.

Renders defocused focal stacks with :mod:`allfocus.synth`, moves every frame
by a known similarity (shift up to 40 px per axis, rotation up to 2 degrees,
focus breathing up to 5 % scale, see ``allfocus.align._synthetic``), writes
them as 16-bit RGB TIFF files and aligns the same files with

* allfocus (``align_stack``, ``model="auto"``),
* OpenCV ECC used directly: ``cv2.findTransformECC`` (affine, identity start,
  default Gaussian pre-filter) of each grey frame to the reference, no
  pyramid, no gradient image, then ``cv2.warpAffine``,
* Hugin's ``align_image_stack`` (Debian hugin-tools) in focus-stack mode:
  ``align_image_stack -m --use-given-order -a PREFIX`` (``-m`` optimises the
  field of view of every image but the first, which models focus breathing).

All three map the frames to the first one, so the same ideal exists for all:
``aligned[k]`` is frame ``k``'s content rendered straight from the scene
canvas into frame 0's geometry (same defocus, one interpolation).

Accuracy is measured the same way for all tools, from their aligned output
images: ECC (homography, on the valid pixels of the output) registers each
output to its ideal; the residual map ``R`` is what the tool got wrong, and the
corner error is ``|R^-1 c - c|`` for the four frame corners ``c``. Because the
output and its ideal have the same content and defocus, this measurement
itself is accurate to about 0.01 px; where a tool also gives matrices
(allfocus, ECC) the error of the matrices against the true ones is shown too
(corner distance, as in the tests) as a check of the image-based number.
The reference frame (error 0 for every tool) is left out.

Time is the wall time of a child process that reads the TIFF files, aligns
and writes the aligned TIFF files (interpreter start included for allfocus and
ECC), so all three pay for the same input and output.

    python benchmarks/bench_align.py [--quick] [--install]

``--install`` runs ``apt-get install -y hugin-tools`` first when
``align_image_stack`` is missing; without it a missing tool is skipped with a
printed line.
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

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import WORK, machine_line, markdown_table, measure, write_section

#: align_image_stack option sets compared: the plain focus-stack mode, and the two
#: that fit a shifted (not rotated) camera best in a sweep on these stacks.
AIS_CONFIGS = {
    "ais_m": ["-m"],
    "ais_mi": ["-m", "-i"],
    "ais_mxyz": ["-m", "-x", "-y", "-z"],
}
ECC_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-6)


# ---------------------------------------------------------------- file helpers
def write_rgb16(path: Path, image: np.ndarray, valid: np.ndarray | None = None) -> None:
    """Write a [0, 1] grey or RGB image as a 16-bit RGB TIFF (+ ``*.valid.png`` mask)."""
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    data = np.clip(image * 65535.0 + 0.5, 0, 65535).astype(np.uint16)
    ok = cv2.imwrite(str(path), data)
    if valid is not None:
        ok = ok and cv2.imwrite(str(path.with_suffix(".valid.png")), valid.astype(np.uint8) * 255)
    if not ok:
        raise OSError(f"cannot write {path}")


def read_rgb16(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read a 16-bit RGB(A) TIFF: float32 RGB in [0, 1] and its validity mask if any.

    The mask is the alpha channel (align_image_stack) or a ``*.valid.png`` file.
    """
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None:
        raise OSError(f"cannot read {path}")
    data = data.astype(np.float32) / 65535.0
    valid = None
    if data.shape[2] == 4:
        valid = data[..., 3] > 0.5
    elif path.with_suffix(".valid.png").exists():
        valid = cv2.imread(str(path.with_suffix(".valid.png")), cv2.IMREAD_GRAYSCALE) > 127
    return np.ascontiguousarray(data[..., :3]), valid


def frame_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("in_*.tif"))


# -------------------------------------------------------------- child programs
def run_allfocus(folder: Path) -> None:
    """Child process: read, align with allfocus, write aligned TIFFs and transforms."""
    from allfocus.align import align_stack, save_transforms

    files = frame_files(folder)
    stack = np.stack([read_rgb16(f)[0] for f in files])
    result = align_stack(stack, reference=0, crop="none", channel_axis=-1)
    for i, k in enumerate(result.kept):
        write_rgb16(folder / f"allfocus_{k:04d}.tif", result.frames[i], result.valid[i])
    save_transforms(folder / "allfocus.json", [f.name for f in files], result.transforms)


def run_ecc(folder: Path) -> None:
    """Child process: plain cv2.findTransformECC of every frame to frame 0."""
    files = frame_files(folder)
    frames = [read_rgb16(f)[0] for f in files]
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    h, w = grey[0].shape
    out = []
    for k, (img, g) in enumerate(zip(frames, grey, strict=True)):
        warp = np.eye(2, 3, dtype=np.float32)
        if k > 0:
            try:
                _, warp = cv2.findTransformECC(
                    grey[0], g, warp, cv2.MOTION_AFFINE, ECC_CRITERIA, None, 5
                )
            except cv2.error:
                out.append(None)
                continue
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        aligned = cv2.warpAffine(img, warp, (w, h), flags=flags)
        valid = cv2.warpAffine(np.ones((h, w), np.float32), warp, (w, h), flags=flags) > 0.999
        write_rgb16(folder / f"ecc_{k:04d}.tif", aligned, valid)
        out.append(np.linalg.inv(np.vstack([warp, [0, 0, 1]]).astype(np.float64)).tolist())
    entries = [{"file": f.name, "matrix": m} for f, m in zip(files, out, strict=True)]
    (folder / "ecc.json").write_text(json.dumps(entries))


# ------------------------------------------------------------------- measuring
def corner_points(shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    return np.array([[0, w - 1, 0, w - 1], [0, 0, h - 1, h - 1], [1, 1, 1, 1]], dtype=np.float64)


def image_error(output: np.ndarray, valid: np.ndarray, ideal: np.ndarray) -> np.ndarray | None:
    """Corner errors (4,) of an aligned grey output against its ideal, or None."""
    mask = cv2.erode(valid.astype(np.uint8), np.ones((7, 7), np.uint8))
    if mask.mean() < 0.2:
        return None
    warp = np.eye(3, dtype=np.float32)
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 300, 1e-9)
    try:
        _, warp = cv2.findTransformECC(
            ideal, output, warp, cv2.MOTION_HOMOGRAPHY, criteria, mask, 3
        )
    except cv2.error:
        return None
    # ideal(x) ~ output(W x) and output(x) = ideal(R x), so R = W^-1.
    c = corner_points(ideal.shape)
    moved = np.linalg.inv(warp.astype(np.float64)) @ c
    moved = moved[:2] / moved[2]
    return np.sqrt(((moved - c[:2]) ** 2).sum(axis=0))


def matrix_error(path: Path, truth: np.ndarray, shape: tuple[int, int]) -> list[np.ndarray]:
    from allfocus.align import load_transforms
    from allfocus.align._synthetic import corner_errors

    _, mats = load_transforms(path)
    errs = corner_errors(mats, truth, shape)
    return [errs[k] for k in range(1, len(mats)) if np.isfinite(errs[k]).all()]


def evaluate(folder: Path, prefix: str, ideal: np.ndarray, frames: int) -> tuple[list, int]:
    """Image-based corner errors of a tool's outputs, and how many are within 1 px."""
    errors, ok = [], 0
    for k in range(1, frames):
        path = folder / f"{prefix}{k:04d}.tif"
        if not path.exists():
            continue
        image, valid = read_rgb16(path)
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        if valid is None:
            valid = np.ones(grey.shape, bool)
        err = image_error(grey, valid, ideal[k])
        if err is not None:
            errors.append(err)
            ok += int(err.max() < 1.0)
    return errors, ok


def summary(errors: list[np.ndarray]) -> tuple[float, float]:
    if not errors:
        return float("nan"), float("nan")
    a = np.concatenate(errors)
    return float(a.mean()), float(a.max())


def find_ais(install: bool) -> str | None:
    path = shutil.which("align_image_stack")
    if path is None and install:
        print("installing hugin-tools (apt-get install -y hugin-tools) ...", flush=True)
        subprocess.run(["apt-get", "install", "-y", "hugin-tools"], check=False)
        path = shutil.which("align_image_stack")
    if path is None:
        print(
            "align_image_stack not installed: skipped (apt-get install hugin-tools, "
            "or run this script with --install)"
        )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller and fewer stacks")
    parser.add_argument("--install", action="store_true", help="apt-get install hugin-tools")
    parser.add_argument("--run-allfocus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--run-ecc", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_allfocus:
        return run_allfocus(args.run_allfocus)
    if args.run_ecc:
        return run_ecc(args.run_ecc)

    from allfocus.align._synthetic import misaligned_stack

    if args.quick:
        shape, num_frames, seeds = (480, 640), 5, [0, 1]
    else:
        shape, num_frames, seeds = (768, 1024), 7, [0, 1, 2]
    max_radius, noise = 5.0, 0.002
    load_before = os.getloadavg()[0]
    ais = find_ais(args.install)
    me = [sys.executable, str(Path(__file__).resolve())]
    tools = ["allfocus", "ecc"] + (list(AIS_CONFIGS) if ais else [])
    res = {t: {"img": [], "mat": [], "ok": 0, "seconds": 0.0, "peak": 0.0} for t in tools}
    total = 0
    for seed in seeds:
        folder = WORK / f"align_{seed}"
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        t0 = time.perf_counter()
        stack = misaligned_stack(
            shape, num_frames, reference=0, max_radius=max_radius, noise=noise, rng=100 + seed
        )
        files = []
        for k, frame in enumerate(stack.frames):
            files.append(folder / f"in_{k:04d}.tif")
            write_rgb16(files[-1], frame)
        print(f"stack {seed}: rendered in {time.perf_counter() - t0:.1f} s", flush=True)
        total += num_frames - 1
        commands = {
            "allfocus": [*me, "--run-allfocus", str(folder)],
            "ecc": [*me, "--run-ecc", str(folder)],
        }
        outputs = {"allfocus": "allfocus_", "ecc": "ecc_"}
        if ais:
            for name, opts in AIS_CONFIGS.items():
                prefix = folder / f"{name}_"
                commands[name] = [
                    ais,
                    *opts,
                    "--use-given-order",
                    "-a",
                    str(prefix),
                    *map(str, files),
                ]
                outputs[name] = prefix.name
        for tool in tools:
            run = measure(commands[tool])
            if run["rc"] != 0:
                print(f"  {tool} failed (rc {run['rc']}): {run['stderr'][-300:]}")
            errors, ok = evaluate(
                folder, outputs[tool], stack.aligned.astype(np.float32), num_frames
            )
            r = res[tool]
            r["img"] += errors
            r["ok"] += ok
            r["seconds"] += run["seconds"]
            r["peak"] = max(r["peak"], run["peak_mb"])
            json_path = folder / f"{tool}.json"
            if json_path.exists():
                r["mat"] += matrix_error(json_path, stack.transforms, shape)
            mean, worst = summary(errors)
            print(
                f"  {tool:10s} within 1 px {ok}/{num_frames - 1}  corner error mean {mean:.3f} "
                f"worst {worst:.3f} px  {run['seconds']:.2f} s",
                flush=True,
            )
    names = {
        "allfocus": "allfocus `align_stack` (auto)",
        "ecc": "OpenCV ECC direct (affine)",
        **{n: f"align_image_stack `{' '.join(o)}`" for n, o in AIS_CONFIGS.items()},
    }
    rows = []
    for tool in tools:
        r = res[tool]
        mean, worst = summary(r["img"])
        mmean, mworst = summary(r["mat"])
        rows.append(
            [
                names[tool],
                f"{r['ok']}/{total}",
                mean,
                worst,
                mmean if r["mat"] else "n/a",
                mworst if r["mat"] else "n/a",
                r["seconds"] / len(seeds),
                r["peak"],
            ]
        )
    table = markdown_table(
        [
            "method",
            "frames within 1 px",
            "mean corner err px",
            "worst px",
            "matrix mean px",
            "matrix worst px",
            "time per stack s",
            "peak MB",
        ],
        rows,
    )
    print(table)
    load = max(load_before, os.getloadavg()[0])
    skipped = "" if ais else " align_image_stack was not installed and is missing from the table."
    body = (
        f"Command: `python benchmarks/bench_align.py{' --quick' if args.quick else ''}` on "
        f"{machine_line()} (1-minute load average up to {load:.1f} during the run: the "
        f"machine is shared, so compare times within the table only). "
        f"{len(seeds)} synthetic grey stacks of {num_frames} frames "
        f"({shape[1]}x{shape[0]}, max blur radius {max_radius:g} px, noise {noise:g}, seeds "
        f"100+), every frame moved by a known similarity: shift up to 40 px per axis, "
        f"rotation up to 2 degrees, focus breathing up to 5 %. Frames are 16-bit RGB TIFF "
        f"files; each tool reads them, aligns to the first frame and writes aligned TIFFs "
        f"(time includes that input and output, and interpreter start for the Python rows).\n\n"
        f"Corner error: each aligned output is registered (ECC homography, valid pixels "
        f"only) to the ideal, that frame's content rendered straight into the reference "
        f"geometry; the residual map moves the 4 frame corners by the error. 'matrix' "
        f"columns compare the returned matrices with the true ones instead (tools that "
        f"return matrices). Means and worst values are over the frames whose error could "
        f"be measured. align_image_stack also gets `--use-given-order -a PREFIX`; the files "
        f"carry no EXIF, so it assumes a 50 degree field of view, and with `-m` alone it "
        f"explains a shift as a camera rotation (perspective), which does not fit a flat "
        f"image shift; `-i` (image-centre shift) or `-x -y -z` (camera translation) do. "
        f"ECC starts from the identity, so large shifts leave its basin and it converges to "
        f"a wrong optimum or raises. allfocus holds the whole stack in memory as float32, "
        f"hence its larger peak memory.{skipped}"
        f"\n\n" + table
    )
    write_section("align", "Alignment", body)


if __name__ == "__main__":
    main()
