"""find_frames: files, glob patterns, folders; natural order; clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from allfocus._core.errors import InputError, ReadError
from allfocus.io import IMAGE_EXTENSIONS, find_frames, natural_key


def touch(folder: Path, *names: str) -> list[Path]:
    paths = []
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
        paths.append(path)
    return paths


def test_extensions():
    assert set(IMAGE_EXTENSIONS) == {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".dib"}


def test_natural_key_orders_numbers_by_value():
    names = ["frame_10.png", "frame_2.png", "Frame_1.png", "frame_2b.png", "frame.png"]
    assert sorted(names, key=natural_key) == [
        "frame.png",
        "Frame_1.png",
        "frame_2.png",
        "frame_2b.png",
        "frame_10.png",
    ]


def test_natural_key_mixed_leading_digits_do_not_raise():
    names = ["10a.tif", "a10.tif", "2a.tif", "a2.tif"]
    assert sorted(names, key=natural_key) == ["2a.tif", "10a.tif", "a2.tif", "a10.tif"]


def test_folder_natural_order_and_extension_filter(tmp_path):
    touch(tmp_path, "frame_10.jpg", "frame_2.TIF", "frame_1.Png", "frame_3.jpeg", "notes.txt")
    (tmp_path / "sub").mkdir()
    touch(tmp_path / "sub", "frame_0.png")
    found = find_frames([tmp_path])
    assert [p.name for p in found] == ["frame_1.Png", "frame_2.TIF", "frame_3.jpeg", "frame_10.jpg"]


def test_single_path_not_in_a_list(tmp_path):
    touch(tmp_path, "b.png", "a.png")
    assert [p.name for p in find_frames(str(tmp_path))] == ["a.png", "b.png"]


def test_glob_natural_order(tmp_path):
    touch(tmp_path, "s_10.tif", "s_9.tif", "s_1.tif", "other.png")
    found = find_frames([str(tmp_path / "s_*.tif")])
    assert [p.name for p in found] == ["s_1.tif", "s_9.tif", "s_10.tif"]


def test_glob_recursive(tmp_path):
    touch(tmp_path, "a/x_2.png", "b/x_1.png", "a/x_10.png")
    found = find_frames([str(tmp_path / "**" / "*.png")])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "a/x_2.png",
        "a/x_10.png",
        "b/x_1.png",
    ]


def test_explicit_files_keep_order_and_dedupe(tmp_path):
    a, b, c = touch(tmp_path, "a.png", "b.png", "c.png")
    found = find_frames([c, a, str(tmp_path / ".." / tmp_path.name / "c.png"), b, a])
    assert [p.name for p in found] == ["c.png", "a.png", "b.png"]


def test_glob_and_files_dedupe(tmp_path):
    a, b = touch(tmp_path, "f_1.png", "f_2.png")
    found = find_frames([b, str(tmp_path / "f_*.png")])
    assert found == [b, a]


def test_explicit_file_with_any_extension(tmp_path):
    (path,) = touch(tmp_path, "frame.raw")
    assert find_frames([path]) == [path]


def test_missing_file(tmp_path):
    (a,) = touch(tmp_path, "a.png")
    missing = tmp_path / "nope.png"
    with pytest.raises(ReadError, match=r"nope\.png.*no such file"):
        find_frames([a, missing])


def test_empty_folder(tmp_path):
    touch(tmp_path, "readme.txt")
    with pytest.raises(InputError, match=rf"{tmp_path.name}.*no image files"):
        find_frames([tmp_path])


def test_glob_matches_nothing(tmp_path):
    touch(tmp_path, "a.png")
    with pytest.raises(InputError, match=r"\*\.tif.*matches no image files"):
        find_frames([str(tmp_path / "*.tif")])


def test_folder_must_be_single_input(tmp_path):
    (a,) = touch(tmp_path, "a.png")
    with pytest.raises(InputError, match="single input"):
        find_frames([tmp_path, a])


def test_no_inputs():
    with pytest.raises(InputError, match="no input frames"):
        find_frames([])
