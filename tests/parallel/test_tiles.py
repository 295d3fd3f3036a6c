"""Tiled and Dask fusion equal the untiled result (the dask-image test pattern)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allfocus.fusion import fuse
from allfocus.fusion.streaming import fuse_streaming
from allfocus.parallel import fuse_dask, fuse_tiled, tile_halo
from allfocus.synth import synthetic_stack

da = pytest.importorskip("dask.array")

TOL = 1 / 255
# Small methods settings so that the tiles are really cut (the pyramid's
# default levels would make its halo larger than these test images).
CASES = [
    ("depthmap", {"unmix_rims": False, "sharpen_between": False}),
    ("pyramid", {"levels": 3}),
    ("guided", {"base_filter_radius": 8}),
]


@pytest.fixture(scope="module")
def colour():
    return synthetic_stack((130, 150), 4, rng=1, noise=0.003)


@pytest.fixture(scope="module")
def grey():
    return synthetic_stack((100, 120), 3, color=False, rng=4, noise=0.003)


@pytest.mark.parametrize(("method", "params"), CASES)
@pytest.mark.parametrize("tile", [16, 56])
def test_tiled_equals_untiled(colour, method, params, tile):
    whole = fuse(colour.frames, method=method, channel_axis=-1, **params)
    tiled = fuse_tiled(colour.frames, tile=tile, method=method, channel_axis=-1, **params)
    assert tiled.image.dtype == np.float32
    assert tiled.image.shape == whole.image.shape
    assert np.abs(tiled.image - whole.image).max() < TOL
    assert (np.abs(tiled.depth - whole.depth) < 1e-4).mean() > 0.999


@pytest.mark.parametrize(("method", "params"), CASES)
def test_tiled_grey(grey, method, params):
    whole = fuse(grey.frames, method=method, **params)
    tiled = fuse_tiled(grey.frames, tile=24, method=method, **params)
    assert np.abs(tiled.image - whole.image).max() < TOL


def test_tiled_frames_from_memmaps(tmp_path, colour):
    paths = []
    for k, frame in enumerate(colour.frames):
        paths.append(tmp_path / f"f{k}.npy")
        np.save(paths[-1], frame)
    frames = [np.load(p, mmap_mode="r") for p in paths]
    tiled = fuse_tiled(frames, tile=40, channel_axis=-1)
    # a sequence of frames is fused tile by tile with the streaming depth map
    streamed = fuse_streaming(colour.frames, channel_axis=-1)
    assert np.abs(tiled.image - streamed.image).max() < TOL
    pyramid = fuse_tiled(frames, tile=40, method="pyramid", channel_axis=-1, levels=3)
    whole = fuse(colour.frames, method="pyramid", channel_axis=-1, levels=3)
    assert np.abs(pyramid.image - whole.image).max() < TOL


def test_tiled_channel_axis_first(colour):
    stack = np.moveaxis(colour.frames, -1, 1)
    tiled = fuse_tiled(stack, tile=40, channel_axis=1)
    whole = fuse(colour.frames, channel_axis=-1, unmix_rims=False, sharpen_between=False)
    assert tiled.image.shape == (3, *colour.frames.shape[1:3])
    assert np.abs(np.moveaxis(tiled.image, 0, -1) - whole.image).max() < TOL


@settings(max_examples=6, deadline=None)
@given(tile=st.integers(min_value=8, max_value=120))
def test_any_tile_size(tile):
    stack = synthetic_stack((64, 72), 3, color=False, rng=0).frames
    whole = fuse(stack, unmix_rims=False, sharpen_between=False)
    assert np.abs(fuse_tiled(stack, tile=tile).image - whole.image).max() < TOL


def test_tile_halo():
    assert tile_halo("depthmap") % 8 == 0
    assert tile_halo("depthmap", window=9) > tile_halo("depthmap")
    assert tile_halo("pyramid", levels=5) > tile_halo("pyramid", levels=3)
    with pytest.raises(ValueError, match="shape="):
        tile_halo("pyramid")
    with pytest.raises(ValueError, match="tile must be"):
        fuse_tiled(np.zeros((2, 8, 8)), tile=0)


@pytest.mark.parametrize(("method", "params"), CASES)
@pytest.mark.parametrize("chunks", [(1, 24, 32, 3), (4, 64, 64, 3)])
def test_dask_chunked_equals_eager(colour, method, params, chunks):
    lazy = fuse_dask(
        da.from_array(colour.frames, chunks=chunks), method=method, channel_axis=-1, **params
    )
    assert lazy.dtype == np.float32
    assert lazy.shape == colour.frames.shape[1:]
    assert isinstance(lazy._meta, np.ndarray)
    eager = fuse(colour.frames, method=method, channel_axis=-1, **params).image
    result = lazy.compute(scheduler="synchronous")
    assert result.dtype == np.float32
    assert np.abs(result - eager).max() < TOL


def test_dask_grey_and_channel_axis(grey, colour):
    lazy = fuse_dask(da.from_array(grey.frames, chunks=(1, 20, 20)))
    assert (
        np.abs(
            lazy.compute() - fuse(grey.frames, unmix_rims=False, sharpen_between=False).image
        ).max()
        < TOL
    )
    first = np.moveaxis(colour.frames, -1, 1)
    lazy = fuse_dask(da.from_array(first, chunks=(2, 3, 40, 40)), channel_axis=1)
    assert lazy.shape == (3, *colour.frames.shape[1:3])
    eager = fuse(colour.frames, channel_axis=-1, unmix_rims=False, sharpen_between=False).image
    assert np.abs(np.moveaxis(lazy.compute(), 0, -1) - eager).max() < TOL


def test_dask_keeps_frames_in_one_chunk(colour):
    lazy = fuse_dask(da.from_array(colour.frames, chunks=(1, 32, 32, 1)), channel_axis=-1)
    assert all(c % 8 == 0 for c in lazy.chunks[0][:-1])
    assert lazy.chunks[2] == (3,)


def test_dask_bad_stack():
    with pytest.raises(ValueError, match="3 dimensions"):
        fuse_dask(da.zeros((2, 8, 8, 3)))


@pytest.mark.parametrize(("method", "params"), CASES)
def test_tiles_of_fewer_bit_data_are_scaled_alike(colour, method, params):
    """12-bit data in 16 bits with a dark half: every tile is scaled alike, by the
    whole stack's sensor range as fuse() scales the stack (not by its own largest
    value: a dark tile would look like 10-bit data and be fused with other effective
    settings than its neighbours); Dask blocks by the type's range."""
    frames = colour.frames.copy()
    frames[:, :, :64] *= 0.2  # tiles here stay under 1024 of 4095
    twelve = np.round(frames * 4095).astype(np.uint16)
    spanning = twelve.astype(np.float32) / 4095
    expected = fuse_tiled(spanning, tile=32, method=method, channel_axis=-1, **params).image
    tiled = fuse_tiled(twelve, tile=32, method=method, channel_axis=-1, **params).image
    np.testing.assert_allclose(tiled * (65535 / 4095), expected, atol=1e-5)
    listed = fuse_tiled(list(twelve), tile=32, method=method, channel_axis=-1, **params).image
    assert np.abs(listed - tiled).max() < TOL  # (depthmap: fuse_streaming per tile)
    whole = fuse(twelve, method=method, channel_axis=-1, **params).image
    assert np.abs(tiled - whole).max() < TOL
    floats = twelve.astype(np.float32) / 65535
    lazy = fuse_dask(
        da.from_array(twelve, chunks=(4, 48, 48, 3)), method=method, channel_axis=-1, **params
    )
    eager = fuse_dask(
        da.from_array(floats, chunks=(4, 48, 48, 3)), method=method, channel_axis=-1, **params
    )
    np.testing.assert_allclose(
        lazy.compute(scheduler="synchronous"), eager.compute(scheduler="synchronous"), atol=1e-5
    )


