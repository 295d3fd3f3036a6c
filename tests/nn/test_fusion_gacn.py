"""The shipped GACN weights through ``fuse(method="gacn")``: fairness, quality, tiling."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

torch = pytest.importorskip("torch")

from allfocus.fusion import fuse, list_methods  # noqa: E402
from allfocus.fusion.depthmap import DEFOCUS_MODEL_OFF  # noqa: E402
from allfocus.fusion.gacn import halo  # noqa: E402
from allfocus.metrics import psnr  # noqa: E402
from allfocus.nn import WEIGHTS, create_model  # noqa: E402
from allfocus.nn.infer import decision_scores, pretrained_gacn  # noqa: E402
from allfocus.synth import synthetic_stack  # noqa: E402


def test_registered():
    assert "gacn" in list_methods()
    assert halo() > 0


@pytest.mark.parametrize("name", ["gacn_v1", "gacn_v2", "gacn_v3", "gacn_v4"])
def test_weights_load_and_are_small(name):
    spec = WEIGHTS[name]
    assert spec.path.is_file()
    assert spec.path.stat().st_size < 2 * 2**20
    net = create_model("gacn", weights=name)
    assert not net.training


def test_auto_weights_follow_the_number_of_frames():
    from allfocus.fusion.gacn import resolve_weights

    s = synthetic_stack((64, 64), 3, rng=3)
    auto = fuse(s.frames, method="gacn", channel_axis=-1)
    v4 = fuse(s.frames, method="gacn", channel_axis=-1, weights="gacn_v4")
    np.testing.assert_array_equal(auto.image, v4.image)
    pair = fuse(s.frames[:2], method="gacn", channel_axis=-1)
    v1 = fuse(s.frames[:2], method="gacn", channel_axis=-1, weights="gacn_v1")
    np.testing.assert_array_equal(pair.image, v1.image)
    assert resolve_weights("auto", 2) == "gacn_v1"
    assert resolve_weights("auto", 3) == "gacn_v4"


@pytest.mark.parametrize("name", ["gacn_v1", "gacn_v3"])
def test_trained_files_of_either_architecture_load(tmp_path, name):
    """A state_dict file with three (gacn_v1) or four (gacn_v3) windows is used as is."""
    path = tmp_path / f"{name}_copy.pt"
    path.write_bytes(WEIGHTS[name].path.read_bytes())
    s = synthetic_stack((64, 64), 3, rng=4)
    from_file = fuse(s.frames, method="gacn", channel_axis=-1, weights=str(path))
    named = fuse(s.frames, method="gacn", channel_axis=-1, weights=name)
    np.testing.assert_array_equal(from_file.image, named.image)


def test_file_of_another_architecture_is_refused(tmp_path):
    path = tmp_path / "small.pt"
    torch.save(create_model("gacn", channels=4).state_dict(), path)
    s = synthetic_stack((32, 32), 2, rng=1)
    with pytest.raises(ValueError, match="fit none of the GACN architectures"):
        fuse(s.frames, method="gacn", channel_axis=-1, weights=str(path))


def test_file_that_records_its_architecture_is_built_with_it(tmp_path):
    """A file written with its architecture (windows of other radii, same count as
    gacn_v1's) is built with that architecture, not guessed from tensor shapes."""
    from allfocus.nn.infer import pretrained_gacn
    from allfocus.nn.train.report import save_weights

    torch.manual_seed(0)
    arch = {"windows": (1, 2, 5), "channels": 8, "activity_channels": 8, "decision_channels": 8}
    net = create_model("gacn", **arch).eval()
    path = tmp_path / "own.pt"
    save_weights(net, path, arch=arch)
    loaded = pretrained_gacn(str(path))
    assert loaded.windows == (1, 2, 5)
    frames = torch.rand(1, 3, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(loaded.scores(frames), net.fold_norms().scores(frames))
    # A record that does not match the tensors is refused with both named.
    wrong = tmp_path / "wrong.pt"
    save_weights(create_model("gacn", channels=4), wrong, arch={"channels": 6})
    with pytest.raises(ValueError, match="do not match the GACN architecture they record"):
        pretrained_gacn(str(wrong))


@pytest.mark.parametrize("name", ["nope", "deblur_v1"])
def test_unknown_or_other_networks_weights_are_refused(name):
    s = synthetic_stack((32, 32), 2, rng=1)
    with pytest.raises(ValueError, match=r"unknown gacn weights .*choose auto, gacn_v1"):
        fuse(s.frames, method="gacn", channel_axis=-1, weights=name)


def test_wrong_hash_is_refused(tmp_path):
    from dataclasses import replace

    from allfocus.nn.weights import load_weights

    spec = replace(WEIGHTS["gacn_v1"], sha256="0" * 64)
    with pytest.raises(OSError, match="sha256"):
        load_weights(create_model("gacn"), spec)


def test_sharp_only_in_last_of_five_frames():
    rng = np.random.default_rng(0)
    texture = ndi.gaussian_filter(rng.random((96, 96)), 0.7).astype(np.float32)
    inside = np.zeros(texture.shape, bool)
    inside[28:68, 28:68] = True
    stack = []
    for k in range(5):
        frame = ndi.gaussian_filter(texture, 0.6 + 0.4 * k) if k < 4 else texture.copy()
        if k == 4:
            frame[~inside] = ndi.gaussian_filter(texture, 2.5)[~inside]
        else:
            frame[~inside] = texture[~inside] if k == 0 else frame[~inside]
        stack.append(frame)
    res = fuse(np.stack(stack), method="gacn")
    core = (slice(36, 60), slice(36, 60))
    assert np.mean(np.rint(res.depth[core]) == 4) > 0.95
    assert np.abs(res.image[core] - texture[core]).mean() < 0.01


@pytest.mark.parametrize("num", [2, 5])
def test_synthetic_stack_psnr_floor(num):
    s = synthetic_stack((128, 128), num, rng=11, noise=0.002)
    res = fuse(s.frames, method="gacn", channel_axis=-1)
    assert psnr(res.image, s.sharp, channel_axis=-1) > (26.0 if num == 2 else 32.0)
    assert res.confidence.shape == s.frames.shape[1:3]


@pytest.mark.parametrize("refine", ["network", "none"])
def test_other_refinements(refine):
    s = synthetic_stack((64, 64), 3, rng=2)
    res = fuse(s.frames, method="gacn", channel_axis=-1, refine=refine)
    assert psnr(res.image, s.sharp, channel_axis=-1) > 25.0


def test_tiled_matches_whole():
    s = synthetic_stack((200, 180), 2, color=False, rng=4)
    model = pretrained_gacn("gacn_v1")
    whole = decision_scores(model, s.frames, tile=512)
    tiled = decision_scores(model, s.frames, tile=64)
    # Channel squeeze-excitation pools over the tile, so scores differ slightly;
    # only near-ties (flat areas, where either frame will do) may flip.
    agree = np.argmax(whole, 0) == np.argmax(tiled, 0)
    assert agree.mean() > 0.97
    margin = np.abs(whole[0] - whole[1])
    clear = margin > 0.25 * np.median(margin)
    assert (agree | ~clear).all()


@pytest.mark.parametrize("tile", [512, 64])
def test_decision_scores_of_uint16_luma_as_float16(tile):
    # What fuse_gacn_passes holds for a large stack: luma over 65535, scores in half floats.
    s = synthetic_stack((200, 180), 3, color=False, rng=4)
    model = pretrained_gacn("gacn_v3")
    exact = decision_scores(model, s.frames, tile=tile)
    luma = np.rint(np.clip(s.frames, 0, 1) * 65535).astype(np.uint16)
    half = decision_scores(model, luma, tile=tile, dtype=np.float16)
    assert half.dtype == np.float16 and half.shape == exact.shape
    np.testing.assert_allclose(half.astype(np.float32), exact, rtol=2e-3, atol=2e-2)


def test_confidence_is_the_same_without_the_probability_maps():
    # The default refinement takes the winner's probability without the
    # softmax of every frame; the soft one computes them all.
    s = synthetic_stack((64, 72), 4, rng=3)
    lean = fuse(s.frames, method="gacn", channel_axis=-1, refine="none", **DEFOCUS_MODEL_OFF)
    full = fuse(s.frames, method="gacn", channel_axis=-1, refine="soft", **DEFOCUS_MODEL_OFF)
    np.testing.assert_allclose(lean.confidence, full.confidence, atol=1e-6)
    np.testing.assert_array_equal(lean.depth, full.depth)
    assert lean.confidence.min() >= 0 and lean.confidence.max() <= 1 + 1e-6


def test_bad_options():
    s = synthetic_stack((32, 32), 2, rng=1)
    with pytest.raises(ValueError, match="refine"):
        fuse(s.frames, method="gacn", channel_axis=-1, refine="nope")
    with pytest.raises(ValueError, match="tile"):
        fuse(s.frames, method="gacn", channel_axis=-1, tile=8)
    with pytest.raises(ValueError, match="weights"):
        fuse(s.frames, method="gacn", channel_axis=-1, weights="nope")
    with pytest.raises(ValueError, match="scales"):
        fuse(s.frames, method="gacn", channel_axis=-1, scales=0)
    with pytest.raises(ValueError, match="measure_weight"):
        fuse(s.frames, method="gacn", channel_axis=-1, measure_weight=-1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.uint16])
def test_focus_measure_in_bands_equals_the_whole_frames(dtype):
    from allfocus.focus.measures import multiscale_laplacian
    from allfocus.fusion.gacn import add_focus_measure

    rng = np.random.default_rng(3)
    # 300 x 64: bands of 128 rows, so three bands and their halos
    grey = ndi.gaussian_filter(rng.random((2, 300, 64)), (0, 1, 1)).astype(np.float32)
    luma = grey if dtype == np.float32 else np.round(grey * 65535).astype(np.uint16)
    scores = rng.normal(size=luma.shape).astype(np.float32)
    got = add_focus_measure(scores.copy(), luma, weight=2.5)
    as_float = luma if dtype == np.float32 else luma.astype(np.float32) / 65535
    measure = np.stack([multiscale_laplacian(f, window=3) for f in as_float])
    np.testing.assert_allclose(got, scores + 2.5 * np.log(measure + 1e-4), rtol=1e-6, atol=1e-5)
    assert got.dtype == np.float32


def test_focus_measure_in_the_logits_raises_the_synthetic_psnr():
    # The first four seeds at 160 x 200, 5 frames (measured: 37.52 dB with the
    # network's logits alone, 37.96 with the measure added; seeds 1-8: 37.40
    # and 37.91, single scenes -0.8 to +2.2 dB).
    gain = []
    for seed in range(1, 5):
        s = synthetic_stack((160, 200), 5, max_radius=6.0, noise=0.003, rng=seed)
        alone, added = (
            fuse(s.frames, method="gacn", channel_axis=-1, measure_reach=0, **params).image
            for params in ({"measure_weight": 0.0}, {})
        )
        gain.append(
            psnr(np.clip(added, 0, 1), s.sharp, channel_axis=-1)
            - psnr(np.clip(alone, 0, 1), s.sharp, channel_axis=-1)
        )
    assert np.mean(gain) > 0.25


def test_measure_labels_are_the_depthmap_decision_labels():
    from allfocus.fusion._common import argmax_frames
    from allfocus.fusion.depthmap import focus_volume, remove_small_regions
    from allfocus.fusion.gacn import _measure_labels

    luma = synthetic_stack((96, 128), 4, rng=5).frames.mean(axis=-1).astype(np.float32)
    expected = remove_small_regions(
        argmax_frames(focus_volume(luma, measure="multiscale_laplacian", window=3)), min_size=4
    )
    np.testing.assert_array_equal(_measure_labels(luma, 4), expected)
    u16 = np.round(luma * 65535).astype(np.uint16)
    assert np.mean(_measure_labels(u16, 4) == expected) > 0.999  # rounding of near-ties


def _oversampled_noisy_stack(seed: int):
    """A 5-frame stack drawn 4 times larger than its detail, with noise of 0.02.

    Like a microscope stack sampled finer than its optics resolve: within the
    network's reach the frames differ mostly by their noise.
    """
    import cv2

    s = synthetic_stack((64, 80), 5, max_radius=4.0, noise=0.0, rng=seed)
    big = np.stack(
        [cv2.resize(f, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC) for f in s.frames]
    )
    big += np.random.default_rng(seed).normal(0, 0.02, big.shape).astype(np.float32)
    truth = np.kron(s.best_frame, np.ones((4, 4), int))
    return np.clip(big, 0, 1), truth


@pytest.mark.parametrize("seed", [1, 2])
def test_coarser_octaves_find_the_sharp_frames_of_an_oversampled_noisy_stack(seed):
    stack, truth = _oversampled_noisy_stack(seed)
    right = {}
    for scales in (1, 3):  # gacn_v3, whose full-size view alone fails here
        res = fuse(
            stack,
            method="gacn",
            channel_axis=-1,
            weights="gacn_v3",
            scales=scales,
            measure_reach=0,
            **DEFOCUS_MODEL_OFF,
        )
        right[scales] = np.mean(np.rint(res.depth) == truth)
    # measured: 0.35-0.40 of the pixels from the full size alone, 0.88-0.91 with
    # the half and quarter size as well
    assert right[3] > 0.8
    assert right[3] > right[1] + 0.3
    default = fuse(stack, method="gacn", channel_axis=-1, measure_reach=0, **DEFOCUS_MODEL_OFF)
    three = fuse(
        stack, method="gacn", channel_axis=-1, scales=3, measure_reach=0, **DEFOCUS_MODEL_OFF
    )
    np.testing.assert_array_equal(default.depth, three.depth)
    # gacn_v4 (the default): measured 0.80-0.81 from the full size alone and
    # 0.905-0.93 with the octaves
    exact = np.mean(np.rint(default.depth) == truth)
    assert exact > 0.88
    # The noisy 3 x 3 measure choosing among neighbouring frames (the default)
    # costs little here (measured: 0.924 / 0.894 of the pixels exactly, 0.98
    # within a frame)
    picked = fuse(stack, method="gacn", channel_axis=-1, **DEFOCUS_MODEL_OFF)
    assert np.mean(np.rint(picked.depth) == truth) > exact - 0.03
    assert np.mean(np.abs(np.rint(picked.depth) - truth) <= 1) > 0.96


def test_measure_picks_the_edge_on_a_slanted_label():
    """On a slanted printed surface the network places the change from one frame
    to the next a few pixels off; the measure among the winner's neighbours
    places it on the edges (5 frames, bench_gacn's 30 scenes: -1.0 dB against
    depthmap without, +2.9 with)."""
    without, picked, classical = [], [], []
    for seed in (100, 101, 102):
        s = synthetic_stack((192, 192), 5, noise=0.003, scene="label", rng=seed)
        for out, params in (
            (without, {"method": "gacn", "measure_reach": 0}),
            (picked, {"method": "gacn"}),  # the default: measure_reach=1
            (classical, {"method": "depthmap"}),
        ):
            image = fuse(s.frames, channel_axis=-1, **params).image
            out.append(psnr(np.clip(image, 0, 1), s.sharp, channel_axis=-1))
    assert np.mean(picked) - np.mean(without) > 1.5
    assert np.mean(picked) - np.mean(classical) > 1.0


def test_pick_leaves_flat_noise_to_the_network():
    """Where the frames are flat, their 3 x 3 measures are noise: the largest of
    three takes whichever frame's pixel strays furthest. The structure check
    keeps the network's winner there."""
    from allfocus.fusion.gacn import pick_by_measure

    rng = np.random.default_rng(0)
    luma = (0.5 + rng.normal(0, 0.003, (5, 64, 64))).astype(np.float32)
    labels = np.full((64, 64), 2, np.intp)
    checked = pick_by_measure(labels, luma, reach=1)
    unchecked = pick_by_measure(labels, luma, reach=1, agreement=-1)
    assert np.mean(checked == 2) > 0.98  # measured 1.0
    assert np.mean(unchecked == 2) < 0.6  # measured 0.30: the winner is one of three


def test_pick_in_bands_is_the_pick_on_whole_frames():
    """pick_by_measure works in bands of rows; with its halo the result is that
    of the whole frames' measures and correlations."""
    from allfocus.focus.measures import multiscale_laplacian
    from allfocus.fusion.gacn import PICK_AGREEMENT, local_agreement, pick_by_measure
    from allfocus.fusion.streaming import band_rows

    s = synthetic_stack((300, 64), 5, noise=0.003, scene="label", rng=7)
    luma = s.frames.mean(axis=-1).astype(np.float32)
    assert luma.shape[1] > 2 * band_rows(64)  # three bands
    labels = np.clip(np.rint(s.best_frame + 0.6), 0, 4).astype(np.intp)  # often one off
    measure = np.stack([multiscale_laplacian(f, window=3) for f in luma])
    expected = labels.copy()
    best = np.full(labels.shape, -np.inf, np.float32)
    for k in range(5):
        allowed = labels == k
        for w in (k - 1, k + 1):
            if 0 <= w < 5:
                agree = local_agreement(luma[k], luma[w]) >= PICK_AGREEMENT
                allowed |= (labels == w) & agree
        better = allowed & (measure[k] > best)
        expected[better] = k
        best[better] = measure[k][better]
    picked = pick_by_measure(labels, luma, reach=1)
    assert np.mean(picked != labels) > 0.05  # the pick does move labels here
    np.testing.assert_array_equal(picked, expected)
    u16 = np.round(luma * 65535).astype(np.uint16)
    assert np.mean(pick_by_measure(labels, u16, reach=1) == expected) > 0.999


def test_local_agreement_of_flat_and_related_windows():
    from allfocus.fusion.gacn import local_agreement

    rng = np.random.default_rng(1)
    a = rng.random((32, 32), dtype=np.float32)
    # Nearly flat: float32 rounding leaves about a quarter of the windows'
    # variances below 0 (a product of two such is positive, a root of one NaN).
    flat = (0.3 + rng.normal(0, 1e-5, (32, 32))).astype(np.float32)
    for first, second in ((flat, a), (a, flat), (flat, flat[::-1])):
        agreement = local_agreement(first, second)
        assert np.all(np.isfinite(agreement)) and np.all(np.abs(agreement) <= 1 + 1e-5)
    assert np.all(local_agreement(flat, flat[::-1]) == 0)
    inverted = local_agreement(a, 1 - a)
    assert inverted.max() < -0.99  # the same structure with the contrast reversed
    agree = local_agreement(a, a * 0.25 + 0.1)
    assert agree.dtype == np.float32 and agree.min() > 0.99


def test_stack_weights_trained_on_slanted_surfaces_place_the_bands():
    """gacn_v4 was trained with slanted surfaces among its stacks; gacn_v3, whose
    stacks were layers at a few depths, put the change from one frame to the
    next off the printed edges (10 frames, bench_gacn's 30 label scenes: +4.2
    dB against depthmap for gacn_v4, +0.3 for gacn_v3)."""
    gain = []
    for seed in (400, 401, 402):
        s = synthetic_stack((192, 192), 10, noise=0.003, scene="label", rng=seed)
        v3, v4 = (
            psnr(
                np.clip(fuse(s.frames, method="gacn", channel_axis=-1, weights=w).image, 0, 1),
                s.sharp,
                channel_axis=-1,
            )
            for w in ("gacn_v3", "auto")
        )
        gain.append(v4 - v3)
    assert np.mean(gain) > 1.5  # measured: +6.3, -0.3 and +3.9 dB


def test_measure_reach_leaves_pairs_and_is_checked():
    from allfocus.fusion.gacn import pick_by_measure

    s = synthetic_stack((64, 80), 2, rng=3)
    a, b = (fuse(s.frames, method="gacn", channel_axis=-1, measure_reach=r).image for r in (0, 3))
    np.testing.assert_array_equal(a, b)
    labels = np.zeros((2, 2), np.intp)
    assert pick_by_measure(labels, np.zeros((5, 2, 2), np.float32), reach=0) is labels
    with pytest.raises(ValueError, match="measure_reach"):
        fuse(s.frames, method="gacn", channel_axis=-1, measure_reach=-1)


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_shrunk_regions_are_the_whole_stack_shrunk(dtype):
    # Any region, at odd offsets too, bit for bit (OpenCV's INTER_AREA gave
    # 1 level of uint16 off on a region at odd columns).
    from allfocus.fusion.gacn import _shrink, _Shrunk

    rng = np.random.default_rng(8)
    luma = rng.random((2, 132, 200)).astype(np.float32)
    if dtype == np.uint16:
        luma = np.rint(luma * 65535).astype(np.uint16)
    whole, half = _shrink(luma, 66, 100), _Shrunk(luma, 66, 100)
    quarter = _Shrunk(half, 33, 50)
    for y0, y1, x0, x1 in [(0, 66, 0, 100), (37, 61, 55, 97), (1, 2, 3, 4), (20, 66, 71, 100)]:
        np.testing.assert_array_equal(half[:, y0:y1, x0:x1], whole[:, y0:y1, x0:x1])
    np.testing.assert_array_equal(quarter[:, 5:30, 7:49], _shrink(whole, 33, 50)[:, 5:30, 7:49])
    with pytest.raises(ValueError, match="twice"):
        _Shrunk(luma, 65, 100)


def test_tiled_octaves_shrink_each_tile_not_the_stack(monkeypatch):
    # A tiled octave asks for each tile's shrunk luma (no shrunk copy of the
    # whole stack) and gets the scores of the shrunk copy exactly.
    from allfocus.fusion import gacn
    from allfocus.nn.infer import TorchScorer

    model = TorchScorer(pretrained_gacn("gacn_v3"))
    luma = np.rint(synthetic_stack((300, 560), 4, color=False, rng=9).frames * 65535)
    luma = luma.astype(np.uint16)
    lazy = gacn.octave_scores(model, luma, tile=64, dtype=np.float16)
    made = []

    def whole(base, height, width):
        made.append((height, width))
        return gacn._shrink(base[:, :, :], height, width)

    monkeypatch.setattr(gacn, "_Shrunk", whole)
    np.testing.assert_array_equal(lazy, gacn.octave_scores(model, luma, tile=64, dtype=np.float16))
    assert made == [(150, 280), (75, 140)]  # both coarse octaves were tiled


def test_halo_grows_with_the_coarsest_octave():
    assert halo(scales=1) < halo(scales=2) < halo()
    assert halo() >= 4 * halo(scales=1) - 4 * (2 + 4)  # the quarter size reaches 4 times as far


def test_defocus_model_runs_on_the_network_depth_map():
    s = synthetic_stack((128, 128), 5, rng=7, noise=0.002)
    plain = fuse(s.frames, method="gacn", channel_axis=-1, unmix_rims=False, sharpen_between=False)
    model = fuse(s.frames, method="gacn", channel_axis=-1)
    gain = psnr(model.image, s.sharp, channel_axis=-1) - psnr(plain.image, s.sharp, channel_axis=-1)
    assert gain > 0.5, gain


def test_no_defocus_model_from_the_cli_for_gacn():
    from allfocus.cli._app import defocus_params

    assert defocus_params("gacn", False) == {"unmix_rims": False, "sharpen_between": False}
    assert defocus_params("gacn", True) == {}
    assert defocus_params("pyramid", False) == {}


def test_rim_model_finds_the_near_end_on_the_network_depth_map():
    """The scene whose summed near-end vote was 0.10 on gacn's map (under the
    threshold, rims left as fused); counting edges gives 0.42."""
    from allfocus.fusion.rims import Frames, estimate_rim_model

    s = synthetic_stack((384, 512), 5, max_radius=6.0, noise=0.003, rng=104)
    plain = fuse(s.frames, method="gacn", channel_axis=-1, unmix_rims=False, sharpen_between=False)
    model = estimate_rim_model(Frames(s.frames), 5, plain.depth)
    assert model is not None and model.near_first
    full = fuse(s.frames, method="gacn", channel_axis=-1, sharpen_between=False)
    # measured: +1.3 dB
    assert (
        psnr(full.image, s.sharp, channel_axis=-1)
        > psnr(plain.image, s.sharp, channel_axis=-1) + 0.5
    )


_PEAK_SCRIPT = """
import sys
import cv2
import numpy as np
import torch
from allfocus.fusion._gacn_net import DnnGACN, peak_bytes_per_pixel
from allfocus.nn.infer import TorchScorer, pretrained_gacn

def status(key):  # kB lines of /proc/self/status
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key))

torch.set_num_threads(1)
cv2.setNumThreads(1)
num, side, backend = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
if backend == "torch":
    model = TorchScorer(pretrained_gacn("gacn_v3"))
else:
    model = DnnGACN.load("gacn_v3")
luma = np.random.default_rng(0).random((num, side, side), dtype=np.float32)
model.score_stack(luma[:, :64, :64])  # first-call allocations out of the way
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # resets the peak (VmHWM) to the current resident size
before = status("VmRSS:")
model.score_stack(luma)
print((status("VmHWM:") - before) * 1024 / side**2, peak_bytes_per_pixel(num, model))
"""


@pytest.mark.skipif(
    not __import__("os").path.exists("/proc/self/clear_refs"), reason="needs Linux's peak RSS reset"
)
@pytest.mark.parametrize("backend", ["torch", "opencv"])
@pytest.mark.parametrize("num", [5, 16])
def test_tile_memory_estimate_matches_the_measured_peak(num, backend):
    """The estimate that sizes tiles is close to inference's measured peak.

    Too low and many-frame tiles run out of memory; too high (as the estimate
    for batched inference was) and tiles are smaller than they need to be,
    which costs halo work.
    """
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _PEAK_SCRIPT, str(num), "400", backend],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    measured, estimate = float(out[0]), float(out[1])
    # Peak resident memory varies by some 15 % from run to run.
    assert 0.8 * measured <= estimate <= 1.5 * measured, (measured, estimate)


