"""The ``allfocus`` command: success paths, exit codes and every bad input of the issue."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile

from allfocus import io
from allfocus.cli.app import main
from allfocus.cli.exit_codes import ExitCode


def frames_of(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.glob("frame_*.png"))


def test_fuse_folder_writes_image_and_depth(synthetic_dir, tmp_path, capsys):
    out, depth = tmp_path / "fused.png", tmp_path / "depth.tif"
    frames_dir = tmp_path / "frames"
    frames_dir.mkdir()
    for f in frames_of(synthetic_dir):
        shutil.copy(f, frames_dir)
    code = main(["fuse", str(frames_dir), "-o", str(out), "--depth-map", str(depth)])
    assert code == 0, capsys.readouterr().err
    fused = io.read_image(out).array
    assert fused.shape == (96, 128, 3) and fused.dtype == np.uint8
    d = tifffile.imread(depth)
    assert d.dtype == np.float32 and d.shape == (96, 128)
    assert 0 <= d.min() and d.max() <= 3
    err = capsys.readouterr().err
    assert "wrote" in err and "in memory)" in err  # how it was fused
    assert "frames' folder" not in err


def test_output_among_the_frames_is_noted(synthetic_dir, tmp_path, capsys):
    """An output written into the frames' folder would be a frame of the next fusion of it."""
    frames_dir = tmp_path / "frames"
    frames_dir.mkdir()
    for f in frames_of(synthetic_dir):
        shutil.copy(f, frames_dir)
    out = frames_dir / "fused.png"
    assert main(["fuse", str(frames_dir), "-o", str(out), "--align", "none"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "fused.png went into the frames' folder" in err
    assert "one more frame" in err
    # ... and it does: the next fusion of the folder counts one frame more
    assert (
        main(["fuse", str(frames_dir), "-o", str(tmp_path / "again.png"), "--align", "none"]) == 0
    )
    assert "fused 5 frames" in capsys.readouterr().err


def test_fuse_glob_and_methods_listing(synthetic_dir, tmp_path, capsys):
    out = tmp_path / "fused.tif"
    pattern = str(synthetic_dir / "frame_*.png")
    assert main(["fuse", pattern, "-o", str(out), "--method", "pyramid", "-q"]) == 0
    assert out.exists()
    assert capsys.readouterr().err == ""
    assert main(["methods"]) == 0
    listing = capsys.readouterr().out
    for name in ("pyramid", "guided", "depthmap"):
        assert name in listing


def test_existing_output_needs_overwrite(synthetic_dir, tmp_path, capsys):
    out = tmp_path / "fused.png"
    out.write_bytes(b"keep me")
    code = main(["fuse", *frames_of(synthetic_dir), "-o", str(out)])
    assert code == ExitCode.BAD_INPUT
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"
    assert main(["fuse", *frames_of(synthetic_dir), "-o", str(out), "--overwrite", "-q"]) == 0
    assert out.read_bytes() != b"keep me"


def test_sixteen_bit_in_sixteen_bit_out(tmp_path):
    from allfocus.synth.files import write_synthetic_stack

    write_synthetic_stack(tmp_path / "s16", num_frames=3, shape=(64, 64), bits=16, seed=1)
    out = tmp_path / "fused.tif"
    assert main(["fuse", str(tmp_path / "s16" / "frame_*.png"), "-o", str(out), "-q"]) == 0
    assert io.read_image(out).array.dtype == np.uint16


@pytest.mark.parametrize("method", ["depthmap", "gacn"])
def test_rgba_frames_give_an_rgba_image(method, tmp_path, capsys):
    """PNG frames with an alpha channel, fused with the defocus model on (it once
    stopped with an OpenCV error on them)."""
    from allfocus.synth import synthetic_stack

    stack = synthetic_stack((160, 200), 5, noise=0.002, rng=5)
    for k, frame in enumerate(stack.frames):
        rgba = np.concatenate([frame, np.ones_like(frame[..., :1])], axis=-1)
        io.write_image(tmp_path / f"frame_{k}.png", (rgba * 255).round().astype(np.uint8))
    out = tmp_path / "fused.png"
    code = main(["fuse", str(tmp_path / "frame_*.png"), "-o", str(out), "--method", method, "-q"])
    assert code == 0, capsys.readouterr().err
    fused = io.read_image(out).array
    assert fused.ndim == 3 and fused.shape[2] == 4 and fused[..., 3].min() == 255


@pytest.mark.parametrize(
    ("make", "code", "message"),
    [
        ("missing", ExitCode.IO_ERROR, "no such file"),
        ("empty_folder", ExitCode.BAD_INPUT, "no image"),
        ("one_frame", ExitCode.BAD_INPUT, "at least 2 frames"),
        ("sizes", ExitCode.BAD_INPUT, "size"),
        ("not_image", ExitCode.IO_ERROR, "bad.png"),
        ("empty_file", ExitCode.IO_ERROR, "empty.png"),
        ("truncated", ExitCode.IO_ERROR, "trunc.png"),
        ("nan", ExitCode.BAD_INPUT, "NaN"),
        ("float_units", ExitCode.BAD_INPUT, "must lie in [0, 1]"),
        ("float_units_streaming", ExitCode.BAD_INPUT, "must lie in [0, 1]"),
        ("out_folder_missing", ExitCode.IO_ERROR, "folder"),
        ("out_is_input", ExitCode.BAD_INPUT, "input"),
        ("bad_method", ExitCode.BAD_INPUT, "choose one of"),
        ("bad_extension", ExitCode.BAD_INPUT, ".bmp"),
    ],
)
def test_bad_input_exit_codes(make, code, message, synthetic_dir, tmp_path, capsys):
    frames = frames_of(synthetic_dir)[:2]
    out = tmp_path / "out.png"
    extra: list[str] = []
    if make == "missing":
        frames = [*frames, str(tmp_path / "nope.png")]
    elif make == "empty_folder":
        (tmp_path / "empty").mkdir()
        frames = [str(tmp_path / "empty")]
    elif make == "one_frame":
        frames = frames[:1]
    elif make == "sizes":
        small = tmp_path / "small.png"
        io.write_image(small, np.zeros((10, 10, 3), np.float32))
        frames = [*frames, str(small)]
    elif make == "not_image":
        bad = tmp_path / "bad.png"
        bad.write_text("this is not a picture")
        frames = [*frames, str(bad)]
    elif make == "empty_file":
        empty = tmp_path / "empty.png"
        empty.write_bytes(b"")
        frames = [*frames, str(empty)]
    elif make == "truncated":
        data = Path(frames[0]).read_bytes()
        trunc = tmp_path / "trunc.png"
        trunc.write_bytes(data[: len(data) // 2])
        frames = [*frames, str(trunc)]
    elif make == "nan":
        a = np.full((8, 8), 0.5, np.float32)
        b = a.copy()
        b[2, 2] = np.nan
        tifffile.imwrite(tmp_path / "a.tif", a)
        tifffile.imwrite(tmp_path / "b.tif", b)
        frames = [str(tmp_path / "a.tif"), str(tmp_path / "b.tif")]
    elif make.startswith("float_units"):
        # Floating-point frames in other units (0-4095 counts) once fused to a white image.
        ramp = np.linspace(0, 4095, 64 * 64, dtype=np.float32).reshape(64, 64)
        tifffile.imwrite(tmp_path / "a.tif", ramp)
        tifffile.imwrite(tmp_path / "b.tif", ramp[::-1].copy())
        frames = [str(tmp_path / "a.tif"), str(tmp_path / "b.tif")]
        out = tmp_path / "out.tif"
        extra = ["--streaming"] if make.endswith("streaming") else []
    elif make == "out_folder_missing":
        out = tmp_path / "no" / "such" / "out.png"
    elif make == "out_is_input":
        copy = tmp_path / "f0.png"
        shutil.copy(frames[0], copy)
        frames = [str(copy), frames[1]]
        out = copy
    elif make == "bad_method":
        extra = ["--method", "nonsense"]
    elif make == "bad_extension":
        out = tmp_path / "out.bmp"
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    result = main(["fuse", *frames, "-o", str(out), "--align", "none", *extra])
    err = capsys.readouterr().err
    assert result == code, err
    assert message.lower() in err.lower()
    after = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before, "a failed run must not write or touch any file"


def test_mixed_grey_and_colour_is_converted_with_warning(synthetic_dir, tmp_path, capsys):
    grey = tmp_path / "grey.png"
    colour = io.read_image(frames_of(synthetic_dir)[0]).array
    io.write_image(grey, colour.mean(axis=2).astype(np.uint8))
    out = tmp_path / "out.png"
    with pytest.warns(UserWarning, match="grey"):
        code = main(["fuse", frames_of(synthetic_dir)[1], str(grey), "-o", str(out), "-q"])
    assert code == 0, capsys.readouterr().err
    assert io.read_image(out).array.shape[-1] == 3


def test_usage_error_is_exit_2(capsys):
    assert main(["fuse"]) == 2
    assert main(["no-such-command"]) == 2


def test_sample_command(tmp_path, capsys):
    assert main(["sample", str(tmp_path / "s")]) == 0
    printed = capsys.readouterr().out
    assert "fused.png" in printed and "depth.png" in printed
    assert (tmp_path / "s" / "fused.png").exists()
    assert (tmp_path / "s" / "depth.png").exists()


def test_synth_command(tmp_path, capsys):
    assert main(["synth", str(tmp_path / "st"), "-n", "3", "--width", "40", "--height", "30"]) == 0
    names = sorted(p.name for p in (tmp_path / "st").iterdir())
    assert names == ["frame_00.png", "frame_01.png", "frame_02.png", "truth"]
    truth = sorted(p.name for p in (tmp_path / "st" / "truth").iterdir())
    assert truth == ["depth.tif", "sharp.png"]
    # The folder fuses as it is: the ground truth is not taken for a frame.
    capsys.readouterr()
    assert main(["fuse", str(tmp_path / "st"), "-o", str(tmp_path / "f.png")]) == 0
    assert "3 frames" in capsys.readouterr().err


def test_synth_label_scene(tmp_path, capsys):
    out = tmp_path / "label"
    assert (
        main(
            [
                "synth",
                str(out),
                "-n",
                "3",
                "--width",
                "64",
                "--height",
                "48",
                "--scene",
                "label",
                "-q",
            ]
        )
        == 0
    )
    sharp = io.read_image(out / "truth" / "sharp.png").array
    assert len(np.unique(sharp[..., 2])) <= 8  # flat print, not a texture


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-n", "1"], "at least 2 frames"),
        (["--noise", "-0.01"], "noise must lie in"),
        (["--scene", "barcode"], "scene must be one of"),
    ],
)
def test_synth_bad_options_leave_no_folder(tmp_path, capsys, args, message):
    out = tmp_path / "st"
    assert main(["synth", str(out), *args]) == ExitCode.BAD_INPUT
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_unknown_restore_method_is_exit_2_even_without_restore(synthetic_dir, tmp_path, capsys):
    out = tmp_path / "out.png"
    args = ["fuse", str(synthetic_dir), "-o", str(out), "--restore-method", "sharpest", "-q"]
    assert main(args) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert "sharpest" in err and "defocus" in err
    assert not out.exists()


def test_no_defocus_model_gives_the_plain_decision_map(synthetic_dir, tmp_path, capsys):
    from allfocus.fusion import fuse as fuse_array
    from allfocus.metrics import psnr

    frames = frames_of(synthetic_dir)
    out = tmp_path / "plain.tif"
    args = ["fuse", *frames, "-o", str(out), "--align", "none", "--no-exposure-match", "-q"]
    assert main([*args, "--no-defocus-model"]) == 0, capsys.readouterr().err
    stack = np.stack([io.read_image(f).array for f in frames])
    plain = fuse_array(stack, channel_axis=-1, unmix_rims=False, sharpen_between=False).image
    written = io.read_image(out).array.astype(np.float32) / 255
    default = tmp_path / "default.tif"
    assert main(["fuse", *frames, "-o", str(default), *args[-4:-1], "-q"]) == 0
    modelled = io.read_image(default).array.astype(np.float32) / 255
    # without the model the stack is streamed: the plain map up to the
    # streaming differences (tests/fusion/test_streaming.py)
    assert psnr(written, plain, channel_axis=-1) > 45
    assert np.abs(modelled - written).max() > 2 / 255


def test_weights_apply_to_gacn_only(synthetic_dir, tmp_path, capsys):
    out = tmp_path / "fused.png"
    code = main(["fuse", *frames_of(synthetic_dir), "-o", str(out), "--weights", "gacn_v1"])
    assert code == ExitCode.BAD_INPUT
    assert "--weights applies to --method gacn only" in capsys.readouterr().err
    assert not out.exists()


def test_weights_choose_the_network(synthetic_dir, tmp_path, capsys):
    pytest.importorskip("torch")
    outs = {w: tmp_path / f"{w}.png" for w in ("gacn_v1", "gacn_v3")}
    for w, out in outs.items():
        args = ["fuse", *frames_of(synthetic_dir), "-o", str(out), "-m", "gacn", "--weights", w]
        assert main([*args, "--align", "none", "-q"]) == 0, capsys.readouterr().err
    images = [io.read_image(p).array.astype(int) for p in outs.values()]
    assert np.abs(images[0] - images[1]).max() > 0  # other weights, other decisions
    missing = tmp_path / "missing.pt"
    bad = ["-o", str(tmp_path / "m.png"), "-m", "gacn", "--weights", str(missing)]
    code = main(["fuse", *frames_of(synthetic_dir), *bad, "--align", "none"])
    assert code == ExitCode.IO_ERROR
    assert "weight file not found" in capsys.readouterr().err
    assert not (tmp_path / "m.png").exists()


def _packages_imported_by(fusion: str, package: str) -> list[str]:
    """Modules of ``package`` imported by a fresh interpreter that loads the command
    line and runs ``fusion`` (a statement on ``stack``, three 64 x 64 colour frames)."""
    import ast
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "import allfocus.cli.app\n"
        "from allfocus.fusion import fuse\n"
        "rng = np.random.default_rng(0)\n"
        "stack = rng.random((3, 64, 64, 3)).astype(np.float32)\n"
        f"{fusion}\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] == {package!r}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return ast.literal_eval(done.stdout.strip())


def test_command_line_fuse_does_not_import_scipy():
    # Importing scipy.ndimage and scipy.fft took up to 0.55 s of a 1.15 s
    # command fusing one pair; nothing on the default path needs them.
    assert _packages_imported_by("fuse(stack, method='depthmap', channel_axis=-1)", "scipy") == []


def test_command_line_gacn_does_not_import_torch():
    # Importing torch took about 1.5 s of a 2.5 s gacn command on a pair; the
    # shipped weights run on OpenCV's dnn module (their ONNX export).
    fusion = (
        "fuse(stack, method='gacn', channel_axis=-1)\n"
        "fuse(stack[:2], method='gacn', channel_axis=-1)"
    )
    assert _packages_imported_by(fusion, "torch") == []


def test_error_messages_keep_square_brackets(synthetic_dir, tmp_path, capsys, monkeypatch):
    # The console's markup took "[learned]" for a style and printed the install
    # hint as "pip install 'allfocus'"; file names with brackets lost them too.
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)
    for name in [m for m in sys.modules if m.startswith("allfocus.nn")]:
        monkeypatch.delitem(sys.modules, name)
    weights = tmp_path / "run[2].pt"
    weights.write_bytes(b"not read: torch is missing")
    out = tmp_path / "m.png"
    args = ["fuse", *frames_of(synthetic_dir), "-o", str(out), "-m", "gacn", "--align", "none"]
    assert main([*args, "--weights", str(weights)]) != 0
    assert "pip install 'allfocus[learned]'" in capsys.readouterr().err
    assert not out.exists()
    missing = tmp_path / "shot[1].png"
    assert main(["fuse", str(missing), *frames_of(synthetic_dir), "-o", str(out)]) != 0
    assert "shot[1].png" in capsys.readouterr().err