@pytest.mark.parametrize("sensor_max", [4095, "auto"])
def test_dask_sensor_max_fuses_fewer_bit_data_as_fuse_does(colour, sensor_max):
    """With the sensor's range every block sees 12-bit data spanning [0, 1], as fuse()
    does, and the image comes back in the type's scale; by the type's range it differs."""
    twelve = np.round(colour.frames * 4095).astype(np.uint16)
    chunked = da.from_array(twelve, chunks=(3, 48, 48, 3))
    lazy = fuse_dask(chunked, channel_axis=-1, sensor_max=sensor_max)
    result = lazy.compute(scheduler="synchronous")
    expected = fuse(twelve, channel_axis=-1, unmix_rims=False, sharpen_between=False).image
    assert np.abs(result - expected).max() < TOL / 16  # both in the 16-bit type's scale
    plain = fuse_dask(chunked, channel_axis=-1).compute(scheduler="synchronous")
    assert np.abs(plain - expected).max() > TOL / 16


@pytest.mark.parametrize(
    ("data", "sensor_max", "match"),
    [
        (np.zeros((2, 16, 16), np.float32), 4095, "integer data"),
        (np.zeros((2, 16, 16), np.uint16), 70000, "between 1 and 65535"),
        (np.zeros((2, 16, 16), np.uint16), 0, "between 1 and 65535"),
        (np.zeros((2, 16, 16), np.uint16), "max", "'auto' or None"),
    ],
)
def test_dask_bad_sensor_max(data, sensor_max, match):
    with pytest.raises(ValueError, match=match):
        fuse_dask(da.from_array(data), sensor_max=sensor_max)