def test_network_pass_reports_its_tiles():
    s = synthetic_stack((150, 140), 3, color=False, rng=5)
    model = pretrained_gacn("gacn_v3")
    calls = []
    decision_scores(model, s.frames, tile=64, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(k, 9) for k in range(1, 10)]  # 3 x 3 tiles of 64 px
    calls.clear()
    decision_scores(model, s.frames, tile=512, progress=lambda d, t: calls.append((d, t)))
    assert calls == []  # one pass, nothing to report


def test_fuse_passes_progress_only_to_methods_that_report():
    s = synthetic_stack((150, 140), 3, rng=5)
    calls = []
    fuse(s.frames, method="gacn", channel_axis=-1, tile=64, progress=lambda *a: calls.append(a))
    # 3 x 3 tiles of 64 px at full size, then the half and the quarter size whole
    assert calls == [(k, 11) for k in range(1, 12)]
    calls.clear()
    fuse(
        s.frames,
        method="gacn",
        channel_axis=-1,
        tile=64,
        scales=1,
        progress=lambda *a: calls.append(a),
    )
    assert calls == [(k, 9) for k in range(1, 10)]
    calls.clear()
    fuse(s.frames, method="gacn", channel_axis=-1, progress=lambda *a: calls.append(a))
    assert calls == []  # the full size in one pass: nothing to report
    calls.clear()
    fuse(s.frames, method="depthmap", channel_axis=-1, progress=lambda *a: calls.append(a))
    assert calls == []


