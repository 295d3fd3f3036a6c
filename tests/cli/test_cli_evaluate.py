"""``allfocus evaluate``: scores, JSON, reference, bit depth and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from allfocus import io
from allfocus.cli.app import main
from allfocus.cli.exit_codes import ExitCode
from allfocus.fusion import fuse
from allfocus.metrics import evaluate, qabf
from allfocus.synth import synthetic_stack


@pytest.fixture
def scene():
    s = synthetic_stack((72, 88), 3, noise=0.003, rng=7)
    return s.frames, fuse(s.frames, channel_axis=-1).image, s.sharp


def _write(folder, frames, fused, sharp, scale=255, dtype=np.uint8, suffix=".png"):
    folder.mkdir()

    def save(name, image):
        path = folder / f"{name}{suffix}"
        data = np.round(np.clip(image, 0, 1) * scale).astype(dtype)
        if suffix == ".png":
            io.write_image(path, data)
        else:
            tifffile.imwrite(path, data, photometric="rgb")
        return path

    sources = [save(f"frame{k}", f) for k, f in enumerate(frames)]
    return sources, save("fused", fused), save("truth", sharp)


def _scores(capsys, args):
    capsys.readouterr()
    assert main(["evaluate", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_evaluate_prints_the_library_scores(tmp_path, scene, capsys):
    sources, fused, truth = _write(tmp_path / "s", *scene)
    repeated = [arg for p in sources for arg in ("-s", str(p))]
    args = [str(fused), *repeated, "--reference", str(truth)]
    scores = _scores(capsys, args)
    expected = evaluate(
        io.read_image(fused).array,
        [io.read_image(p).array for p in sources],
        reference=io.read_image(truth).array,
        channel_axis=-1,
    )
    assert list(scores) == list(expected)
    for key, value in expected.items():
        assert scores[key] == pytest.approx(value, abs=1e-9), key
    assert main(["evaluate", *args]) == 0
    table = capsys.readouterr().out
    assert "qabf" in table and "psnr" in table
    # a quoted glob pattern gives the same sources
    assert _scores(capsys, [str(fused), "-s", str(tmp_path / "s" / "frame*.png")]) == {
        k: v for k, v in scores.items() if k not in ("psnr", "ssim")
    }


def test_evaluate_qabf_border_zero_scores_as_the_matlab_code(tmp_path, scene, capsys):
    sources, fused, _ = _write(tmp_path / "s", *scene)
    args = [str(fused), "-s", str(tmp_path / "s" / "frame*.png")]
    plain = _scores(capsys, args)
    zero = _scores(capsys, [*args, "--qabf-border", "zero"])
    expected = qabf(
        io.read_image(fused).array,
        [io.read_image(p).array for p in sources],
        channel_axis=-1,
        border="zero",
    )
    assert zero["qabf"] == pytest.approx(expected, abs=1e-9)
    assert zero["qabf"] > plain["qabf"]  # the outline counts as a kept edge
    assert {k: v for k, v in zero.items() if k != "qabf"} == {
        k: v for k, v in plain.items() if k != "qabf"
    }
    capsys.readouterr()
    assert main(["evaluate", *args, "--qabf-border", "reflect"]) != 0
    assert "--qabf-border must be one of replicate, zero" in capsys.readouterr().err


def test_evaluate_scores_12_bit_files_as_16_bit_ones(tmp_path, scene, capsys):
    """12-bit camera data in 16-bit TIFFs scores as the same data written at 16 bits."""
    runs = []
    for name, scale in (("twelve", 4095), ("sixteen", 65535)):
        sources, fused, truth = _write(
            tmp_path / name, *scene, scale=scale, dtype=np.uint16, suffix=".tif"
        )
        runs.append(
            _scores(
                capsys,
                [
                    str(fused),
                    "-s",
                    str(sources[0].parent / "frame*.tif"),
                    "--reference",
                    str(truth),
                ],
            )
        )
    for key in runs[1]:
        # rounding to 4096 levels instead of 65536 moves the scores a little
        assert runs[0][key] == pytest.approx(runs[1][key], rel=0.01, abs=0.01), key


def test_evaluate_refuses_the_fused_image_among_its_sources(tmp_path, scene, capsys):
    _, fused, _ = _write(tmp_path / "s", *scene)
    capsys.readouterr()
    code = main(["evaluate", str(fused), "-s", str(tmp_path / "s" / "f*.png")])
    assert code == ExitCode.BAD_INPUT
    assert "among the sources" in capsys.readouterr().err


def test_evaluate_refuses_grey_against_colour(tmp_path, scene, capsys):
    frames, fused, sharp = scene
    sources, _, _ = _write(tmp_path / "s", frames, fused, sharp)
    grey = tmp_path / "grey.png"
    io.write_image(grey, np.round(fused.mean(-1) * 255).astype(np.uint8))
    capsys.readouterr()
    code = main(["evaluate", str(grey), "-s", str(sources[0]), "-s", str(sources[1])])
    assert code == ExitCode.BAD_INPUT
    assert "grey but the sources are colour" in capsys.readouterr().err
