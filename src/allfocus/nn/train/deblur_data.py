"""Training pairs for the deblurring network: colour photos defocused by allfocus.synth.

Each sample is a layered scene made of photo crops: a background crop on a
slanted plane and up to three foreground regions (random shapes, each filled
with another crop) at nearer distances. :func:`allfocus.synth.render_stack`
renders it focused at a random distance with a random aperture, so the blur
is a disc whose radius varies across the crop (0 to ``max_radius`` px) and a
defocused foreground spreads over the background at occlusion edges. Then
Gaussian noise and, for part of the samples, JPEG compression. About one
sample in twenty is left sharp (radius 0), so that sharp input stays as it is.

Returns ``(blurred (3, H, W), sharp (3, H, W))`` float32 in [0, 1]; NumPy and
OpenCV only, the loop makes tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from allfocus.nn.train.datasets import load_photos, random_crop, random_mask
from allfocus.synth import render_stack
from allfocus.synth.scene import texture

__all__ = ["DeblurSampler", "load_color_photos"]


def load_color_photos(
    folders: Sequence[str | Path], *, min_side: int = 128
) -> list[NDArray[np.float32]]:
    """Every image under ``folders`` as RGB float32 in [0, 1] (sorted by path)."""
    return load_photos(folders, min_side=min_side, color=True)


class DeblurSampler:
    """Draws (blurred, sharp) colour training pairs.

    Parameters
    ----------
    photos : list of (M, N, 3) float32 arrays
    crop : int
        Side of the square crops.
    max_radius : float
        Largest blur radius (px) of any pixel.
    noise : (float, float)
        Range of the Gaussian noise standard deviation.
    jpeg : float
        Probability of JPEG compression (quality 70 to 95).
    scale_range : (float, float)
        Crops are taken at ``crop / s`` pixels and resized to ``crop``.
    texture : float
        Probability that a crop is a procedural texture of
        :func:`allfocus.synth.scene.texture` instead of a photo.
    """

    def __init__(
        self,
        photos: list[NDArray[np.float32]],
        *,
        crop: int = 128,
        max_radius: float = 6.0,
        noise: tuple[float, float] = (0.0, 0.01),
        jpeg: float = 0.3,
        scale_range: tuple[float, float] = (0.5, 1.0),
        texture: float = 0.15,
    ) -> None:
        self.photos = photos
        self.crop = int(crop)
        self.max_radius = float(max_radius)
        self.noise = noise
        self.jpeg = float(jpeg)
        self.scale_range = scale_range
        self.texture = float(texture)

    def _crop(self, rng: np.random.Generator) -> NDArray[np.float32]:
        size = self.crop
        if rng.random() < self.texture:
            return texture((size, size), color=True, rng=rng).astype(np.float32)
        patch = random_crop(self.photos, size, self.scale_range, rng)
        return np.ascontiguousarray(np.clip(patch, 0, 1), dtype=np.float32)

    def scene(self, rng: np.random.Generator) -> tuple[NDArray[np.float32], NDArray[np.float64]]:
        """A sharp composite image (crop, crop, 3) and its depth (crop, crop)."""
        size = self.crop
        image = self._crop(rng)
        yy, xx = np.mgrid[0:size, 0:size] / size
        ang = rng.uniform(0, 2 * np.pi)
        far = rng.uniform(2.0, 4.0)
        tilt = rng.uniform(0.0, 1.0) * (np.cos(ang) * xx + np.sin(ang) * yy + 1.5) / 3.0
        depth = far * (1.0 - 0.5 * tilt)
        for dist in np.sort(rng.uniform(1.0, 0.5 * far, int(rng.integers(0, 4))))[::-1]:
            mask = random_mask(size, rng) > 0
            if rng.random() < 0.5:  # smaller objects too, not only half-frame regions
                mask &= random_mask(size, rng) > 0
            image[mask] = self._crop(rng)[mask]
            depth[mask] = dist
        return image, depth

    def sample(self, rng: np.random.Generator) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """One pair ``(blurred, sharp)``, each (3, crop, crop)."""
        image, depth = self.scene(rng)
        inv = 1.0 / depth
        focus = 1.0 / rng.uniform(inv.min(), inv.max())
        aperture = 0.0 if rng.random() < 0.05 else rng.uniform(0.5, 1.0) * self.max_radius
        # render_stack's max_radius is the blur of the nearest surface when focused
        # on the farthest; scale it so that no pixel exceeds `aperture` here.
        worst = max(inv.max() - 1.0 / focus, 1.0 / focus - inv.min())
        span = inv.max() - inv.min()
        scale = aperture * span / worst if worst > 0 else 0.0
        blurred = render_stack(
            image,
            depth,
            focus_distances=[focus],
            max_radius=scale,
            num_layers=10,
            channel_axis=-1,
        ).frames[0]
        sigma = rng.uniform(*self.noise)
        blurred = blurred + rng.normal(0.0, sigma, blurred.shape).astype(np.float32)
        blurred = np.clip(blurred, 0, 1)
        if rng.random() < self.jpeg:
            q = int(rng.integers(70, 96))
            bgr = (blurred[..., ::-1] * 255 + 0.5).astype(np.uint8)
            _, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, q])
            blurred = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255
        return (
            np.ascontiguousarray(blurred.transpose(2, 0, 1), dtype=np.float32),
            np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32),
        )

    def batch(self, size: int, rng: np.random.Generator) -> tuple[NDArray, NDArray]:
        """``size`` pairs stacked: blurred (B, 3, H, W), sharp (B, 3, H, W)."""
        pairs = [self.sample(rng) for _ in range(size)]
        return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