def test_pipeline_reports_the_tiles_within_the_fuse_stage():
    from allfocus.pipeline import FuseConfig, fuse_stack

    s = synthetic_stack((150, 140), 3, rng=5)
    events = []
    fuse_stack(
        s.frames,
        config=FuseConfig(method="gacn", align="none", exposure_match=False, params={"tile": 64}),
        channel_axis=-1,
        progress=lambda *e: events.append(e),
    )
    fuse_events = [e for e in events if e[0] == "fuse"]
    assert fuse_events[0] == ("fuse", 0, 1) and fuse_events[-1] == ("fuse", 1, 1)
    tiles = fuse_events[1:-1]
    # 9 tiles at full size and one pass for each coarser octave; the last is
    # held back until the stage ends
    assert [d for _, d, _ in tiles] == [*range(1, 11), 10] and {t for *_, t in tiles} == {11}
    # The stage is complete exactly once, so a bar that counts stages advances once.
    assert sum(d == t for _, d, t in fuse_events) == 1


# --- read twice, frame by frame (fuse_gacn_passes, and fuse_files for large stacks)


def _u8(frames):
    return (np.clip(frames, 0, 1) * 255).round().astype(np.uint8)


def _assert_like_in_memory(passes, memory):
    """Read twice keeps luma as uint16 and scores as float16: near-ties may flip."""
    assert passes.image.shape == memory.image.shape
    assert np.mean(np.abs(passes.image - memory.image) > 1 / 255) <= 1e-3
    # (the classical measure, added to the float16 scores, makes them larger
    # and their rounding coarser: 2.8e-3 measured where 2e-3 held before)
    assert np.abs(passes.confidence - memory.confidence).max() <= 5e-3
    off = np.abs(passes.depth - memory.depth)
    assert np.mean(off > 0.51) <= 1e-3  # another frame
    assert np.median(off) <= 1e-3


