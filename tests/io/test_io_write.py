"""write_image, to_dtype, output_dtype: bit depth, metadata, safety, atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from allfocus._core.errors import InputError, WriteError
from allfocus.io import (
    _write,
    check_output_path,
    output_dtype,
    read_image,
    read_stack,
    to_dtype,
    write_image,
)


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ----------------------------------------------------------------- dtype rules


@pytest.mark.parametrize(
    ("dtype", "ext", "expected"),
    [
        (np.uint8, ".png", np.uint8),
        (np.uint8, ".tif", np.uint8),
        (np.uint8, ".jpg", np.uint8),
        (np.uint16, ".png", np.uint16),
        (np.uint16, ".TIFF", np.uint16),
        (np.uint16, ".jpeg", np.uint8),
        (np.float32, ".tif", np.float32),
        (np.float32, ".png", np.uint16),
        (np.float32, ".jpg", np.uint8),
        (np.float64, ".tiff", np.float32),
    ],
)
def test_output_dtype(dtype, ext, expected):
    assert output_dtype(dtype, f"out{ext}") == expected


def test_output_dtype_unknown_extension():
    with pytest.raises(InputError, match=r"'\.bmp'.*\.jpg, \.jpeg, \.png, \.tif, \.tiff"):
        output_dtype(np.uint8, "out.bmp")


def test_to_dtype_rounds_and_clips():
    values = np.array([-0.5, 0.0, 0.5 / 255, 0.49, 0.5, 1.0, 1.5])
    np.testing.assert_array_equal(to_dtype(values, np.uint8), [0, 0, 0, 125, 128, 255, 255])
    np.testing.assert_array_equal(to_dtype(np.array([0.0, 0.5, 1.0]), np.uint16), [0, 32768, 65535])


def test_to_dtype_float_passthrough_and_integer_rescale():
    image = np.array([[0.25, 2.0]], np.float32)
    assert to_dtype(image, np.float32) is image
    np.testing.assert_array_equal(to_dtype(np.array([0, 255], np.uint8), np.uint16), [0, 65535])


def test_to_dtype_exact_for_16_bit():
    levels = np.arange(65536, dtype=np.uint16)
    np.testing.assert_array_equal(to_dtype(levels / 65535, np.uint16), levels)


def test_to_dtype_errors():
    with pytest.raises(InputError, match="NaN"):
        to_dtype(np.array([np.nan]), np.uint8)
    with pytest.raises(InputError, match="uint8, uint16 or float32"):
        to_dtype(np.zeros(3), np.int32)


# -------------------------------------------------------------- bit depth out


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_16_bit_in_gives_16_bit_out(tmp_path, ext):
    image = np.linspace(0, 1, 6 * 8 * 3).reshape(6, 8, 3)
    path = write_image(tmp_path / f"x.{ext}", image, dtype=np.uint16)
    stored = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert stored.dtype == np.uint16
    np.testing.assert_array_equal(stored[..., ::-1], to_dtype(image, np.uint16))


def test_float_image_defaults_to_8_bit(tmp_path):
    path = write_image(tmp_path / "x.png", np.full((4, 5), 0.5))
    assert read_image(path).array.dtype == np.uint8


def test_jpeg_is_always_8_bit(tmp_path, make_image):
    image = make_image((6, 8, 3), np.uint16)
    path = write_image(tmp_path / "x.jpg", image, dtype=np.uint16)
    assert read_image(path).array.dtype == np.uint8


def test_float_tiff_out(tmp_path, make_image):
    image = make_image((6, 8), np.float32)
    path = write_image(tmp_path / "x.tif", image, dtype=np.float32)
    stored = tifffile.imread(path)
    assert stored.dtype == np.float32
    np.testing.assert_array_equal(stored, image)


def test_single_channel_axis_is_grey(tmp_path, make_image):
    image = make_image((6, 8, 1))
    path = write_image(tmp_path / "x.png", image)
    np.testing.assert_array_equal(read_image(path).array, image[..., 0])


def test_stack_round_trip_keeps_depth_and_metadata(tmp_path, make_image, srgb_icc):
    """What the pipeline does: read a 16-bit stack, write the result like the inputs."""
    exif = Image.Exif()
    exif[271] = "Cam"
    for i in range(3):
        write_image(
            tmp_path / f"f{i}.tif",
            make_image((6, 8, 3), np.uint16),
            icc=srgb_icc,
            exif=exif.tobytes(),
        )
    stack = read_stack([tmp_path])
    out = tmp_path / "out" / "fused.png"
    out.parent.mkdir()
    write_image(
        out,
        stack.frames.mean(axis=0) / 65535,
        dtype=output_dtype(stack.dtype, out),
        icc=stack.icc,
        exif=stack.exif,
        inputs=stack.paths,
    )
    result = read_image(out)
    assert result.array.dtype == np.uint16
    assert result.icc == srgb_icc
    loaded = Image.Exif()
    loaded.load(result.exif)
    assert loaded[271] == "Cam"


# -------------------------------------------------------------------- metadata


def test_exif_written_with_orientation_reset_and_size_updated(tmp_path, smooth_rgb):
    exif = Image.Exif()
    exif[271] = "Cam"
    exif[274] = 6
    exif[0x8769] = {0x829A: IFDRational(1, 125), 0xA002: 24, 0xA003: 40}
    path = write_image(tmp_path / "x.jpg", smooth_rgb, exif=exif.tobytes())
    with Image.open(path) as im:
        written = im.getexif()
        assert written[271] == "Cam"
        assert written[274] == 1
        sub = written.get_ifd(0x8769)
    assert sub[0x829A] == 1 / 125
    assert (sub[0xA002], sub[0xA003]) == (40, 24)


def test_tiff_keeps_basic_exif_tags(tmp_path, make_image):
    exif = Image.Exif()
    exif[271] = "Cam"
    exif[0x8298] = "Me"
    path = write_image(tmp_path / "x.tif", make_image(), exif=exif.tobytes())
    with tifffile.TiffFile(path) as tif:
        tags = tif.pages.first.tags
        assert tags[271].value == "Cam"
        assert tags[0x8298].value == "Me"


def test_icc_of_wrong_kind_dropped(tmp_path, make_image, srgb_icc):
    with pytest.warns(UserWarning, match="ICC profile is for colour.*dropped"):
        path = write_image(tmp_path / "x.png", make_image((6, 8)), icc=srgb_icc)
    assert read_image(path).icc is None


def test_jpeg_drops_alpha(tmp_path, make_image):
    with pytest.warns(UserWarning, match="no alpha channel"):
        path = write_image(tmp_path / "x.jpg", make_image((6, 8, 4)))
    assert read_image(path).array.shape == (6, 8, 3)


# ------------------------------------------------------------ refused writes


def test_unsupported_extension(tmp_path, make_image):
    with pytest.raises(InputError, match=r"out\.bmp.*choose one of"):
        write_image(tmp_path / "out.bmp", make_image())


def test_missing_folder(tmp_path, make_image):
    with pytest.raises(WriteError, match=r"folder .*nowhere.* does not exist"):
        write_image(tmp_path / "nowhere" / "out.png", make_image())


def test_unwritable_folder(tmp_path, make_image, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(_write.os, "open", refuse)
    with pytest.raises(WriteError, match=r"out\.png.*Permission denied.*writable"):
        write_image(tmp_path / "out.png", make_image())


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_read_only_folder(tmp_path, make_image):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(WriteError, match="writable"):
            write_image(folder / "out.png", make_image())
    finally:
        folder.chmod(0o755)


def test_output_is_an_input(tmp_path, make_image):
    frame = write_image(tmp_path / "frame.png", make_image())
    before = frame.read_bytes()
    same = tmp_path / "sub" / ".." / "frame.png"
    (tmp_path / "sub").mkdir()
    with pytest.raises(InputError, match=r"frame\.png.*is one of the input frames"):
        write_image(same, make_image(), inputs=[frame], overwrite=True)
    assert frame.read_bytes() == before


def test_output_is_an_input_through_a_link(tmp_path, make_image):
    frame = write_image(tmp_path / "frame.png", make_image())
    link = tmp_path / "link.png"
    link.symlink_to(frame)
    with pytest.raises(InputError, match="is one of the input frames"):
        write_image(link, make_image(), inputs=[frame], overwrite=True)


def test_existing_output_needs_overwrite(tmp_path, make_image):
    first, second = make_image(), make_image()
    path = write_image(tmp_path / "out.png", first)
    with pytest.raises(InputError, match=r"out\.png.*exists; pass --overwrite"):
        write_image(path, second)
    np.testing.assert_array_equal(read_image(path).array, first)
    write_image(path, second, overwrite=True)
    np.testing.assert_array_equal(read_image(path).array, second)


@pytest.mark.parametrize(
    ("image", "match"),
    [(np.zeros((4, 5, 2)), "shape"), (np.zeros((4,)), "shape"), (np.zeros((3, 3), "U1"), "dtype")],
)
def test_bad_image(tmp_path, image, match):
    with pytest.raises(InputError, match=match):
        write_image(tmp_path / "x.png", image)


def test_bad_quality(tmp_path, make_image):
    with pytest.raises(InputError, match="quality"):
        write_image(tmp_path / "x.jpg", make_image(), quality=0)


# --------------------------------------------------------------------- atomic


def test_success_leaves_only_the_output(tmp_path, make_image):
    write_image(tmp_path / "out.tif", make_image())
    assert listing(tmp_path) == ["out.tif"]
    umask = os.umask(0)
    os.umask(umask)
    mode = (tmp_path / "out.tif").stat().st_mode & 0o777
    assert mode == 0o666 & ~umask  # created like any file, not private like mkstemp


@pytest.mark.parametrize("error", [RuntimeError("encoder bug"), KeyboardInterrupt()])
def test_failed_encoder_leaves_no_temporary_file(tmp_path, make_image, monkeypatch, error):
    old = make_image()
    path = write_image(tmp_path / "out.tif", old)

    def broken(fp, *args, **kwargs):
        fp.write(b"II*\x00partial")
        raise error

    monkeypatch.setattr(tifffile, "imwrite", broken)
    with pytest.raises(type(error)):
        write_image(path, make_image(), overwrite=True)
    assert listing(tmp_path) == ["out.tif"]
    np.testing.assert_array_equal(read_image(path).array, old)  # old file intact


def test_os_error_while_writing_is_write_error(tmp_path, make_image, monkeypatch):
    def disk_full(fp, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setitem(_write._ENCODERS, "PNG", disk_full)
    with pytest.raises(WriteError, match=r"out\.png.*No space left"):
        write_image(tmp_path / "out.png", make_image())
    assert listing(tmp_path) == []


def test_check_output_path_runs_before_any_work(tmp_path, make_image):
    frame = write_image(tmp_path / "frame.png", make_image())
    assert check_output_path(tmp_path / "new.tif", inputs=[frame]) == tmp_path / "new.tif"
    with pytest.raises(InputError, match="is one of the input frames"):
        check_output_path(frame, inputs=[frame], overwrite=True)
    with pytest.raises(InputError, match="exists; pass --overwrite"):
        check_output_path(frame)
    with pytest.raises(InputError, match="choose one of"):
        check_output_path(tmp_path / "x.gif")
    with pytest.raises(WriteError, match="does not exist"):
        check_output_path(tmp_path / "no" / "x.png")
    assert listing(tmp_path) == ["frame.png"]
