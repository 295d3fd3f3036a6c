"""iter_frames: the same frames, checks and warnings as read_stack, one frame at a time."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest
import tifffile
from PIL import Image

from allfocus._core.errors import InputError, ReadError
from allfocus.io import iter_frames, read_stack, write_image


def _same_as_read_stack(inputs, prefetch=1):
    with warnings.catch_warnings(record=True) as expected_warnings:
        warnings.simplefilter("always")
        expected = read_stack(inputs)
    with warnings.catch_warnings(record=True) as got_warnings:
        warnings.simplefilter("always")
        stream = iter_frames(inputs, prefetch=prefetch)
    assert [str(w.message) for w in got_warnings] == [str(w.message) for w in expected_warnings]
    assert len(stream) == expected.frames.shape[0]
    assert stream.names == expected.names
    assert stream.paths == expected.paths
    assert stream.dtype == expected.dtype
    assert stream.channel_axis == expected.channel_axis
    assert stream.shape == expected.frames.shape[1:]
    assert stream.reference == expected.reference
    with stream:
        frames = list(stream)
    np.testing.assert_array_equal(np.stack(frames), expected.frames)
    assert stream.icc == expected.icc
    assert stream.exif == expected.exif


@pytest.mark.parametrize("prefetch", [0, 1, 3])
def test_colour_jpeg_folder(tmp_path, smooth_rgb, srgb_icc, prefetch):
    exif = Image.Exif()
    exif[271] = "cam"
    for i in range(3):
        write_image(
            tmp_path / f"f{i}.jpg",
            np.roll(smooth_rgb, i, axis=1),
            icc=srgb_icc,
            exif=exif.tobytes(),
        )
    _same_as_read_stack([tmp_path], prefetch=prefetch)


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_exif_orientation(tmp_path, smooth_rgb, orientation):
    for i in range(2):
        exif = Image.Exif()
        exif[0x0112] = orientation
        Image.fromarray(np.roll(smooth_rgb, i, axis=0)).save(
            tmp_path / f"f{i}.jpg", exif=exif.tobytes(), quality=90
        )
    _same_as_read_stack([tmp_path])


@pytest.mark.parametrize(
    ("shape", "dtype", "suffix"),
    [
        ((6, 8), np.uint8, ".png"),
        ((6, 8), np.uint16, ".png"),
        ((6, 8, 3), np.uint16, ".png"),
        ((6, 8, 4), np.uint8, ".png"),
        ((6, 8, 3), np.uint16, ".tif"),
        ((6, 8), np.float32, ".tif"),
        ((6, 8), np.uint8, ".jpg"),
    ],
)
def test_formats(tmp_path, make_image, shape, dtype, suffix):
    for i in range(3):
        write_image(tmp_path / f"f{i}{suffix}", make_image(shape, dtype), dtype=dtype)
    _same_as_read_stack([tmp_path])


def test_multipage_tiff(tmp_path, make_image):
    tifffile.imwrite(
        tmp_path / "stack.tif", make_image((4, 5, 6), np.uint16), photometric="minisblack"
    )
    _same_as_read_stack([tmp_path / "stack.tif"])


@pytest.mark.parametrize(
    ("first", "second", "match"),
    [
        (((6, 8, 3), np.uint8), ((6, 8), np.uint8), "grey and colour"),
        (((6, 8, 3), np.uint8), ((6, 8, 4), np.uint8), "RGB and RGBA"),
        (((6, 8), np.uint8), ((6, 8), np.uint16), "8-bit and 16-bit"),
    ],
)
def test_mixed_frames_warn_and_convert_like_read_stack(tmp_path, make_image, first, second, match):
    write_image(tmp_path / "a.png", make_image(*first))
    write_image(tmp_path / "b.tif", make_image(*second), dtype=second[1])
    with pytest.warns(UserWarning, match=match):
        iter_frames([tmp_path]).close()
    _same_as_read_stack([tmp_path])


def test_sizes_checked_before_decoding(tmp_path, make_image):
    write_image(tmp_path / "a.png", make_image((5, 8)))
    for name in ("b", "c"):
        write_image(tmp_path / f"{name}.png", make_image((6, 8)))
    with pytest.raises(InputError, match=r"a\.png is 8x5 pixels but b\.png"):
        iter_frames([tmp_path])


def test_too_few_frames(tmp_path, make_image):
    write_image(tmp_path / "a.png", make_image())
    with pytest.raises(InputError, match="at least 2 frames"):
        iter_frames([tmp_path])


def test_empty_file_fails_at_once(tmp_path, make_image):
    write_image(tmp_path / "a.png", make_image())
    (tmp_path / "b.png").write_bytes(b"")
    with pytest.raises(ReadError, match=r"b\.png.*empty"):
        iter_frames([tmp_path])


def test_damaged_frame_raises_while_iterating(tmp_path, make_image):
    for name in ("a", "b", "c"):
        write_image(tmp_path / f"{name}.jpg", make_image((60, 80)))
    data = (tmp_path / "b.jpg").read_bytes()
    (tmp_path / "b.jpg").write_bytes(data[: len(data) // 2])  # header intact, pixels cut
    stream = iter_frames([tmp_path])
    first = next(stream)
    assert first.shape == (60, 80)
    with pytest.raises(ReadError, match=r"b\.jpg"):
        next(stream)
    with pytest.raises(StopIteration):
        next(stream)


def test_close_stops_the_reader(tmp_path, make_image):
    for i in range(6):
        write_image(tmp_path / f"f{i}.png", make_image((6, 8)))
    before = threading.active_count()
    with iter_frames([tmp_path], prefetch=2) as stream:
        next(stream)
    assert threading.active_count() == before
    with pytest.raises(StopIteration):
        next(stream)


def test_bad_prefetch(tmp_path, make_image):
    for i in range(2):
        write_image(tmp_path / f"f{i}.png", make_image())
    with pytest.raises(InputError, match="prefetch"):
        iter_frames([tmp_path], prefetch=-1)