@pytest.mark.parametrize("refine", ["depthmap", "none", "soft", "network"])
def test_passes_equal_the_in_memory_fusion_without_the_defocus_model(refine):
    from allfocus.fusion.gacn import fuse_gacn_passes

    stack = _u8(synthetic_stack((96, 120), 5, rng=4).frames)
    memory = fuse(stack, method="gacn", channel_axis=-1, refine=refine, **DEFOCUS_MODEL_OFF)
    reads = []

    def read_frames():
        reads.append(1)
        return iter(stack)  # a fresh iterator each time, as from files

    passes = fuse_gacn_passes(read_frames, 5, channel_axis=-1, refine=refine)
    assert len(reads) == 2
    _assert_like_in_memory(passes, memory)
    # ... and the defocus model is what the in-memory default adds
    assert not np.array_equal(fuse(stack, method="gacn", channel_axis=-1).image, passes.image)


@pytest.mark.parametrize("layout", ["grey", "channels_first"])
def test_passes_keep_the_layout_of_the_frames(layout):
    from allfocus.fusion.gacn import fuse_gacn_passes

    stack = _u8(synthetic_stack((64, 80), 3, rng=6).frames)
    if layout == "grey":
        stack, stack_axis, frame_axis = stack[..., 1], None, None
    else:
        stack, stack_axis, frame_axis = np.moveaxis(stack, -1, 1), 1, 0
    memory = fuse(stack, method="gacn", channel_axis=stack_axis, **DEFOCUS_MODEL_OFF)
    passes = fuse_gacn_passes(lambda: iter(stack), 3, channel_axis=frame_axis)
    assert passes.image.shape == stack.shape[1:]
    _assert_like_in_memory(passes, memory)


