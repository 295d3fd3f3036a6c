import numpy as np
import pytest

from allfocus._core.errors import InputError
from allfocus.restore.psf import disc_psf
from allfocus.synth import coc_radius, make_scene, render_stack, synthetic_stack


def test_disc_psf_normalised_and_symmetric():
    for r in (0.0, 0.7, 1.5, 4.0, 7.3):
        k = disc_psf(r)
        assert k.sum() == pytest.approx(1.0, abs=1e-6)
        np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-7)
        np.testing.assert_allclose(k, k.T, atol=1e-7)
    assert disc_psf(0.2).shape == (1, 1)
    with pytest.raises(InputError, match="radius"):
        disc_psf(-1)


def test_coc_radius_thin_lens():
    d = np.array([1.0, 2.0, 4.0])
    r = coc_radius(d, 2.0, scale=10.0)
    np.testing.assert_allclose(r, [5.0, 0.0, 2.5], atol=1e-6)


def test_in_focus_plane_is_sharp_and_other_frames_blurred():
    rng = np.random.default_rng(0)
    img = rng.random((64, 64)).astype(np.float32)
    depth = np.full((64, 64), 2.0)
    depth[:, 32:] = 4.0
    s = render_stack(img, depth, focus_distances=[2.0, 4.0], max_radius=4)
    # Left half is in focus in frame 0 (away from the occlusion edge).
    np.testing.assert_allclose(s.frames[0][:, :24], img[:, :24], atol=1e-5)
    np.testing.assert_allclose(s.frames[1][:, 40:], img[:, 40:], atol=1e-5)
    assert np.abs(s.frames[1][:, :24] - img[:, :24]).mean() > 0.05
    assert (s.best_frame[:, :24] == 0).all()
    assert (s.best_frame[:, 40:] == 1).all()


def test_frame_depth_is_the_truth_in_frame_units():
    depth = np.full((8, 40), 1.0)
    depth[:, 10:20] = 2.0
    depth[:, 20:30] = 1.0 / (0.5 * (1.0 / 2.0 + 1.0 / 4.0))  # halfway in inverse distance
    depth[:, 30:] = 8.0  # beyond the last plane
    s = render_stack(np.zeros((8, 40), np.float32), depth, focus_distances=[1.0, 2.0, 4.0])
    np.testing.assert_allclose(s.frame_depth[0, [0, 15, 25, 35]], [0.0, 1.0, 1.5, 2.0], atol=1e-6)
    # Frames focused far to near: the same scale, counted in the frames' order.
    r = render_stack(np.zeros((8, 40), np.float32), depth, focus_distances=[4.0, 2.0, 1.0])
    np.testing.assert_allclose(r.frame_depth, 2.0 - s.frame_depth, atol=1e-6)
    # The sharpest frame is the nearest whole frame (ties aside).
    st = synthetic_stack((64, 64), 5, rng=2)
    near_whole = np.abs(st.frame_depth - np.round(st.frame_depth)) < 0.45
    assert near_whole.mean() > 0.5
    assert (np.round(st.frame_depth)[near_whole] == st.best_frame[near_whole]).all()


def test_defocused_foreground_spreads_over_background():
    # Near object (left, bright) blurred in the far-focused frame leaks into
    # the background right of the edge; the far frame does not leak backwards.
    img = np.zeros((32, 64), np.float32)
    img[:, :32] = 1.0
    depth = np.full((32, 64), 4.0)
    depth[:, :32] = 1.0
    s = render_stack(img, depth, focus_distances=[1.0, 4.0], max_radius=6)
    assert s.frames[1][16, 34] > 0.2  # glow of the near object over the background
    assert s.frames[0][16, 34] < 0.01  # sharp near edge in the near-focused frame


def test_render_stack_shapes_noise_and_reproducibility():
    s1 = synthetic_stack((48, 40), 4, rng=3, noise=0.01)
    s2 = synthetic_stack((48, 40), 4, rng=3, noise=0.01)
    assert s1.frames.shape == (4, 48, 40, 3)
    assert s1.frames.dtype == np.float32
    assert s1.radii.shape == (4, 48, 40)
    np.testing.assert_array_equal(s1.frames, s2.frames)
    assert 0.0 <= s1.frames.min() and s1.frames.max() <= 1.0
    grey = synthetic_stack((32, 32), 2, color=False, rng=1)
    assert grey.frames.shape == (2, 32, 32) and grey.channel_axis is None


def test_radius_limits():
    s = synthetic_stack((64, 64), 5, rng=2, max_radius=5)
    assert s.radii.max() == pytest.approx(5, rel=0.05)
    assert s.radii.min(axis=0).max() < 5 / 4 / 2 + 1e-3  # every pixel has a near-sharp frame


def test_channel_axis_first():
    scene = make_scene((32, 32), rng=0)
    chw = np.moveaxis(scene.image, -1, 0)
    a = render_stack(scene.image, scene.depth, num_frames=2, channel_axis=-1)
    b = render_stack(chw, scene.depth, num_frames=2, channel_axis=0)
    np.testing.assert_allclose(a.frames, b.frames)


def test_bad_arguments():
    with pytest.raises(InputError, match="depth"):
        render_stack(np.zeros((8, 8)), np.zeros((8, 8)))
    with pytest.raises(InputError, match="spatial shape"):
        render_stack(np.zeros((8, 8)), np.ones((4, 4)))
    with pytest.raises(InputError, match="shape"):
        make_scene((8, 8))
    for noise in (-0.01, 2.0):  # a sign slip, counts instead of [0, 1] units
        with pytest.raises(InputError, match=r"noise must lie in \[0, 1\]"):
            render_stack(np.zeros((8, 8)), np.ones((8, 8)), noise=noise)


def test_label_scene_is_a_slanted_printed_surface():
    from allfocus.synth import make_label_scene, synthetic_stack

    scene = make_label_scene((64, 96), rng=3)
    assert scene.image.shape == (64, 96, 3) and scene.depth.shape == (64, 96)
    # flat print: a few grey levels (bars, patches), not a texture
    assert len(np.unique(scene.image[..., 2])) <= 8
    assert scene.depth.min() == pytest.approx(1.0) and scene.depth.max() == pytest.approx(4.0)
    grey = make_label_scene((64, 96), color=False, rng=3)
    assert grey.image.shape == (64, 96)
    s = synthetic_stack((64, 96), 4, scene="label", rng=3)
    assert s.frames.shape == (4, 64, 96, 3)
    # every frame is the sharpest somewhere: the depth spans the whole range
    assert set(np.unique(s.best_frame)) == {0, 1, 2, 3}
    with pytest.raises(InputError, match="scene must be one of"):
        synthetic_stack((64, 96), 4, scene="barcode")
