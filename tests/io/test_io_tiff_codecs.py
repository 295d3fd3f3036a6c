"""Compressed TIFFs (LZW, Deflate, JPEG, ZSTD): what enfuse, editors and microscopes write."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from allfocus import io
from allfocus._core.errors import ReadError


@pytest.mark.parametrize("compression", ["lzw", "deflate", "zstd", "packbits"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_compressed_tiff_reads_losslessly(tmp_path, compression, dtype):
    rng = np.random.default_rng(0)
    top = np.iinfo(dtype).max
    pixels = rng.integers(0, top, size=(40, 56, 3), endpoint=True).astype(dtype)
    path = tmp_path / f"f_{compression}.tif"
    tifffile.imwrite(path, pixels, photometric="rgb", compression=compression)
    np.testing.assert_array_equal(io.read_image(path).array, pixels)


def test_lzw_stack_streams_like_it_reads(tmp_path):
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 255, size=(32, 48), dtype=np.uint8) for _ in range(3)]
    for k, frame in enumerate(frames):
        tifffile.imwrite(tmp_path / f"f{k}.tif", frame, compression="lzw")
    stack = io.read_stack(tmp_path)
    with io.iter_frames(tmp_path) as stream:
        streamed = list(stream)
    for k, frame in enumerate(frames):
        np.testing.assert_array_equal(stack.frames[k], frame)
        np.testing.assert_array_equal(streamed[k], frame)


def test_missing_codec_is_named_not_called_damage(tmp_path, monkeypatch):
    from allfocus.io import _read

    path = tmp_path / "f.tif"
    tifffile.imwrite(path, np.zeros((8, 8), np.uint8), compression="lzw")

    def no_codec(*args, **kwargs):
        raise ValueError("<COMPRESSION.LZW: 5> requires the 'imagecodecs' package")

    monkeypatch.setattr(_read, "_tiff_pixels", no_codec)
    with pytest.raises(ReadError, match="pip install imagecodecs") as info:
        io.read_image(path)
    assert "damaged" not in str(info.value) and "f.tif" in str(info.value)