def test_passes_hold_luma_as_uint16_and_scores_as_float16(monkeypatch):
    from allfocus.fusion import gacn

    stack = synthetic_stack((64, 80), 3, color=False, rng=7).frames
    before = stack.copy()
    seen = {}
    real = gacn._decide

    def spy(model, luma, **kwargs):
        seen["luma"], seen["dtype"] = luma, kwargs["dtype"]
        return real(model, luma, **kwargs)

    monkeypatch.setattr(gacn, "_decide", spy)
    gacn.fuse_gacn_passes(lambda: iter(stack), 3)
    assert seen["luma"].dtype == np.uint16 and seen["dtype"] == np.float16
    expected = np.rint(np.clip(stack, 0, 1) * 65535)
    np.testing.assert_array_equal(seen["luma"], expected)
    np.testing.assert_array_equal(stack, before)  # grey frames are their own luma: not changed
    # 16-bit frames keep every level
    deep = np.rint(stack * 65535).astype(np.uint16)
    gacn.fuse_gacn_passes(lambda: iter(deep), 3)
    np.testing.assert_array_equal(seen["luma"], deep)


@pytest.mark.parametrize(
    ("dtype", "channels"),
    [(np.uint8, 3), (np.uint16, 3), (np.float32, 3), (np.uint8, 4), (np.uint8, None)],
)
def test_first_pass_luma_is_that_of_the_float_frames(dtype, channels):
    # Band by band from the frames as read, the same uint16 luma as from each
    # frame's float32 copy, bit for bit (300 rows: more than one band).
    from allfocus._core.validate import as_float_image, luminance, to_dtype
    from allfocus.fusion.gacn import _first_pass

    rng = np.random.default_rng(5)
    shape = (3, 300, 170) + ((channels,) if channels else ())
    if dtype == np.float32:
        stack = rng.random(shape, dtype=np.float32)
    else:
        stack = rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
    axis = -1 if channels else None
    luma = _first_pass(iter(stack), axis, 3, lambda *args: None)
    expected = [
        to_dtype(luminance(as_float_image(f), color=bool(channels)), np.uint16) for f in stack
    ]
    np.testing.assert_array_equal(luma, np.stack(expected))


