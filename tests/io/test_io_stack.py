"""read_stack: stacking, names, reference metadata, mixed inputs, bad stacks."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image

from allfocus._core.errors import InputError, ReadError
from allfocus.io import read_stack, write_image


def make_exif(make: str) -> bytes:
    exif = Image.Exif()
    exif[271] = make
    return exif.tobytes()


def test_folder_stack(tmp_path, make_image):
    images = {i: make_image((6, 8, 3), np.uint16) for i in (10, 2, 1)}
    for i, image in images.items():
        write_image(tmp_path / f"frame_{i}.tif", image)
    stack = read_stack([tmp_path])
    assert stack.frames.shape == (3, 6, 8, 3)
    assert stack.dtype == np.uint16
    assert stack.channel_axis == -1
    assert stack.names == ["frame_1.tif", "frame_2.tif", "frame_10.tif"]
    assert stack.paths == [tmp_path / n for n in stack.names]
    assert stack.reference == 1
    for frame, i in zip(stack.frames, (1, 2, 10), strict=True):
        np.testing.assert_array_equal(frame, images[i])


def test_grey_stack_from_glob(tmp_path, make_image):
    for i in range(4):
        write_image(tmp_path / f"g{i}.png", make_image((5, 7)))
    stack = read_stack([str(tmp_path / "g*.png")])
    assert stack.frames.shape == (4, 5, 7)
    assert stack.channel_axis is None
    assert stack.reference == 2


def test_multipage_tiff_stack(tmp_path, make_image):
    pages = make_image((5, 6, 8), np.uint16)
    tifffile.imwrite(tmp_path / "stack.tif", pages, photometric="minisblack")
    stack = read_stack([tmp_path / "stack.tif"])
    np.testing.assert_array_equal(stack.frames, pages)
    assert stack.names == [f"stack.tif[{i}]" for i in range(5)]
    assert stack.paths == [tmp_path / "stack.tif"] * 5
    assert stack.reference == 2


def test_reference_metadata(tmp_path, make_image, srgb_icc):
    for i in range(3):
        write_image(
            tmp_path / f"f{i}.jpg",
            make_image((6, 8, 3)),
            exif=make_exif(f"cam{i}"),
            icc=srgb_icc if i == 1 else None,
        )
    stack = read_stack([tmp_path])
    exif = Image.Exif()
    exif.load(stack.exif)
    assert exif[271] == "cam1"
    assert stack.icc == srgb_icc


def test_too_few_frames(tmp_path, make_image):
    path = write_image(tmp_path / "only.png", make_image())
    with pytest.raises(InputError, match=r"at least 2 frames; got 1 \(only\.png\)"):
        read_stack([path])
    assert read_stack([path], min_frames=1).frames.shape == (1, 6, 8)


@pytest.mark.parametrize("slices", [3, 4])
def test_planes_of_one_tiff_page_are_named_as_the_likely_mistake(tmp_path, slices):
    """tifffile writes a (3, M, N) or (4, M, N) array as one page of separate planes,
    which reads as one colour image: the error says so, on both reading paths."""
    from allfocus.io import iter_frames

    path = tmp_path / "zstack.tif"
    # (what tifffile's default still does, with a warning that it will change)
    tifffile.imwrite(
        path, np.zeros((slices, 16, 20), np.uint16), photometric="rgb", planarconfig="separate"
    )
    for read in (read_stack, iter_frames):
        with pytest.raises(InputError, match=f"one page of {slices} separate planes"):
            read([path])
    tifffile.imwrite(path, np.zeros((slices, 16, 20), np.uint16), photometric="minisblack")
    assert read_stack([path]).frames.shape == (slices, 16, 20)


def test_frames_of_different_sizes(tmp_path, make_image):
    for name in ("a", "b", "d"):
        write_image(tmp_path / f"{name}.png", make_image((6, 8)))
    write_image(tmp_path / "c.png", make_image((8, 6)))
    with pytest.raises(InputError, match=r"c\.png is 6x8 pixels but a\.png .* is 8x6"):
        read_stack([tmp_path])


def test_odd_first_frame_is_named(tmp_path, make_image):
    write_image(tmp_path / "a.png", make_image((5, 8)))
    for name in ("b", "c"):
        write_image(tmp_path / f"{name}.png", make_image((6, 8)))
    with pytest.raises(InputError, match=r"a\.png is 8x5 pixels but b\.png"):
        read_stack([tmp_path])


def test_grey_and_colour_mixed(tmp_path, make_image):
    grey = make_image((6, 8))
    colour = make_image((6, 8, 3))
    write_image(tmp_path / "a.png", colour)
    write_image(tmp_path / "b.png", grey)
    with pytest.warns(UserWarning, match="grey and colour.*converted to RGB"):
        stack = read_stack([tmp_path])
    assert stack.frames.shape == (2, 6, 8, 3)
    assert stack.channel_axis == -1
    np.testing.assert_array_equal(stack.frames[0], colour)
    np.testing.assert_array_equal(stack.frames[1], np.dstack([grey] * 3))


def test_rgb_and_rgba_mixed(tmp_path, make_image):
    write_image(tmp_path / "a.png", make_image((6, 8, 3)))
    write_image(tmp_path / "b.png", make_image((6, 8, 4)))
    with pytest.warns(UserWarning, match="RGB and RGBA"):
        stack = read_stack([tmp_path])
    assert stack.frames.shape == (2, 6, 8, 4)
    assert (stack.frames[0, ..., 3] == 255).all()


def test_8_and_16_bit_mixed(tmp_path, make_image):
    low = make_image((6, 8), np.uint8)
    high = make_image((6, 8), np.uint16)
    write_image(tmp_path / "a.png", low)
    write_image(tmp_path / "b.tif", high)
    with pytest.warns(UserWarning, match="8-bit and 16-bit.*promoted to 16 bit"):
        stack = read_stack([tmp_path])
    assert stack.dtype == np.uint16
    np.testing.assert_array_equal(stack.frames[0], low.astype(np.uint16) * 257)
    np.testing.assert_array_equal(stack.frames[1], high)


def test_float_and_integer_mixed(tmp_path, make_image):
    write_image(tmp_path / "a.png", np.full((4, 5), 255, np.uint8))
    tifffile.imwrite(tmp_path / "b.tif", np.full((4, 5), 0.25, np.float32))
    with pytest.warns(UserWarning, match="floating-point and integer"):
        stack = read_stack([tmp_path])
    assert stack.dtype == np.float32
    np.testing.assert_allclose(stack.frames[:, 0, 0], [1.0, 0.25])


def test_bad_frame_is_named(tmp_path, make_image):
    write_image(tmp_path / "a.png", make_image())
    (tmp_path / "b.png").write_bytes(b"")
    with pytest.raises(ReadError, match=r"b\.png.*empty"):
        read_stack([tmp_path])


def test_grey_profile_of_reference_dropped_in_colour_stack(tmp_path, make_image, srgb_icc):
    grey_icc = srgb_icc[:16] + b"GRAY" + srgb_icc[20:]  # header says: grey data
    write_image(tmp_path / "f0.tif", make_image((6, 8, 3)), icc=srgb_icc)
    tifffile.imwrite(tmp_path / "f1.tif", make_image((6, 8)), iccprofile=grey_icc)
    write_image(tmp_path / "f2.tif", make_image((6, 8, 3)), icc=srgb_icc)
    with pytest.warns(UserWarning, match="grey and colour"):
        stack = read_stack([tmp_path])
    assert stack.reference == 1
    assert stack.icc is None
