"""BMP input: read by content through Pillow, in read_image, read_stack, iter_frames, folders."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from PIL import Image

from allfocus._core.errors import InputError, ReadError
from allfocus.io import find_frames, iter_frames, read_frames, read_image, read_stack


def bmp_bytes(
    width: int,
    height: int,
    bits: int,
    *,
    compression: int = 0,
    extra: bytes = b"",
    header_size: int = 40,
    pixels: bytes = b"",
) -> bytes:
    """A BMP file: file header, info header of ``header_size`` bytes, ``extra``, ``pixels``."""
    info = struct.pack(
        "<IiiHHIIiiII",
        header_size,
        width,
        height,
        1,
        bits,
        compression,
        len(pixels),
        2835,
        2835,
        0,
        0,
    )
    info = (info + extra).ljust(header_size, b"\0")
    offset = 14 + len(info)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + pixels


def bmp_rgba(image: np.ndarray) -> bytes:
    """A 32-bit BMP with an alpha mask (BITFIELDS, V4 header), rows top-down."""
    height, width, _ = image.shape
    masks = struct.pack("<IIII", 0xFF0000, 0xFF00, 0xFF, 0xFF000000)
    return bmp_bytes(
        width,
        -height,
        32,
        compression=3,
        extra=masks,
        header_size=108,
        pixels=image[..., [2, 1, 0, 3]].tobytes(),
    )


# ------------------------------------------------------------------ round trips


@pytest.mark.parametrize("shape", [(6, 8), (6, 8, 3), (5, 7, 3)])  # 7 columns: padded rows
def test_round_trip(tmp_path, make_image, shape):
    image = make_image(shape, np.uint8)
    Image.fromarray(image).save(tmp_path / "x.bmp")
    data = read_image(tmp_path / "x.bmp")
    assert data.array.dtype == np.uint8
    np.testing.assert_array_equal(data.array, image)
    assert data.path == tmp_path / "x.bmp"
    assert data.icc is None
    assert data.exif is None


def test_palette_bmp_becomes_rgb(tmp_path, make_image):
    image = Image.fromarray(make_image((6, 8, 3), np.uint8)).quantize(16)
    image.save(tmp_path / "p.bmp")
    data = read_image(tmp_path / "p.bmp")
    assert data.array.shape == (6, 8, 3)
    np.testing.assert_array_equal(data.array, np.asarray(image.convert("RGB")))


def test_bilevel_bmp_becomes_grey(tmp_path, make_image):
    bits = make_image((6, 8), np.uint8) > 127
    Image.fromarray(bits).save(tmp_path / "b.bmp")
    data = read_image(tmp_path / "b.bmp")
    assert data.array.dtype == np.uint8
    np.testing.assert_array_equal(data.array, bits.astype(np.uint8) * 255)


def test_rgba_bmp(tmp_path, make_image):
    image = make_image((6, 8, 4), np.uint8)
    (tmp_path / "a.bmp").write_bytes(bmp_rgba(image))
    np.testing.assert_array_equal(read_image(tmp_path / "a.bmp").array, image)


def test_content_decides_format(tmp_path, make_image):
    image = make_image((6, 8, 3), np.uint8)
    Image.fromarray(image).save(tmp_path / "really_bmp.jpg", format="BMP")
    np.testing.assert_array_equal(read_image(tmp_path / "really_bmp.jpg").array, image)
    frames = read_frames(tmp_path / "really_bmp.jpg")
    assert len(frames) == 1


# ---------------------------------------------------------------------- stacks


def test_folder_of_bmp_frames(tmp_path, make_image):
    images = {i: make_image((6, 8, 3), np.uint8) for i in (10, 2, 1)}
    for i, image in images.items():
        Image.fromarray(image).save(tmp_path / f"frame_{i}.bmp")
    stack = read_stack(tmp_path)
    assert stack.names == ["frame_1.bmp", "frame_2.bmp", "frame_10.bmp"]
    assert stack.frames.shape == (3, 6, 8, 3)
    assert stack.channel_axis == -1
    assert stack.icc is None and stack.exif is None
    for frame, i in zip(stack.frames, (1, 2, 10), strict=True):
        np.testing.assert_array_equal(frame, images[i])
    with iter_frames(tmp_path) as stream:
        assert stream.names == stack.names
        assert stream.shape == (6, 8, 3)
        assert stream.dtype == np.uint8
        frames = list(stream)
    np.testing.assert_array_equal(np.stack(frames), stack.frames)


@pytest.mark.parametrize("prefetch", [0, 1])
def test_grey_palette_and_rgba_bmp_stacks_match_read_stack(tmp_path, make_image, prefetch):
    grey = tmp_path / "grey"
    palette = tmp_path / "palette"
    rgba = tmp_path / "rgba"
    for folder in (grey, palette, rgba):
        folder.mkdir()
    for i in range(3):
        Image.fromarray(make_image((6, 8), np.uint8)).save(grey / f"g{i}.bmp")
        Image.fromarray(make_image((6, 8, 3), np.uint8)).quantize(8).save(palette / f"p{i}.bmp")
        (rgba / f"a{i}.bmp").write_bytes(bmp_rgba(make_image((6, 8, 4), np.uint8)))
    for folder, shape in ((grey, (6, 8)), (palette, (6, 8, 3)), (rgba, (6, 8, 4))):
        expected = read_stack(folder)
        with iter_frames(folder, prefetch=prefetch) as stream:
            assert stream.shape == shape == expected.frames.shape[1:]
            assert stream.channel_axis == expected.channel_axis
            frames = list(stream)
        np.testing.assert_array_equal(np.stack(frames), expected.frames)


def test_bmp_mixed_with_png(tmp_path, make_image):
    a, b = make_image((6, 8, 3), np.uint8), make_image((6, 8, 3), np.uint8)
    Image.fromarray(a).save(tmp_path / "f1.bmp")
    Image.fromarray(b).save(tmp_path / "f2.png")
    np.testing.assert_array_equal(read_stack(tmp_path).frames, np.stack([a, b]))


def test_folder_and_glob_find_bmp_and_dib(tmp_path):
    for name in ("f_2.BMP", "f_1.dib", "f_3.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in find_frames(tmp_path)] == ["f_1.dib", "f_2.BMP", "f_3.png"]
    assert [p.name for p in find_frames(str(tmp_path / "f_*"))] == [
        "f_1.dib",
        "f_2.BMP",
        "f_3.png",
    ]


# -------------------------------------------------------------------- bad files


@pytest.mark.parametrize("shape", [(64, 64), (64, 64, 3)])
@pytest.mark.parametrize("cut", ["pixels", "header"])
def test_truncated_bmp(tmp_path, make_image, shape, cut):
    Image.fromarray(make_image(shape, np.uint8)).save(tmp_path / "full.bmp")
    data = (tmp_path / "full.bmp").read_bytes()
    size = len(data) // 2 if cut == "pixels" else 30  # the info header is bytes 14-54
    (tmp_path / "cut.bmp").write_bytes(data[:size])
    with pytest.raises(ReadError, match=r"cut\.bmp.*BMP.*truncated or damaged"):
        read_image(tmp_path / "cut.bmp")
    with pytest.raises(ReadError, match=r"cut\.bmp.*truncated or damaged"):
        read_stack([tmp_path / "full.bmp", tmp_path / "cut.bmp"])
    with (
        pytest.raises(ReadError, match=r"cut\.bmp.*truncated or damaged"),
        iter_frames([tmp_path / "full.bmp", tmp_path / "cut.bmp"]) as stream,
    ):
        list(stream)


def test_pixel_limit(tmp_path, make_image):
    Image.fromarray(make_image((6, 8, 3), np.uint8)).save(tmp_path / "big.bmp")
    with pytest.raises(InputError, match=r"big\.bmp.*8x6 = 48 pixels.*max_pixels=47"):
        read_image(tmp_path / "big.bmp", max_pixels=47)
    with pytest.raises(InputError, match=r"big\.bmp.*max_pixels=47"):
        iter_frames([tmp_path / "big.bmp", tmp_path / "big.bmp"], max_pixels=47, min_frames=1)
    assert read_image(tmp_path / "big.bmp", max_pixels=48).array.shape == (6, 8, 3)


def test_pixel_limit_checked_before_decoding(tmp_path):
    """A BMP header claiming 30000 x 20000 grey pixels and no data: refused from the header."""
    grey_palette = b"".join(bytes((v, v, v, 0)) for v in range(256))
    header = bmp_bytes(30000, 20000, 8)
    offset = len(header) + len(grey_palette)
    bomb = header[:10] + struct.pack("<I", offset) + header[14:] + grey_palette
    (tmp_path / "bomb.bmp").write_bytes(bomb)
    with pytest.raises(InputError, match=r"bomb\.bmp.*600,000,000 pixels.*max_pixels"):
        read_image(tmp_path / "bomb.bmp")
    with pytest.raises(InputError, match=r"bomb\.bmp.*600,000,000 pixels.*max_pixels"):
        iter_frames([tmp_path / "bomb.bmp"], min_frames=1)
    # within a raised limit the size is ours to allow (not Pillow's own lower guard),
    # and the missing data is then reported as a damaged file
    with pytest.raises(ReadError, match=r"bomb\.bmp.*truncated or damaged"):
        read_image(tmp_path / "bomb.bmp", max_pixels=10**9)
