"""Occlusion-rim un-mixing (allfocus.fusion.rims) on synthetic stacks with ground truth."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from allfocus.fusion import fuse
from allfocus.fusion.rims import estimate_rim_model, unmix_rims
from allfocus.metrics import psnr
from allfocus.synth import synthetic_stack


@pytest.fixture(scope="module")
def stack5():
    return synthetic_stack((192, 256), 5, max_radius=6.0, noise=0.003, rng=101)


def _rim_band(stack) -> np.ndarray:
    """Pixels with a nearer surface (by over half a focus step) within 7 px."""
    steps = stack.frame_depth
    nearest = cv2.erode(steps, np.ones((15, 15), np.uint8))
    return (steps - nearest) > 0.5


def test_unmixing_restores_the_background_under_rims(stack5):
    plain = fuse(stack5.frames, channel_axis=-1, unmix_rims=False)
    unmixed = fuse(stack5.frames, channel_axis=-1)
    band = _rim_band(stack5)
    assert band.mean() > 0.02  # the scene has occlusion edges

    def band_psnr(image):
        return psnr(image[band], stack5.sharp[band])

    # measured: +1.7 dB overall and +4 dB in the band (seed 101)
    assert (
        psnr(unmixed.image, stack5.sharp, channel_axis=-1)
        > psnr(plain.image, stack5.sharp, channel_axis=-1) + 1.0
    )
    assert band_psnr(unmixed.image) > band_psnr(plain.image) + 2.5
    # away from the rims it does no harm (steps of a slanted surface are
    # un-mixed too, as the renderer composites them as layers)
    far = ~cv2.dilate(band.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert (
        psnr(unmixed.image[far], stack5.sharp[far])
        > psnr(plain.image[far], stack5.sharp[far]) - 0.05
    )


def test_model_is_fitted_from_the_stack(stack5):
    plain = fuse(stack5.frames, channel_axis=-1, unmix_rims=False)
    model = estimate_rim_model(lambda k: stack5.frames[k], 5, plain.depth)
    assert model is not None and model.near_first
    # 6 px from nearest to farthest over 4 steps: 1.5 px per step
    assert 1.0 <= model.step <= 2.0


def test_near_end_is_voted_on_the_labels_given(stack5):
    plain = fuse(stack5.frames, channel_axis=-1, unmix_rims=False)
    labels = np.rint(plain.depth).astype(int)
    given = estimate_rim_model(lambda k: stack5.frames[k], 5, plain.depth, vote_labels=labels)
    assert given is not None and given.vote == pytest.approx(
        estimate_rim_model(lambda k: stack5.frames[k], 5, plain.depth).vote
    )
    # labels without edges cast no vote, whatever the depth map's edges say
    flat = np.zeros_like(labels)
    assert estimate_rim_model(lambda k: stack5.frames[k], 5, plain.depth, vote_labels=flat) is None


def test_reversed_order_gives_the_same_image(stack5):
    forward = fuse(stack5.frames, channel_axis=-1)
    backward = fuse(stack5.frames[::-1], channel_axis=-1)
    np.testing.assert_allclose(backward.image, forward.image, atol=1e-5)
    np.testing.assert_allclose(backward.depth, 4 - forward.depth, atol=1e-5)
    model = estimate_rim_model(lambda k: stack5.frames[::-1][k], 5, backward.depth)
    assert model is not None and not model.near_first


def test_frames_out_of_focus_order_are_left_as_selected(stack5):
    perm = [3, 0, 4, 1, 2]
    shuffled = fuse(stack5.frames[perm], channel_axis=-1)
    plain = fuse(stack5.frames[perm], channel_axis=-1, unmix_rims=False)
    np.testing.assert_array_equal(shuffled.image, plain.image)


def test_no_depth_edges_no_change():
    flat = synthetic_stack((96, 96), 4, num_objects=0, rng=3)
    plain = fuse(flat.frames, channel_axis=-1, unmix_rims=False)
    image, _, model = unmix_rims(flat.frames, 4, plain.image, plain.depth)
    assert model is None or np.abs(image - plain.image).max() < 1e-6


def test_grey_stack():
    grey = synthetic_stack((160, 192), 5, color=False, noise=0.003, rng=8)
    plain = fuse(grey.frames, unmix_rims=False, sharpen_between=False)
    unmixed = fuse(grey.frames, sharpen_between=False)
    assert unmixed.image.shape == grey.sharp.shape
    # measured: +2.5 dB
    assert psnr(unmixed.image, grey.sharp) > psnr(plain.image, grey.sharp) + 1.0


def test_near_vote_counts_edges_that_skip_a_frame():
    """Steps to the next frame (slanted surfaces) dilute the near-end vote."""
    from allfocus.fusion._common import prepare
    from allfocus.fusion.rims import Frames, _edge_contrast, _edge_share, _near_vote

    for seed in range(3):
        s = synthetic_stack((128, 128), 10, noise=0.003, rng=seed)
        assert s.focus_distances[0] < s.focus_distances[-1]  # frame 0 is near
        plain = fuse(s.frames, channel_axis=-1, unmix_rims=False, sharpen_between=False)
        frames, _ = prepare(s.frames, -1)
        labels = np.rint(plain.depth).astype(np.intp)
        source = Frames(frames)
        skipping = _edge_share(_edge_contrast(source, labels, 2))
        every_edge = _edge_share(_edge_contrast(source, labels, 1))
        assert skipping > every_edge > 0
        assert _near_vote(source, 10, labels) == skipping


def test_near_vote_counts_edges_not_gradient_sums():
    """A few edges beside strong far-side texture must not outvote the rest."""
    from allfocus.fusion.rims import Frames, _edge_share, _near_vote

    assert _edge_share(np.array([1.0, 1.0, 1.0, -9.0], np.float32)) == 0.5
    assert _edge_share(np.zeros(0, np.float32)) == 0.0
    # a stack whose near end is clear by count: both orders agree, mirrored
    s = synthetic_stack((128, 160), 5, noise=0.003, rng=4)
    plain = fuse(s.frames, channel_axis=-1, unmix_rims=False, sharpen_between=False)
    labels = np.rint(plain.depth).astype(np.intp)
    forward = _near_vote(Frames(s.frames), 5, labels)
    backward = _near_vote(Frames(s.frames[::-1].copy()), 5, 4 - labels)
    assert forward > 0.25
    assert backward == pytest.approx(-forward)


def test_outline_gives_the_near_side_back_its_edge(stack5):
    """Near-object edge pixels labelled as background return to the near side."""
    from allfocus.fusion.rims import Frames, RimModel, _outline, _return_edges

    steps = stack5.frame_depth
    near = steps < 0.5
    ring = near & ~cv2.erode(near.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    far_edge = steps.copy()
    # the near objects' outer ring given the depth of the farthest neighbour
    far_edge[ring] = cv2.dilate(steps, np.ones((3, 3), np.uint8))[ring]
    far_edge[ring & (far_edge < 1.5)] = steps[ring & (far_edge < 1.5)]
    moved_out = ring & (far_edge > 1.5)
    assert moved_out.sum() > 100
    source = Frames(stack5.frames)
    image = stack5.sharp  # the background as a perfect un-mixing would give it
    back = _return_edges(source, image, far_edge, far_edge.copy(), step=1.5)
    assert np.mean(back[moved_out] < 0.5) > 0.25  # measured: 0.37
    # on the true depth few background pixels are taken for the near side
    kept = _return_edges(source, image, steps, steps.copy(), step=1.5)
    background_edge = (steps > 1.5) & cv2.dilate(near.astype(np.uint8), np.ones((3, 3))).astype(
        bool
    )
    assert np.mean(kept[background_edge] < 0.5) < 0.1  # measured: 0.0
    # the outline step runs it
    model = RimModel(step=1.5, near_first=True, vote=1.0)
    assert _outline(source, 5, image, far_edge, model.step, threshold=0.03)[moved_out].mean() < (
        far_edge[moved_out].mean()
    )


def test_outline_takes_back_a_near_side_drawn_too_wide(stack5):
    """A near side drawn 2 px too wide moves back to the background; the near
    objects themselves stay (at the old threshold of 0.03 only 66 % moved back)."""
    from allfocus.fusion.rims import _OUTLINE, Frames, _outline

    steps = stack5.frame_depth
    wide = cv2.erode(steps, np.ones((5, 5), np.uint8))  # nearer depths spread by 2 px
    ring = (steps - wide) > 1.5
    assert ring.sum() > 300
    outlined = _outline(Frames(stack5.frames), 5, stack5.sharp, wide, 1.5, threshold=_OUTLINE)
    assert np.mean(np.abs(outlined - steps)[ring] < 0.5) > 0.8  # measured: 0.89
    near = steps < 0.5
    assert np.mean(outlined[near] > 1.0) < 0.02  # measured: 0.005


@pytest.mark.parametrize("shift", [0.2, 0.0, -0.2])
@pytest.mark.parametrize("step", [2.0, 3.0])
def test_blur_step_fit_allows_for_surfaces_off_the_focus_plane(step, shift):
    from allfocus.fusion.rims import _blur, fit_blur_step
    from allfocus.synth import texture

    sharp = texture((160, 160), color=False, rng=np.random.default_rng(0)).astype(np.float32)
    # the whole scene `shift` steps from frame 0 toward frame 1: nearly sharp in frame 0
    frames = np.stack([_blur(sharp, step * abs(shift - k)) for k in range(3)])
    depth = np.full(sharp.shape, shift, np.float32)
    # the disc matching frame 0 to frame 1 is step * sqrt(1 - 2 shift): 1.5 px for 2 px at 0.2
    assert fit_blur_step(frames, 3, depth) == pytest.approx(step, abs=0.15)