def test_first_pass_makes_no_float_copy_of_a_colour_frame(traced_peak):
    # A float32 copy of a colour frame is 12 bytes a pixel; freed frame after
    # frame, such copies were left in the allocator's heap (about 1 GB at 30
    # frames of 24 MP). Beyond the luma itself the pass holds a band's
    # scratch arrays (old code: 16 bytes a pixel or more).
    from allfocus.fusion.gacn import _first_pass

    stack = np.random.default_rng(6).integers(0, 256, (3, 600, 800, 3), dtype=np.uint8)
    luma_bytes = 3 * 600 * 800 * 2
    peak = traced_peak(lambda: _first_pass(iter(stack), -1, 3, lambda *args: None))
    extra = (peak - luma_bytes) / (600 * 800)
    assert extra <= 4, f"{extra:.1f} bytes per pixel of a frame beyond the luma"


def _passes_peak(traced_peak, num, *, second_read_only=False, shape=(96, 128)):
    """numpy's traced peak (bytes) of fuse_gacn_passes on ``num`` 8-bit colour
    frames; with ``second_read_only``, from the second read's first frame on."""
    import tracemalloc

    from allfocus.fusion.gacn import fuse_gacn_passes

    stack = _u8(synthetic_stack(shape, num, rng=3).frames)
    # The first call in a process loads the network and what it imports: not
    # the fusion's memory, and it would count in the first peak only. The
    # network's own memory for a tile (torch's, not traced; bounded by the
    # tile) is tested on its own, for both backends, above.
    fuse_gacn_passes(lambda: iter(stack[:3]), 3, channel_axis=-1, backend="torch")

    def progress(stage, done, total):
        if second_read_only and stage == "blend" and done == 1:
            tracemalloc.reset_peak()

    return traced_peak(
        lambda: fuse_gacn_passes(
            lambda: iter(stack), num, channel_axis=-1, progress=progress, backend="torch"
        )
    )


