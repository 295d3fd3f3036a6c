"""Properties of the fusion metrics: maxima, symmetries, bounds, colour and errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage as ndi

from allfocus._core.errors import ConfigError, InputError
from allfocus.metrics import (
    QABF_MAX,
    average_gradient,
    evaluate,
    nmi,
    psnr,
    qabf,
    qcb,
    qy,
    spatial_frequency,
    ssim,
)

FUSION_METRICS = [qabf, nmi, qy, qcb]


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def scene(rng):
    """A sharp textured image and two complementary half-blurred sources."""
    sharp = ndi.gaussian_filter(rng.random((64, 64)), 1.0)
    sharp = (sharp - sharp.min()) / (sharp.max() - sharp.min())
    blurred = ndi.gaussian_filter(sharp, 3.0)
    left = np.zeros(sharp.shape, dtype=bool)
    left[:, :32] = True
    a = np.where(left, sharp, blurred)
    b = np.where(left, blurred, sharp)
    return sharp, a, b


@pytest.fixture
def colour_scene(rng):
    sharp = ndi.gaussian_filter(rng.random((48, 48, 3)), (1.0, 1.0, 0))
    sharp = (sharp - sharp.min()) / (sharp.max() - sharp.min())
    blurred = ndi.gaussian_filter(sharp, (3.0, 3.0, 0))
    a = sharp.copy()
    a[:, 24:] = blurred[:, 24:]
    b = sharp.copy()
    b[:, :24] = blurred[:, :24]
    return sharp, a, b


# ---------------------------------------------------------------- maxima


def test_qabf_of_source_against_itself_is_the_maximum(scene):
    sharp, _, _ = scene
    assert qabf(sharp, [sharp, sharp]) == pytest.approx(QABF_MAX, abs=1e-12)
    assert qabf(sharp, [sharp]) == pytest.approx(QABF_MAX, abs=1e-12)
    assert QABF_MAX == pytest.approx(0.9748, abs=1e-4)


def test_qabf_ignores_contrast_inversion(scene):
    # atan(gy / gx) is unchanged when both gradients flip sign.
    sharp, _, _ = scene
    assert qabf(1.0 - sharp, [sharp]) == pytest.approx(QABF_MAX, abs=1e-6)


def test_other_maxima_for_identical_images(scene):
    sharp, _, _ = scene
    assert nmi(sharp, [sharp, sharp]) == pytest.approx(2.0, abs=1e-12)
    assert qy(sharp, [sharp, sharp]) == pytest.approx(1.0, abs=1e-9)
    assert qcb(sharp, [sharp, sharp]) == pytest.approx(1.0, abs=1e-12)
    assert ssim(sharp, sharp) == pytest.approx(1.0)


def test_psnr_of_identical_images_is_inf_without_warning(scene):
    sharp, _, _ = scene
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert psnr(sharp, sharp) == np.inf


def test_psnr_known_value():
    ref = np.zeros((8, 8))
    assert psnr(ref + 0.1, ref) == pytest.approx(20.0, abs=1e-4)
    assert psnr(np.full((8, 8), 26, np.uint8), np.zeros((8, 8), np.uint8)) == pytest.approx(
        20 * np.log10(255 / 26)
    )


# ---------------------------------------------------------------- ranking


@pytest.mark.parametrize("metric", FUSION_METRICS, ids=lambda f: f.__name__)
def test_perfect_fusion_beats_the_average(scene, metric):
    sharp, a, b = scene
    assert metric(sharp, [a, b]) > metric((a + b) / 2, [a, b])


@pytest.mark.parametrize("metric", [qabf, qcb], ids=lambda f: f.__name__)
def test_perfect_fusion_beats_a_copy_of_one_source(scene, metric):
    sharp, a, b = scene
    assert metric(sharp, [a, b]) > metric(a, [a, b])


@pytest.mark.parametrize("metric", [nmi, qy], ids=lambda f: f.__name__)
def test_copy_of_one_source_is_rewarded(scene, metric):
    # A known weakness of the similarity metrics (docs/metrics.md): returning one
    # source unchanged scores at least as well as the true all-in-focus image.
    sharp, a, b = scene
    assert metric(a, [a, b]) >= metric(sharp, [a, b])


# ---------------------------------------------------------------- symmetry / N sources


@pytest.mark.parametrize("metric", FUSION_METRICS, ids=lambda f: f.__name__)
def test_symmetric_in_source_order(scene, metric):
    sharp, a, b = scene
    fused = 0.7 * sharp + 0.3 * a
    assert metric(fused, [a, b]) == pytest.approx(metric(fused, [b, a]), abs=1e-12)


@pytest.mark.parametrize("metric", FUSION_METRICS, ids=lambda f: f.__name__)
def test_stack_array_equals_list(scene, metric):
    sharp, a, b = scene
    assert metric(sharp, np.stack([a, b])) == metric(sharp, [a, b])


def test_duplicated_source(scene):
    sharp, a, _ = scene
    fused = 0.5 * (sharp + a)
    assert qabf(fused, [a, a]) == pytest.approx(qabf(fused, [a]), abs=1e-12)
    assert nmi(fused, [a, a]) == pytest.approx(2 * nmi(fused, [a]), abs=1e-12)
    assert qcb(fused, [a, a]) == pytest.approx(qcb(fused, [a]), abs=1e-12)
    assert qy(fused, [a, a]) == pytest.approx(qy(fused, [a]), abs=1e-12)


def test_three_sources(scene):
    sharp, a, b = scene
    c = ndi.gaussian_filter(sharp, 2.0)
    for metric in FUSION_METRICS:
        value = metric(sharp, [a, b, c])
        assert np.isfinite(value)
        assert value == pytest.approx(metric(sharp, [c, a, b]), abs=1e-12)
    assert qy(sharp, [sharp, sharp, sharp]) == pytest.approx(1.0, abs=1e-9)
    assert 0 <= nmi(sharp, [a, b, c]) <= 3


# ---------------------------------------------------------------- bounds (hypothesis)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(8, 24), mix=st.floats(0.0, 1.0))
def test_bounds(seed, size, mix):
    gen = np.random.default_rng(seed)
    a, b, noise = gen.random((3, size, size + 3))
    fused = mix * a + (1 - mix) * noise
    assert 0.0 <= qabf(fused, [a, b]) <= QABF_MAX + 1e-12
    assert 0.0 <= nmi(fused, [a, b]) <= 2.0 + 1e-12
    assert 0.0 <= qcb(fused, [a, b]) <= 1.0 + 1e-12
    assert -1.0 <= qy(fused, [a, b]) <= 1.0 + 1e-12
    assert spatial_frequency(fused) >= 0.0
    assert average_gradient(fused) >= 0.0


def test_nmi_of_independent_noise_is_small(rng):
    a, b, f = rng.random((3, 256, 256))
    assert nmi(f, [a, b], bins=16) < 0.01


def test_nmi_of_constant_images_is_one_per_source():
    flat = np.full((16, 16), 0.5)
    assert nmi(flat, [flat, flat]) == 2.0


def test_qabf_without_edges_warns_and_returns_nan():
    flat = np.full((16, 16), 0.5)
    with pytest.warns(RuntimeWarning, match="no source has any edge"):
        assert np.isnan(qabf(flat, [flat, flat]))


def test_qabf_zero_border_counts_the_frame_outline():
    """Zero padding (the MATLAB code's conv2) makes the outline of a flat image an
    edge that the fused image keeps; the default border sees no edge at all."""
    flat = np.full((16, 16), 0.5)
    assert qabf(flat, [flat, flat], border="zero") == pytest.approx(QABF_MAX, abs=1e-12)
    with pytest.warns(RuntimeWarning):
        qabf(flat, [flat, flat], border="replicate")


def test_qabf_zero_border_differs_only_at_the_outline(rng):
    """The outline is a preserved edge, so zero padding raises the score, less so
    the larger the image (the interior's gradients are the same either way)."""
    gaps = []
    for size in (64, 256):
        sharp = ndi.gaussian_filter(rng.random((size, size)), 1.0)
        blurred = ndi.gaussian_filter(sharp, 3.0)
        a = sharp.copy()
        a[:, size // 2 :] = blurred[:, size // 2 :]
        b = sharp.copy()
        b[:, : size // 2] = blurred[:, : size // 2]
        fused = 0.5 * (a + b)  # far from perfect: the outline's weight shows
        gaps.append(qabf(fused, [a, b], border="zero") - qabf(fused, [a, b]))
    assert gaps[0] > gaps[1] > 0


def test_qabf_rejects_an_unknown_border(scene):
    sharp, a, b = scene
    with pytest.raises(ConfigError, match="border must be one of replicate, zero"):
        qabf(sharp, [a, b], border="reflect")


# ---------------------------------------------------------------- dtype, colour


@pytest.mark.parametrize("metric", FUSION_METRICS, ids=lambda f: f.__name__)
def test_uint8_equals_scaled_float(scene, metric):
    sharp, a, b = scene
    to8 = lambda x: np.round(x * 255).astype(np.uint8)  # noqa: E731
    ints = [to8(x) for x in (sharp, a, b)]
    floats = [x.astype(np.float64) / 255 for x in ints]
    assert metric(ints[0], ints[1:]) == pytest.approx(metric(floats[0], floats[1:]), abs=1e-6)


def test_uint16_input(scene):
    sharp, a, b = scene
    to16 = lambda x: np.round(x * 65535).astype(np.uint16)  # noqa: E731
    assert qabf(to16(sharp), [to16(a), to16(b)]) == pytest.approx(qabf(sharp, [a, b]), abs=1e-4)


def test_12_bit_data_in_16_bit_images_scores_as_16_bit_data(scene):
    """Every metric of 12-bit camera data in uint16 equals that of the same data at 16 bits."""
    sharp, a, b = scene
    fused = 0.5 * sharp + 0.5 * a  # not a copy of the reference, so PSNR is finite
    bits12 = [np.round(x * 4095).astype(np.uint16) for x in (fused, a, b, sharp)]
    bits16 = [x * np.uint16(16) for x in bits12]  # the same values on the 16-bit scale
    low = evaluate(bits12[0], bits12[1:3], reference=bits12[3])
    full = evaluate(bits16[0], bits16[1:3], reference=bits16[3])
    for key in full:
        # 16 x 4095 = 65520, not 65535: the two scales differ by 0.02 %
        assert low[key] == pytest.approx(full[key], rel=2e-3, abs=2e-3), key
    assert spatial_frequency(bits12[0]) == pytest.approx(spatial_frequency(bits16[0]), rel=1e-3)


def test_one_scale_for_the_images_compared(scene):
    """A dark source of 12-bit data keeps the scale of its brighter companions."""
    sharp, a, b = scene
    ints = [np.round(x * 4095).astype(np.uint16) for x in (sharp, a, b)]
    dark = (ints[2] // 16).astype(np.uint16)  # by itself it would read as 8-bit data
    scaled = [x.astype(np.float64) / 4095 for x in (ints[0], ints[1], dark)]
    assert qy(ints[0], [ints[1], dark]) == pytest.approx(qy(scaled[0], scaled[1:]), abs=1e-6)
    # a float fused image keeps every input on its own type's scale
    assert psnr(scaled[0], ints[0]) < 30


def _luma(rgb):
    return rgb @ np.array([0.299, 0.587, 0.114])


def test_colour_is_reduced_to_luma(colour_scene):
    sharp, a, b = colour_scene
    colour = evaluate(sharp, [a, b], channel_axis=-1)
    grey = evaluate(_luma(sharp), [_luma(a), _luma(b)])
    assert list(colour) == ["qabf", "nmi", "qy", "qcb", "sf", "ag"]
    for key in colour:
        assert colour[key] == pytest.approx(grey[key], abs=1e-5), key


def test_channel_axis_position_does_not_matter(colour_scene):
    sharp, a, b = colour_scene
    last = evaluate(sharp, [a, b], channel_axis=-1, reference=sharp)
    first = evaluate(
        np.moveaxis(sharp, -1, 0),
        np.stack([np.moveaxis(a, -1, 0), np.moveaxis(b, -1, 0)]),
        channel_axis=0,
        reference=np.moveaxis(sharp, -1, 0),
    )
    assert first == pytest.approx(last, abs=1e-12)


def test_single_channel_equals_grey(scene):
    sharp, a, b = scene
    grey = evaluate(sharp, [a, b])
    single = evaluate(sharp[..., None], [a[..., None], b[..., None]], channel_axis=-1)
    assert single == pytest.approx(grey, abs=1e-12)


def test_rgba_alpha_is_ignored(colour_scene):
    sharp, a, b = colour_scene
    alpha = lambda x: np.concatenate([x, np.ones((*x.shape[:2], 1))], axis=-1)  # noqa: E731
    assert qabf(alpha(sharp), [alpha(a), alpha(b)], channel_axis=-1) == pytest.approx(
        qabf(sharp, [a, b], channel_axis=-1), abs=1e-6
    )


def test_psnr_ssim_use_all_channels(colour_scene):
    sharp, a, _ = colour_scene
    err = np.mean((a - sharp) ** 2)
    assert psnr(a, sharp, channel_axis=-1) == pytest.approx(10 * np.log10(1 / err), rel=1e-5)
    assert 0 < ssim(a, sharp, channel_axis=-1) < 1


# ---------------------------------------------------------------- no-reference metrics


def test_spatial_frequency_and_average_gradient_known_values():
    stripes = np.tile([0.0, 1.0], (4, 2))
    assert spatial_frequency(stripes) == pytest.approx(np.sqrt(12 / 16))
    ramp = np.tile(np.linspace(0.0, 1.0, 5), (5, 1))
    assert average_gradient(ramp) == pytest.approx(25 * 0.25 / np.sqrt(2) / 16)
    flat = np.full((6, 6), 0.3)
    assert spatial_frequency(flat) == 0.0
    assert average_gradient(flat) == 0.0


def test_sharper_image_has_higher_sf_and_ag(scene):
    sharp, a, _ = scene
    assert spatial_frequency(sharp) > spatial_frequency(a)
    assert average_gradient(sharp) > average_gradient(a)


def test_evaluate_keys(scene):
    sharp, a, b = scene
    assert list(evaluate(sharp)) == ["sf", "ag"]
    assert list(evaluate(sharp, reference=sharp)) == ["sf", "ag", "psnr", "ssim"]
    full = evaluate(sharp, [a, b], reference=sharp)
    assert list(full) == ["qabf", "nmi", "qy", "qcb", "sf", "ag", "psnr", "ssim"]
    assert all(isinstance(v, float) for v in full.values())
    assert full["qabf"] == qabf(sharp, [a, b])


# ---------------------------------------------------------------- errors


def test_shape_mismatch_names_the_source(scene):
    sharp, a, _ = scene
    with pytest.raises(InputError, match=r"sources\[1\] has shape \(64, 60\) but fused has shape"):
        qabf(sharp, [a, a[:, :60]])


def test_reference_shape_mismatch(scene):
    sharp, _, _ = scene
    with pytest.raises(InputError, match=r"reference has shape \(64, 63\)"):
        psnr(sharp, sharp[:, :63])
    with pytest.raises(InputError, match="reference"):
        evaluate(sharp, reference=sharp[:10])


def test_colour_without_channel_axis_gives_a_hint(colour_scene):
    sharp, a, b = colour_scene
    with pytest.raises(InputError, match="pass channel_axis=-1"):
        qabf(sharp, [a, b])
    with pytest.raises(InputError, match="pass channel_axis=None"):
        qabf(sharp[..., 0], [a[..., 0], b[..., 0]], channel_axis=-1)


def test_single_array_as_sources_is_rejected(scene):
    sharp, a, _ = scene
    with pytest.raises(InputError, match=r"wrap a single source in a list"):
        nmi(sharp, a)


def test_other_input_errors(scene):
    sharp, a, b = scene
    with pytest.raises(InputError, match="at least 1 source"):
        qabf(sharp, [])
    with pytest.raises(InputError, match="bins must be an integer"):
        nmi(sharp, [a, b], bins=1)
    with pytest.raises(InputError, match="unknown csf 'barten'"):
        qcb(sharp, [a, b], csf="barten")
    with pytest.raises(InputError, match="at least 7x7"):
        qy(sharp[:5, :5], [a[:5, :5], b[:5, :5]])
    with pytest.raises(InputError, match="at least 7x7"):
        ssim(sharp[:5, :5], sharp[:5, :5])
    with pytest.raises(InputError, match="got 2"):
        qabf(np.zeros((8, 8, 2)), [np.zeros((8, 8, 2))], channel_axis=-1)
    with pytest.raises(InputError, match="NaN"):
        qabf(np.full((8, 8), np.nan), [sharp[:8, :8]])
    with pytest.raises(InputError, match="sequence of images"):
        qabf(sharp, 3)
    with pytest.raises(ValueError, match="out of range"):
        qabf(np.zeros((8, 8, 3)), [np.zeros((8, 8, 3))], channel_axis=5)
