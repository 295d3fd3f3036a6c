"""Kornia-style tests of the differentiable ops: smoke, cardinality, gradcheck, module."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from allfocus.filters.guided import box_mean as np_box_mean  # noqa: E402
from allfocus.filters.guided import guided_filter as np_guided_filter  # noqa: E402
from allfocus.nn.ops import (  # noqa: E402
    BoxMean,
    GuidedFilter,
    SpatialFrequency,
    box_mean,
    guided_filter,
    spatial_frequency,
)


class TestBoxMean:
    def test_smoke(self):
        out = box_mean(torch.rand(1, 1, 9, 9), 2)
        assert isinstance(out, torch.Tensor)

    @pytest.mark.parametrize("shape", [(1, 1, 7, 9), (2, 3, 16, 12)])
    @pytest.mark.parametrize("radius", [0, 1, 3])
    def test_cardinality(self, shape, radius):
        assert box_mean(torch.rand(shape), radius).shape == shape

    def test_constant_is_kept(self):
        torch.testing.assert_close(
            box_mean(torch.full((1, 2, 20, 20), 0.3), 5), torch.full((1, 2, 20, 20), 0.3)
        )

    @pytest.mark.parametrize("radius", [1, 4])
    def test_matches_numpy_interior(self, radius):
        img = np.random.default_rng(0).random((30, 26)).astype(np.float32)
        ref = np_box_mean(img, radius)
        out = box_mean(torch.from_numpy(img)[None, None], radius)[0, 0].numpy()
        r = radius
        np.testing.assert_allclose(out[r:-r, r:-r], ref[r:-r, r:-r], atol=1e-5)

    def test_gradcheck(self):
        img = torch.rand(1, 2, 6, 7, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda x: box_mean(x, 2), (img,))

    def test_module(self):
        img = torch.rand(2, 1, 10, 10)
        torch.testing.assert_close(BoxMean(3)(img), box_mean(img, 3))

    def test_exception(self):
        with pytest.raises(ValueError, match="B, C, H, W"):
            box_mean(torch.rand(5, 5), 1)
        with pytest.raises(ValueError, match="radius"):
            box_mean(torch.rand(1, 1, 5, 5), -1)
        with pytest.raises(TypeError):
            box_mean(np.zeros((1, 1, 4, 4)), 1)


class TestSpatialFrequency:
    def test_cardinality_and_sign(self):
        out = spatial_frequency(torch.rand(2, 4, 12, 13), 2)
        assert out.shape == (2, 4, 12, 13)
        assert float(out.min()) >= 0

    def test_flat_is_zero(self):
        assert float(spatial_frequency(torch.ones(1, 1, 8, 8), 1).abs().max()) == 0.0

    def test_sharper_is_larger(self):
        rng = np.random.default_rng(1)
        img = torch.from_numpy(rng.random((1, 1, 32, 32)).astype(np.float32))
        smooth = box_mean(img, 2)
        assert spatial_frequency(img, 3).mean() > spatial_frequency(smooth, 3).mean()

    def test_gradcheck(self):
        img = torch.rand(1, 1, 6, 6, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda x: spatial_frequency(x, 1), (img,))

    def test_module(self):
        img = torch.rand(1, 3, 9, 9)
        torch.testing.assert_close(SpatialFrequency(2)(img), spatial_frequency(img, 2))


class TestGuidedFilter:
    def test_smoke(self):
        out = guided_filter(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8), 1, 1e-2)
        assert isinstance(out, torch.Tensor)

    @pytest.mark.parametrize(("guide_c", "src_c"), [(1, 1), (1, 3), (3, 3)])
    @pytest.mark.parametrize("batch", [1, 2])
    def test_cardinality(self, guide_c, src_c, batch):
        out = guided_filter(
            torch.rand(batch, guide_c, 10, 11), torch.rand(batch, src_c, 10, 11), 2, 0.1
        )
        assert out.shape == (batch, src_c, 10, 11)

    def test_self_guided_small_eps_is_identity(self):
        img = torch.rand(1, 1, 12, 12, dtype=torch.float64)
        torch.testing.assert_close(guided_filter(img, img, 2, 1e-9), img, atol=1e-5, rtol=0)

    def test_matches_numpy_interior(self):
        rng = np.random.default_rng(2)
        guide = rng.random((24, 20)).astype(np.float32)
        src = rng.random((24, 20)).astype(np.float32)
        ref = np_guided_filter(src, guide, radius=2, eps=1e-2)
        out = guided_filter(
            torch.from_numpy(guide)[None, None], torch.from_numpy(src)[None, None], 2, 1e-2
        )[0, 0].numpy()
        np.testing.assert_allclose(out[6:-6, 6:-6], ref[6:-6, 6:-6], atol=1e-4)

    def test_eps_per_batch(self):
        guide, src = torch.rand(2, 1, 9, 9), torch.rand(2, 1, 9, 9)
        out = guided_filter(guide, src, 1, torch.tensor([1e-2, 1e-1]))
        torch.testing.assert_close(out[1:], guided_filter(guide[1:], src[1:], 1, 1e-1))

    def test_gradcheck(self):
        guide = torch.rand(1, 1, 6, 6, dtype=torch.float64, requires_grad=True)
        src = torch.rand(1, 2, 6, 6, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda g, s: guided_filter(g, s, 1, 0.1), (guide, src))

    def test_module(self):
        guide, src = torch.rand(2, 1, 9, 9), torch.rand(2, 2, 9, 9)
        torch.testing.assert_close(
            GuidedFilter(2, 0.05)(guide, src), guided_filter(guide, src, 2, 0.05)
        )

    def test_exception(self):
        with pytest.raises(ValueError, match="spatial size"):
            guided_filter(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 9, 8), 1, 0.1)
        with pytest.raises(ValueError, match="1 channel"):
            guided_filter(torch.rand(1, 2, 8, 8), torch.rand(1, 3, 8, 8), 1, 0.1)
        with pytest.raises(ValueError, match="radius"):
            guided_filter(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8), 0, 0.1)
        with pytest.raises(ValueError, match="eps"):
            guided_filter(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8), 1, 0.0)
