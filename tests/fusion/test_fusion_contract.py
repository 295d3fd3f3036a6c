"""The contract every registered fusion method meets (parametrised over the registry)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from scipy import ndimage as ndi

from allfocus.fusion import DEFAULT_METHOD, FUSION_METHODS, FusionResult, fuse, list_methods
from allfocus.metrics import psnr
from allfocus.synth import synthetic_stack

METHODS = FUSION_METHODS.names()
HAS_TORCH = importlib.util.find_spec("torch") is not None
# Learned methods are registered everywhere but need torch to run.
RUNNABLE = [
    m
    if m != "gacn" or HAS_TORCH
    else pytest.param(m, marks=pytest.mark.skip(reason="torch is not installed"))
    for m in METHODS
]


@pytest.fixture(scope="module")
def synth5():
    return synthetic_stack((72, 80), 5, rng=3)


@pytest.fixture(scope="module")
def texture():
    rng = np.random.default_rng(0)
    return ndi.gaussian_filter(rng.random((64, 64)), 0.6).astype(np.float32)


def test_registry():
    assert set(METHODS) >= {"depthmap", "gacn", "guided", "pyramid"}
    assert list_methods() == METHODS
    assert DEFAULT_METHOD in METHODS


def test_unknown_method_lists_choices(synth5):
    valid = ", ".join(list_methods())
    with pytest.raises(ValueError, match=valid):
        fuse(synth5.frames, method="nope", channel_axis=-1)


@pytest.mark.parametrize("method", RUNNABLE)
def test_result_types_and_ranges(method, synth5):
    res = fuse(synth5.frames, method=method, channel_axis=-1)
    assert isinstance(res, FusionResult)
    assert res.image.shape == synth5.frames.shape[1:]
    assert res.image.dtype == np.float32
    assert res.image.min() >= 0 and res.image.max() <= 1
    for arr in (res.depth, res.confidence):
        assert arr.shape == synth5.frames.shape[1:3]
        assert arr.dtype == np.float32
    assert res.depth.min() >= 0 and res.depth.max() <= 4
    assert res.confidence.min() >= 0 and res.confidence.max() <= 1


@pytest.mark.parametrize("method", RUNNABLE)
@pytest.mark.parametrize("num", [2, 4])
def test_copies_return_the_image(method, num, synth5):
    stack = np.repeat(synth5.sharp[None], num, axis=0)
    res = fuse(stack, method=method, channel_axis=-1)
    np.testing.assert_allclose(res.image, synth5.sharp, atol=1e-3)


@pytest.mark.parametrize("method", RUNNABLE)
def test_frame_order_does_not_matter(method, synth5):
    # the defocus model takes frames in focus order (tests/fusion/test_rims.py)
    from allfocus.fusion.depthmap import DEFOCUS_MODEL_METHODS, DEFOCUS_MODEL_OFF

    params = dict(DEFOCUS_MODEL_OFF) if method in DEFOCUS_MODEL_METHODS else {}
    if method == "gacn":
        params["measure_reach"] = 0  # its neighbours are frames in focus order too
    perm = np.array([3, 0, 4, 1, 2])
    res = fuse(synth5.frames, method=method, channel_axis=-1, **params)
    res_p = fuse(synth5.frames[perm], method=method, channel_axis=-1, **params)
    np.testing.assert_allclose(res_p.image, res.image, atol=1e-4)
    # Frame j of the permuted stack is frame perm[j] of the original.
    same = perm[np.rint(res_p.depth).astype(int)] == np.rint(res.depth).astype(int)
    assert same.mean() > 0.99


@pytest.mark.parametrize("method", RUNNABLE)
def test_region_sharp_only_in_last_frame(method, texture):
    blurred = ndi.gaussian_filter(texture, 2.5)
    inside = np.zeros(texture.shape, bool)
    inside[16:48, 16:48] = True
    stack = []
    for k in range(5):
        frame = blurred.copy() if k == 4 else texture.copy()
        if k < 4:
            frame[inside] = ndi.gaussian_filter(texture, 0.8 + 0.5 * k)[inside]
        else:
            frame[inside] = texture[inside]
        stack.append(frame)
    res = fuse(np.stack(stack), method=method)
    core = (slice(24, 40), slice(24, 40))
    assert np.abs(res.image[core] - texture[core]).mean() < 0.01
    assert np.median(res.depth[core]) == pytest.approx(4, abs=0.25)
    outer = (slice(2, 10), slice(2, 62))
    assert np.abs(res.image[outer] - texture[outer]).mean() < 0.01


@pytest.mark.parametrize("method", RUNNABLE)
def test_channel_axis_position(method, synth5):
    last = fuse(synth5.frames, method=method, channel_axis=-1)
    first = fuse(np.moveaxis(synth5.frames, -1, 1), method=method, channel_axis=1)
    assert first.image.shape == (3, *synth5.frames.shape[1:3])
    np.testing.assert_allclose(np.moveaxis(first.image, 0, -1), last.image, atol=1e-5)
    np.testing.assert_allclose(first.depth, last.depth, atol=1e-5)


@pytest.mark.parametrize("method", RUNNABLE)
def test_grey_stack(method, synth5):
    grey = synth5.frames.mean(axis=-1)
    res = fuse(grey, method=method)
    assert res.image.shape == grey.shape[1:]
    assert res.image.dtype == np.float32


@pytest.mark.parametrize("method", RUNNABLE)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_integer_input(method, dtype, synth5):
    top = np.iinfo(dtype).max
    ints = np.round(synth5.frames * top).astype(dtype)
    res = fuse(ints, method=method, channel_axis=-1)
    ref = fuse(ints / np.float32(top), method=method, channel_axis=-1)
    assert res.image.dtype == np.float32
    np.testing.assert_allclose(res.image, ref.image, atol=1e-5)


@pytest.mark.parametrize("method", RUNNABLE)
def test_bad_input(method, synth5):
    with pytest.raises(ValueError, match="channel_axis"):
        fuse(synth5.frames, method=method)
    with pytest.raises(ValueError, match="at least 2 frames"):
        fuse(synth5.frames[:1], method=method, channel_axis=-1)
    with pytest.raises(TypeError):
        fuse(synth5.frames, method=method, channel_axis=-1, no_such_option=1)
    # Floats in other units (0-255 here) would all fuse to white: refused, naming the range.
    with pytest.raises(ValueError, match=r"to 255.*must lie in \[0, 1\]"):
        fuse(synth5.frames * 255, method=method, channel_axis=-1)


@pytest.mark.parametrize("method", RUNNABLE)
def test_float_overshoot_is_accepted(method, synth5):
    """A little over- and undershoot (resampled frames) is data in [0, 1], clipped."""
    frames = synth5.frames * 1.2 - 0.1
    res = fuse(frames, method=method, channel_axis=-1)
    assert res.image.min() >= 0 and res.image.max() <= 1


@pytest.mark.parametrize(
    ("method", "option"),
    [
        ("depthmap", {"window": 4}),
        ("depthmap", {"refine_radius": -1}),
        ("depthmap", {"refine_eps": 0}),
        ("depthmap", {"measure": "nope"}),
        ("pyramid", {"levels": 0}),
        ("pyramid", {"levels": 40}),
        ("pyramid", {"consistency_radius": 1.5}),
        ("guided", {"base_filter_eps": -1}),
        ("guided", {"detail_filter_radius": 0}),
    ],
)
def test_bad_options(method, option, synth5):
    name = next(iter(option))
    with pytest.raises(ValueError, match=name if name != "measure" else "focus measure"):
        fuse(synth5.frames, method=method, channel_axis=-1, **option)


@pytest.mark.parametrize("method", RUNNABLE)
def test_halo_accepts_the_method_options(method):
    module = importlib.import_module(f"allfocus.fusion.{method}")
    reach = module.halo()
    assert isinstance(reach, int) and reach > 0
    func = FUSION_METHODS.get(method)
    defaults = func.__kwdefaults__
    options = {k: v for k, v in defaults.items() if k != "channel_axis"}
    assert module.halo(**options) == reach


def test_learned_method_without_torch_runs_the_shipped_weights(synth5, monkeypatch):
    import sys

    from allfocus._core.errors import MissingDependencyError

    # Make `import torch` (and everything in allfocus.nn) fail as on a machine without it.
    monkeypatch.setitem(sys.modules, "torch", None)
    for name in [m for m in sys.modules if m.startswith("allfocus.nn")]:
        monkeypatch.delitem(sys.modules, name)
    # The shipped weights run on OpenCV's dnn module (their ONNX export) ...
    for refine in ("depthmap", "network"):
        res = fuse(synth5.frames, method="gacn", channel_axis=-1, refine=refine)
        assert res.image.shape == synth5.sharp.shape
        assert psnr(np.clip(res.image, 0, 1), synth5.sharp, channel_axis=-1) > 30
    # ... torch, asked for, says which extra to install.
    with pytest.raises(MissingDependencyError, match=r"allfocus\[learned\]"):
        fuse(synth5.frames, method="gacn", channel_axis=-1, backend="torch")


@pytest.fixture(scope="module")
def rgba5():
    # Large enough for the defocus model's rim un-mixing to blur wide rims
    # (its disc blur once failed on five channels: colour, alpha and cover).
    stack = synthetic_stack((160, 200), 5, noise=0.002, rng=5)
    alpha = np.full_like(stack.frames[..., :1], 0.75)
    return stack.frames, np.concatenate([stack.frames, alpha], axis=-1)


@pytest.mark.parametrize("method", RUNNABLE)
def test_alpha_channel_fuses_like_colour(method, rgba5):
    """An RGBA stack (PNG with alpha) fuses: colour as without the alpha channel,
    alpha kept."""
    rgb, rgba = rgba5
    with_alpha = fuse(rgba, method=method, channel_axis=-1).image
    without = fuse(rgb, method=method, channel_axis=-1).image
    assert with_alpha.shape == rgba.shape[1:]
    np.testing.assert_allclose(with_alpha[..., :3], without, atol=1e-4)
    np.testing.assert_allclose(with_alpha[..., 3], 0.75, atol=1e-4)


@pytest.mark.parametrize("channels", [2, 6])
@pytest.mark.parametrize("method", RUNNABLE)
def test_any_number_of_channels(method, channels, rgba5):
    """Channels that are not RGB(A), as in a fluorescence z-stack, decide on their mean
    and are all fused."""
    rgb, _ = rgba5
    stack = np.concatenate([rgb, rgb[..., ::-1]], axis=-1)[..., :channels]
    fused_image = fuse(stack, method=method, channel_axis=-1).image
    assert fused_image.shape == stack.shape[1:]
    # The fused channels lie nearer the truth than any single frame.
    sharp = synthetic_stack((160, 200), 5, noise=0.002, rng=5).sharp
    expected = np.concatenate([sharp, sharp[..., ::-1]], axis=-1)[..., :channels]
    # (the metrics take grey, RGB or RGBA only: mean squared error by hand)
    fused = np.mean((fused_image - expected) ** 2)
    frames = [np.mean((frame - expected) ** 2) for frame in stack]
    assert fused < 0.5 * min(frames)


@pytest.mark.parametrize("method", RUNNABLE)
def test_twelve_bit_data_in_sixteen_bit_type(method, rgba5):
    """12-bit camera data in a 16-bit type fuses as the same data spanning the type
    would (the defocus model's thresholds assume [0, 1]: 2 dB were lost at 5 frames),
    and comes back in the type's scale."""
    rgb, _ = rgba5
    twelve = np.round(rgb * 4095).astype(np.uint16)
    full = fuse(twelve.astype(np.float32) / 4095, method=method, channel_axis=-1).image
    image = fuse(twelve, method=method, channel_axis=-1).image
    assert image.max() <= 4095 / 65535 + 1e-6
    np.testing.assert_allclose(image * (65535 / 4095), full, atol=1e-4)
