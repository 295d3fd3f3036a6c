"""transforms.json: round trip, format, atomic write and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from allfocus._core.errors import InputError, ReadError, WriteError
from allfocus.align import load_transforms, save_transforms


@pytest.fixture
def matrices(rng):
    mats = np.tile(np.eye(3), (3, 1, 1))
    mats[:, :2, :] += rng.normal(0, 0.01, size=(3, 2, 3))
    mats[1] = np.nan
    return mats


def test_round_trip(tmp_path, matrices):
    path = tmp_path / "transforms.json"
    save_transforms(path, ["a.tif", "b.tif", "c.tif"], matrices)
    names, loaded = load_transforms(path)
    assert names == ["a.tif", "b.tif", "c.tif"]
    assert loaded.dtype == np.float64
    np.testing.assert_array_equal(loaded, matrices)  # exact: JSON keeps float64 repr
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_file_format(tmp_path, matrices):
    path = tmp_path / "t.json"
    save_transforms(str(path), ["a", "b", "c"], matrices)
    data = json.loads(path.read_text())
    assert [e["file"] for e in data] == ["a", "b", "c"]
    assert data[1]["matrix"] is None
    assert np.asarray(data[0]["matrix"]).shape == (3, 3)


def test_overwrites_atomically(tmp_path, matrices):
    path = tmp_path / "t.json"
    path.write_text("old")
    save_transforms(path, ["a", "b", "c"], matrices)
    assert load_transforms(path)[0] == ["a", "b", "c"]


def test_save_checks_arguments(tmp_path, matrices):
    with pytest.raises(InputError, match="same length"):
        save_transforms(tmp_path / "t.json", ["a"], matrices)
    with pytest.raises(InputError, match=r"shape \(S, 3, 3\)"):
        save_transforms(tmp_path / "t.json", ["a"], np.eye(3))
    with pytest.raises(WriteError, match="cannot write"):
        save_transforms(tmp_path / "missing" / "t.json", ["a", "b", "c"], matrices)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "not valid JSON"),
        ('{"file": "a"}', "must hold a JSON list"),
        ("[]", "must hold a JSON list"),
        ('[{"matrix": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}]', "string 'file'"),
        ('[{"file": "a"}]', "has no 'matrix'"),
        ('[{"file": "a", "matrix": [[1, 0], [0, 1]]}]', "3x3 matrix"),
        ('[{"file": "a", "matrix": [[1, 0, 0], [0, 1, 0], [0, 0, "x"]]}]', "3x3 matrix"),
        ('[{"file": "a", "matrix": [[1, 0, 0], [0, 1, 0], [0, 0, NaN]]}]', "finite"),
    ],
)
def test_load_rejects_bad_content(tmp_path, text, match):
    path = tmp_path / "t.json"
    path.write_text(text)
    with pytest.raises(InputError, match=match):
        load_transforms(path)


def test_load_missing_file(tmp_path):
    with pytest.raises(ReadError, match="cannot read transforms file"):
        load_transforms(tmp_path / "nope.json")
