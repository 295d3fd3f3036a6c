"""Contract of every registered sharpening method, and the public sharpen()."""

from __future__ import annotations

import importlib.util

import cv2
import numpy as np
import pytest

from allfocus._core.errors import InputError
from allfocus.restore import (
    DEFAULT_METHOD,
    SHARPEN_METHODS,
    SharpenResult,
    list_methods,
    sharpen,
)
from allfocus.restore.psf import disc_psf
from allfocus.restore.sharpen_ops import sharpening_kernel
from allfocus.synth import synthetic_stack

#: ``learned`` needs torch (the ``learned`` extra); tests/nn checks it fails clearly without.
METHODS = [m for m in list_methods() if m != "learned" or importlib.util.find_spec("torch")]
#: Methods that change luma only; ``defocus`` and ``learned`` also restore colour detail.
LUMA_ONLY = [m for m in METHODS if m not in ("defocus", "learned")]
#: Largest 99th-percentile hue change (degrees) on a single-hue image; the
#: network's colour output moves hue slightly (docs/deblur.md), all others not.
HUE_TOLERANCE = {"learned": 5.0}
SEED_OPERATORS = {
    "kernel3",
    "kernel5",
    "kernel7",
    "box",
    "unsharp",
    "repeated",
    "he",
    "ahe",
    "clahe",
    "clahe_sharpen",
}


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    """A small colour frame with spatially varying defocus (radii up to ~3 px)."""
    return synthetic_stack((64, 80), 3, max_radius=6.0, noise=0.003, rng=1).frames[1]


def _hsv_hue(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.float32), cv2.COLOR_RGB2HSV)[..., 0]


def _hue_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = np.abs(_hsv_hue(a) - _hsv_hue(b))
    return np.minimum(d, 360.0 - d)


def _single_hue_image(rng: np.random.Generator) -> np.ndarray:
    """Blurred texture in luma, one hue everywhere, saturated enough to measure hue."""
    texture = cv2.GaussianBlur(rng.random((64, 64)).astype(np.float32), (0, 0), 1.0)
    texture = cv2.filter2D(texture, -1, disc_psf(2.0), borderType=cv2.BORDER_REFLECT)
    texture = (texture - texture.min()) / np.ptp(texture)
    grey = 0.3 + 0.4 * texture
    tint = np.array([0.12, -0.03, -0.09], dtype=np.float32)  # an orange, luma-neutral-ish
    return np.clip(grey[..., None] + tint, 0, 1).astype(np.float32)


def test_registry_holds_seed_operators_and_default():
    assert SEED_OPERATORS <= set(METHODS)
    assert DEFAULT_METHOD == "defocus" and "defocus" in SHARPEN_METHODS
    assert all(SHARPEN_METHODS.describe(m) for m in METHODS)


@pytest.mark.parametrize("method", METHODS)
def test_contract_colour(method, frame):
    out = SHARPEN_METHODS.get(method)(frame, channel_axis=-1)
    assert out.shape == frame.shape
    assert out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("method", METHODS)
def test_contract_grey_and_integer_input(method, frame):
    grey = (frame.mean(axis=-1) * 255).astype(np.uint8)
    out = SHARPEN_METHODS.get(method)(grey)
    assert out.shape == grey.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("method", METHODS)
def test_twelve_bit_data_in_sixteen_bit_type(method, frame):
    """12-bit camera data in a 16-bit type is sharpened as the same data spanning
    [0, 1] would be (the deconvolution lost 0.6 dB on it, the contrast methods
    equalised a sixteenth of the range), and comes back in the type's scale."""
    twelve = np.round(frame * 4095).astype(np.uint16)
    image = sharpen(twelve, method=method, channel_axis=-1).image
    spanning = sharpen(twelve.astype(np.float32) / 4095, method=method, channel_axis=-1).image
    assert image.max() <= 4095 / 65535 + 1e-6
    np.testing.assert_allclose(image * (65535 / 4095), spanning, atol=5e-4)


@pytest.mark.parametrize("method", METHODS)
def test_channel_axis_position_does_not_matter(method, frame):
    func = SHARPEN_METHODS.get(method)
    last = func(frame, channel_axis=-1)
    first = func(np.moveaxis(frame, -1, 0), channel_axis=0)
    assert first.shape == (3, *frame.shape[:2])
    np.testing.assert_allclose(np.moveaxis(first, 0, -1), last, atol=1e-5)


@pytest.mark.parametrize("method", METHODS)
def test_strength_zero_returns_input(method, frame):
    out = SHARPEN_METHODS.get(method)(frame, channel_axis=-1, strength=0.0)
    np.testing.assert_allclose(out, frame, atol=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_hue_unchanged_on_single_hue_image(method, rng):
    image = _single_hue_image(rng)
    out = SHARPEN_METHODS.get(method)(image, channel_axis=-1)
    hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV)
    coloured = (hsv[..., 1] > 0.1) & (hsv[..., 2] > 0.05) & (hsv[..., 2] < 0.95)
    assert coloured.mean() > 0.1  # strong kernels push many pixels to black or white
    limit = HUE_TOLERANCE.get(method, 1.0)
    assert np.percentile(_hue_difference(image, out)[coloured], 99) < limit  # degrees


