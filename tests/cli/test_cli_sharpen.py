"""``allfocus sharpen``: IO rules, methods, defocus map, errors."""

from __future__ import annotations

import numpy as np
import tifffile

from allfocus import io
from allfocus.cli.app import main
from allfocus.cli.exit_codes import ExitCode
from allfocus.synth import synthetic_stack


def _photo(tmp_path, bits=8):
    s = synthetic_stack((80, 96), 3, rng=5, max_radius=8)
    path = tmp_path / ("photo.png" if bits == 8 else "photo16.png")
    io.write_image(path, s.frames[1], dtype=np.uint8 if bits == 8 else np.uint16)
    return path


def test_sharpen_default_writes_image_and_map(tmp_path, capsys):
    src = _photo(tmp_path)
    out, dmap = tmp_path / "out.png", tmp_path / "map.tif"
    assert main(["sharpen", str(src), "-o", str(out), "--defocus-map", str(dmap)]) == 0
    assert io.read_image(out).array.shape == (80, 96, 3)
    radius = tifffile.imread(dmap)
    assert radius.dtype == np.float32 and radius.shape == (80, 96) and radius.max() > 0.5


def test_sharpen_keeps_sixteen_bits_and_every_method_runs(tmp_path, capsys):
    import importlib.util

    from allfocus.restore import list_methods

    src = _photo(tmp_path, bits=16)
    for method in list_methods():
        if method == "learned" and importlib.util.find_spec("torch") is None:
            continue
        out = tmp_path / f"{method}.tif"
        assert main(["sharpen", str(src), "-o", str(out), "-m", method, "-q"]) == 0, method
        assert io.read_image(out).array.dtype == np.uint16


def test_sharpen_errors(tmp_path, capsys):
    src = _photo(tmp_path)
    assert main(["sharpen", str(src), "-o", str(src)]) == ExitCode.BAD_INPUT
    assert main(["sharpen", str(src), "-o", str(tmp_path / "o.png"), "-m", "nope"]) == 2
    code = main(
        [
            "sharpen",
            str(src),
            "-o",
            str(tmp_path / "o.png"),
            "-m",
            "clahe",
            "--defocus-map",
            str(tmp_path / "m.tif"),
        ]
    )
    assert code == ExitCode.BAD_INPUT
    assert "defocus" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()
    assert main(["sharpen", str(tmp_path / "missing.png"), "-o", str(tmp_path / "o.png")]) == 3


def test_keep_colours_keeps_the_photos_colour_differences(tmp_path, capsys):
    import pytest

    pytest.importorskip("torch")
    from allfocus._core.validate import luminance

    src = _photo(tmp_path, bits=16)
    own, kept = tmp_path / "own.tif", tmp_path / "kept.tif"
    base = ["sharpen", str(src), "-m", "learned", "-q", "-o"]
    assert main([*base, str(own)]) == 0
    assert main([*base, str(kept), "--keep-colours"]) == 0
    photo = io.read_image(src).array.astype(np.float64) / 65535
    out_own, out_kept = (io.read_image(p).array.astype(np.float64) / 65535 for p in (own, kept))

    def hue_shift(img):
        # angle between the colour-difference vectors (R-Y, G-Y, B-Y) of img and the photo
        a = img - luminance(img, color=True)[..., None]
        b = photo - luminance(photo, color=True)[..., None]
        cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
        return np.degrees(np.arccos(np.clip(cos, -1, 1)))

    # only the luma moves (and saturation where a colour would leave the
    # gamut): hue stays the photo's, up to 16-bit rounding, unlike the
    # network's own colour
    coloured = np.linalg.norm(photo - luminance(photo, color=True)[..., None], axis=-1) > 0.05
    assert coloured.mean() > 0.2
    kept_shift = np.percentile(hue_shift(out_kept)[coloured], 99)
    own_shift = np.percentile(hue_shift(out_own)[coloured], 99)
    assert kept_shift < 0.5 < own_shift
