"""``allfocus align`` and reuse of its transforms by ``allfocus fuse --transforms``."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import numpy as np

from allfocus import io
from allfocus.cli.app import main
from allfocus.cli.exit_codes import ExitCode

SAMPLE = Path(str(files("allfocus.data") / "sample"))


def test_align_writes_frames_and_transforms(tmp_path, capsys):
    out = tmp_path / "aligned"
    assert main(["align", str(SAMPLE), "-o", str(out)]) == 0, capsys.readouterr().err
    entries = json.loads((out / "transforms.json").read_text())
    assert [e["file"] for e in entries] == [f"frame_{k}.jpg" for k in range(1, 7)]
    matrices = np.array([e["matrix"] for e in entries])
    np.testing.assert_allclose(matrices[3], np.eye(3))  # the middle frame is the reference
    # The sample was made with 1.2 % focus breathing end to end.
    scales = np.sqrt(np.abs(np.linalg.det(matrices[:, :2, :2])))
    assert scales.max() / scales.min() > 1.008
    frames = sorted(out.glob("frame_*.tif"))
    assert len(frames) == 6
    shapes = {io.read_image(f).array.shape for f in frames}
    assert len(shapes) == 1


def test_saved_transforms_are_reused_by_fuse(tmp_path, capsys):
    out = tmp_path / "aligned"
    assert main(["align", str(SAMPLE), "-o", str(out), "-q"]) == 0
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert main(["fuse", str(SAMPLE), "-o", str(a), "-q"]) == 0
    assert (
        main(
            ["fuse", str(SAMPLE), "-o", str(b), "--transforms", str(out / "transforms.json"), "-q"]
        )
        == 0
    )
    ia, ib = io.read_image(a).array.astype(float), io.read_image(b).array.astype(float)
    assert ia.shape == ib.shape
    assert np.abs(ia - ib).mean() < 1.0


def test_align_refuses_existing_outputs(tmp_path, capsys):
    out = tmp_path / "aligned"
    assert main(["align", str(SAMPLE), "-o", str(out), "-q"]) == 0
    assert main(["align", str(SAMPLE), "-o", str(out), "-q"]) == ExitCode.BAD_INPUT
    assert "--overwrite" in capsys.readouterr().err
    assert main(["align", str(SAMPLE), "-o", str(out), "-q", "--overwrite"]) == 0


def test_align_refuses_to_write_among_its_inputs(tmp_path, capsys):
    """Aligned frames written beside the originals would make the folder a stack twice over."""
    import shutil

    stack = tmp_path / "stack"
    shutil.copytree(SAMPLE, stack)
    before = sorted(p.name for p in stack.iterdir())
    for args in ([str(stack)], [str(stack / "frame_*.jpg")]):
        capsys.readouterr()
        code = main(["align", *args, "-o", str(stack), "-q", "--overwrite"])
        assert code == ExitCode.BAD_INPUT
        assert "holds the input frames" in capsys.readouterr().err
    assert sorted(p.name for p in stack.iterdir()) == before  # nothing written


def test_transforms_for_another_stack_are_rejected(tmp_path, synthetic_dir, capsys):
    out = tmp_path / "aligned"
    assert main(["align", str(SAMPLE), "-o", str(out), "-q"]) == 0
    code = main(
        [
            "fuse",
            str(synthetic_dir / "frame_*.png"),
            "-o",
            str(tmp_path / "x.png"),
            "--transforms",
            str(out / "transforms.json"),
        ]
    )
    assert code == ExitCode.BAD_INPUT
    assert "transforms" in capsys.readouterr().err