@pytest.mark.parametrize("method", LUMA_ONLY)
def test_luma_methods_keep_every_hue(method, frame):
    """Luma-only methods keep the HSV hue of every coloured pixel of a many-hued image."""
    out = SHARPEN_METHODS.get(method)(frame, channel_axis=-1)
    hsv_in = cv2.cvtColor(frame, cv2.COLOR_RGB2HSV)
    hsv_out = cv2.cvtColor(out, cv2.COLOR_RGB2HSV)
    coloured = (
        (hsv_in[..., 1] > 0.15)
        & (hsv_out[..., 1] > 0.15)
        & (hsv_out[..., 2] > 0.05)
        & (hsv_out[..., 2] < 0.999)
    )
    assert coloured.mean() > 0.1
    assert np.percentile(_hue_difference(frame, out)[coloured], 99) < 1.0


def test_defocus_without_chroma_keeps_every_hue(frame):
    out = sharpen(frame, channel_axis=-1, chroma=False).image
    hsv_out = cv2.cvtColor(out, cv2.COLOR_RGB2HSV)
    coloured = (hsv_out[..., 1] > 0.15) & (hsv_out[..., 2] > 0.05) & (hsv_out[..., 2] < 0.999)
    assert np.percentile(_hue_difference(frame, out)[coloured], 99) < 1.0


def test_defocus_keeps_mean_colour(frame):
    """Restoring colour detail must not shift colours: the mean chroma stays put."""
    out = sharpen(frame, channel_axis=-1).image
    luma = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    chroma_in = (frame - (frame @ luma)[..., None]).mean(axis=(0, 1))
    chroma_out = (out - (out @ luma)[..., None]).mean(axis=(0, 1))
    np.testing.assert_allclose(chroma_out, chroma_in, atol=2e-3)


def test_rgba_alpha_passes_through(frame):
    alpha = np.linspace(0, 1, frame.shape[0] * frame.shape[1], dtype=np.float32)
    rgba = np.concatenate([frame, alpha.reshape(*frame.shape[:2], 1)], axis=-1)
    for method in ("unsharp", "defocus"):
        out = sharpen(rgba, method=method, channel_axis=-1).image
        assert out.shape == rgba.shape
        np.testing.assert_array_equal(out[..., 3], rgba[..., 3])


def test_sharpen_result_map_only_for_defocus(frame):
    result = sharpen(frame, channel_axis=-1)
    assert isinstance(result, SharpenResult)
    assert result.defocus_map.shape == frame.shape[:2]
    assert result.defocus_map.dtype == np.float32
    for method in LUMA_ONLY:
        assert sharpen(frame, method=method, channel_axis=-1).defocus_map is None


def test_unknown_method_lists_choices(frame):
    with pytest.raises(InputError, match=r"unknown sharpen method 'nope'.*clahe.*defocus"):
        sharpen(frame, method="nope", channel_axis=-1)


@pytest.mark.parametrize("bad", [-0.5, float("nan"), "1", True])
def test_bad_strength(bad, frame):
    with pytest.raises(InputError, match="strength"):
        sharpen(frame, method="kernel3", channel_axis=-1, strength=bad)


def test_bad_shapes_and_values(frame):
    with pytest.raises(InputError, match="channel_axis=-1"):
        sharpen(frame)  # colour image without channel_axis
    with pytest.raises(InputError, match="channels"):
        sharpen(np.zeros((8, 8, 2), np.float32), channel_axis=-1)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        sharpen(frame * 2.0, channel_axis=-1)
    with pytest.raises(InputError, match="NaN"):
        sharpen(np.full((8, 8), np.nan, np.float32), method="box")


def test_method_options_are_validated(frame):
    with pytest.raises(InputError, match="kernel_size"):
        sharpen(frame, method="box", channel_axis=-1, kernel_size=4)
    with pytest.raises(InputError, match="clip_limit"):
        sharpen(frame, method="clahe", channel_axis=-1, clip_limit=0)
    with pytest.raises(InputError, match="num_iter"):
        sharpen(frame, method="repeated", channel_axis=-1, num_iter=0)
    with pytest.raises(InputError, match="cue"):
        sharpen(frame, channel_axis=-1, cue="magic")
    with pytest.raises(TypeError):
        sharpen(frame, method="he", channel_axis=-1, radius=3)


def test_sharpening_kernels_sum_to_one():
    for size in (3, 5, 7):
        k = sharpening_kernel(size)
        assert k.shape == (size, size) and k.sum() == pytest.approx(1.0)
        assert k[size // 2, size // 2] >= 5 and (np.delete(k.ravel(), k.size // 2) <= 0).all()
    with pytest.raises(InputError, match="3, 5 or 7"):
        sharpening_kernel(4)


def test_unsharp_strength_is_the_amount(frame):
    grey = frame.mean(axis=-1)
    weak = sharpen(grey, method="unsharp", strength=0.5).image
    strong = sharpen(grey, method="unsharp", strength=1.0).image
    # Linear in the amount away from clipping: the 0.5 result is halfway.
    inside = (strong > 0.01) & (strong < 0.99)
    np.testing.assert_allclose(weak[inside], ((grey + strong) / 2)[inside], atol=1e-5)
