"""Fixtures for the io tests: synthetic images made with a fixed rng, an sRGB profile."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from PIL import ImageCms


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.fixture
def make_image(rng: np.random.Generator) -> Callable[..., np.ndarray]:
    """``make_image(shape, dtype)``: random pixels over the whole range of ``dtype``."""

    def make(shape: tuple[int, ...] = (6, 8), dtype: type = np.uint8) -> np.ndarray:
        if np.dtype(dtype).kind == "f":
            return rng.random(shape, dtype=np.float32)
        top = np.iinfo(dtype).max
        return rng.integers(0, top, size=shape, dtype=dtype, endpoint=True)

    return make


@pytest.fixture
def smooth_rgb() -> np.ndarray:
    """A 24 x 40 RGB uint8 gradient: survives JPEG with small errors, not square."""
    rows, cols = np.mgrid[0:24, 0:40]
    image = np.stack([rows * 10, cols * 6, 255 - rows * 5 - cols * 2], axis=-1)
    return np.clip(image, 0, 255).astype(np.uint8)