def test_passes_memory_per_frame(traced_peak):
    # What each further frame costs read twice: uint16 luma and float16 scores
    # (4 bytes) and a coarse octave's share while it is added in, never a copy
    # of either; numpy's own allocations, traced. (float32 luma and scores would
    # be 8 bytes. The 4-frame peak is the network's pass since the second read
    # holds less, so the difference now measures that pass alone: 4.0.)
    per_frame = (_passes_peak(traced_peak, 20) - _passes_peak(traced_peak, 4)) / (16 * 96 * 128)
    assert per_frame <= 4.5, f"{per_frame:.1f} bytes per pixel and frame"


def test_passes_hold_no_frame_luma_through_the_second_read(traced_peak):
    # The blend needs the guide alone (the selected luma): what the second
    # pass holds does not grow with the frames (3 bytes per pixel and frame
    # when every frame's luma stayed until the end).
    peaks = [_passes_peak(traced_peak, num, second_read_only=True) for num in (4, 20)]
    per_frame = (peaks[1] - peaks[0]) / (16 * 96 * 128)
    assert per_frame <= 0.5, f"{per_frame:.2f} bytes per pixel and frame"


def test_passes_second_read_peak_per_pixel(traced_peak):
    # The second read holds the result's maps, uint8 labels and the blend's
    # sums, and of the frames only the decoded one: 91 bytes per pixel with
    # every frame's luma and a float32 copy of each frame, 75 with the copy
    # alone, 62 with int64 labels.
    per_pixel = _passes_peak(traced_peak, 4, second_read_only=True, shape=(300, 400)) / (300 * 400)
    assert per_pixel <= 58, f"{per_pixel:.1f} bytes per pixel"


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_passes_blend_integer_frames_as_their_float_values(dtype):
    # The second read keeps integer frames as they are and the blend converts
    # them a window and a channel at a time: the image of the float frames.
    from allfocus._core.validate import as_float_image
    from allfocus.fusion.gacn import fuse_gacn_passes

    top = np.iinfo(dtype).max
    stack = (np.clip(synthetic_stack((80, 96), 4, rng=6).frames, 0, 1) * top).round()
    stack = stack.astype(dtype)
    floats = [as_float_image(f) for f in stack]
    got = fuse_gacn_passes(lambda: iter(stack), 4, channel_axis=-1)
    want = fuse_gacn_passes(lambda: iter(floats), 4, channel_axis=-1)
    np.testing.assert_array_equal(got.image, want.image)
    np.testing.assert_array_equal(got.depth, want.depth)


def test_top_probability_is_the_softmax_maximum():
    from allfocus.fusion.gacn import _softmax, _top_probability

    scores = np.random.default_rng(0).normal(size=(5, 30, 40)).astype(np.float16)
    np.testing.assert_allclose(
        _top_probability(scores), _softmax(scores.astype(np.float32)).max(axis=0), rtol=1e-5
    )


def test_passes_report_both_passes_and_the_network_tiles():
    from allfocus.fusion.gacn import fuse_gacn_passes

    stack = synthetic_stack((150, 140), 3, rng=5).frames
    events = []
    fuse_gacn_passes(
        lambda: iter(stack),
        3,
        channel_axis=-1,
        tile=64,
        progress=lambda *e: events.append(e),
    )
    stages = [stage for stage, *_ in events]
    assert stages == ["luma"] * 3 + ["network"] * 11 + ["blend"] * 3
    assert events[2] == ("luma", 3, 3) and events[-1] == ("blend", 3, 3)


def test_passes_refuse_frames_that_do_not_make_the_stack():
    from allfocus._core.errors import InputError
    from allfocus.fusion.gacn import fuse_gacn_passes

    stack = synthetic_stack((48, 64), 3, rng=5).frames
    with pytest.raises(InputError, match="gave 3 frames; num_frames says 4"):
        fuse_gacn_passes(lambda: iter(stack), 4, channel_axis=-1)
    with pytest.raises(InputError, match="more than num_frames=2"):
        fuse_gacn_passes(lambda: iter(stack), 2, channel_axis=-1)
    odd = [stack[0], stack[1, :40], stack[2]]
    with pytest.raises(InputError, match="frame 1 is 64x40, frame 0 64x48"):
        fuse_gacn_passes(lambda: iter(odd), 3, channel_axis=-1)
    with pytest.raises(InputError, match="3 dimensions"):
        fuse_gacn_passes(lambda: iter(stack[..., 0]), 3, channel_axis=-1)
    with pytest.raises(InputError, match="num_frames must be"):
        fuse_gacn_passes(lambda: iter(stack), 1, channel_axis=-1)
    # a second pass that gives other frames than the first is caught too
    passes = iter([iter(stack), iter(stack[:2])])
    with pytest.raises(InputError, match="gave 2 frames"):
        fuse_gacn_passes(lambda: next(passes), 3, channel_axis=-1)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_passes_refuse_bad_float_values_checking_each_frame_once(bad, monkeypatch):
    from allfocus._core import validate
    from allfocus._core.errors import InputError
    from allfocus.fusion import gacn, streaming

    stack = synthetic_stack((48, 64), 3, rng=5).frames.astype(np.float32)
    stack[2, 40, 10, 1] = bad
    checked = []

    def spy(arr, *args, **kwargs):
        checked.append(kwargs.get("name"))
        return validate.as_float_image(arr, *args, **kwargs)

    monkeypatch.setattr(gacn, "as_float_image", spy)
    monkeypatch.setattr(streaming, "as_float_image", spy)
    with pytest.raises(InputError, match="frame 2"):
        gacn.fuse_gacn_passes(lambda: iter(stack), 3, channel_axis=-1)
    # The first pass checks a float frame's values once (its luma, band by
    # band), not the whole frame before that as well.
    assert checked == ["frame 0", "frame 1", "frame 2"]


def test_files_of_a_large_stack_are_read_twice_by_gacn(synthetic_dir, monkeypatch):
    from allfocus import io
    from allfocus.fusion import gacn
    from allfocus.pipeline import FuseConfig, fuse_files, run

    frames = [str(synthetic_dir / "frame_*.png")]
    paths = io.find_frames(frames)
    base = {"method": "gacn", "align": "none", "exposure_match": False}
    assert not run._use_streaming(FuseConfig(**base), paths)
    monkeypatch.setattr(run, "DETAIL_IN_MEMORY", 1)  # over it, gacn reads the files twice
    assert run._use_streaming(FuseConfig(**base), paths)
    assert not run._use_streaming(FuseConfig(**base, streaming="never"), paths)
    # the defocus model asked for by name needs the frames in memory
    asked = FuseConfig(**base, params={"unmix_rims": True})
    assert not run._use_streaming(asked, paths)
    calls = []
    real = gacn.fuse_gacn_passes
    monkeypatch.setattr(gacn, "fuse_gacn_passes", lambda *a, **k: calls.append(1) or real(*a, **k))
    events = []
    twice = fuse_files(
        frames, None, config=FuseConfig(**base), progress=lambda *e: events.append(e)
    )
    assert calls == [1]
    assert twice.how == "read twice, without the defocus model"
    memory = fuse_files(frames, None, config=FuseConfig(**base, streaming="never"))
    assert calls == [1]
    assert memory.how == "in memory, without the defocus model"
    # the in-memory path skips the defocus model over the limit too: the same image
    _assert_like_in_memory(twice.result, memory.result)
    fuse_events = [e for e in events if e[0] == "fuse"]
    assert fuse_events[-1] == ("fuse", 4, 4) and sum(d == t for _, d, t in fuse_events) == 1
    # aligned and exposure-matched the same way in both passes
    aligned = fuse_files(frames, None, config=FuseConfig(method="gacn", streaming="always"))
    assert psnr(aligned.result.image, memory.result.image, channel_axis=-1) > 30


def test_gacn_stack_too_big_even_for_two_passes_is_refused(synthetic_dir, tmp_path, monkeypatch):
    from allfocus._core.errors import InputError
    from allfocus.pipeline import FuseConfig, fuse_files, run

    out = tmp_path / "out.png"
    monkeypatch.setattr(run, "_memory_available", lambda: 1 << 20)  # 1 MiB free
    with pytest.raises(InputError, match=r"method 'gacn'.*--method depthmap"):
        fuse_files([str(synthetic_dir / "frame_*.png")], out, config=FuseConfig(method="gacn"))
    assert not out.exists()
