"""Training pairs for the decision network, made on the fly from grey photos.

Two recipes, both returning ``(frames (2, H, W), target (2, H, W), near (H, W))``
float32 arrays with the one-hot "sharper frame" map as target and how near
each pixel is (1 at the nearest layer, 0 at the farthest; for GACN's recipe
the region whose blur spreads is the near one), from which a loss can find
the background side of occlusion edges:

``"gacn"``
    GACN's recipe: a region mask from random shapes, Gaussian blur of sigma 2;
    frame A has the region sharp and the rest blurred, frame B the region
    blurred with the blurred mask spreading outward (a defocused foreground
    bleeds over the background), up to 2 px misregistration, noise, random swap.
``"synth"``
    A two-depth scene (a foreground photo crop in front of a slanted
    background crop) rendered by :func:`allfocus.synth.render_stack`: disc
    blur of random size (0.8 to 7 px), layered defocus spread at occlusion
    edges, focus slightly off the planes, up to 4 px misregistration, noise,
    random swap.
``"mix"``
    Either, with equal probability.

:meth:`PairSampler.stack_batch` draws whole focus stacks of ``N`` frames
instead (two or three depth layers of photo crops, frames focused at even
steps of inverse distance across them, rendered by
:func:`allfocus.synth.render_stack`), with the one-hot "sharpest frame" of
every pixel as target: the decision rule for ``N > 2`` frames is then
trained directly rather than only through its two-frame special case. A
share of those stacks (``slanted``) is one surface tilted through the whole
focus range instead, half of them posterised like print: each frame is sharp
on a band of it, the change from one frame to the next falls on its edges, and
the flat regions between them are sharp in every frame.

Photos are read once (grey, [0, 1]); crops are rescaled by a random factor
so that textures of many scales occur. NumPy only; the loop makes tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from allfocus.synth import render_stack

__all__ = ["RECIPES", "PairSampler", "load_photos", "random_crop", "random_mask"]

RECIPES = ("gacn", "synth", "mix")
_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}


def load_photos(
    folders: Sequence[str | Path], *, min_side: int = 128, color: bool = False
) -> list[NDArray[np.float32]]:
    """Every image under ``folders`` as float32 in [0, 1], grey or RGB (sorted by path)."""
    photos = []
    for folder in folders:
        for path in sorted(Path(folder).rglob("*")):
            if path.suffix.lower() not in _SUFFIXES:
                continue
            img = cv2.imread(str(path), cv2.IMREAD_COLOR if color else cv2.IMREAD_GRAYSCALE)
            if img is None or min(img.shape[:2]) < min_side:
                continue
            if color:
                img = np.ascontiguousarray(img[..., ::-1])
            photos.append(img.astype(np.float32) / 255.0)
    if not photos:
        raise FileNotFoundError(f"no training images found under {list(map(str, folders))}")
    return photos


def random_crop(
    photos: Sequence[NDArray[np.float32]],
    size: int,
    scale_range: tuple[float, float],
    rng: np.random.Generator,
) -> NDArray[np.float32]:
    """A square crop of a random photo, rescaled to ``size``, randomly rotated and flipped.

    The crop is taken at ``size / s`` pixels for ``s`` drawn from
    ``scale_range`` (``s < 1`` zooms out: finer textures) and resized with
    area interpolation. Works for grey (M, N) and colour (M, N, C) photos.
    """
    for _ in range(10):
        photo = photos[int(rng.integers(len(photos)))]
        side = round(size / rng.uniform(*scale_range))
        if side <= min(photo.shape[:2]):
            break
    side = min(side, *photo.shape[:2])
    y = int(rng.integers(0, photo.shape[0] - side + 1))
    x = int(rng.integers(0, photo.shape[1] - side + 1))
    patch = photo[y : y + side, x : x + side]
    if side != size:
        patch = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    patch = np.rot90(patch, int(rng.integers(4)))
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    return patch


def random_mask(size: int, rng: np.random.Generator) -> NDArray[np.float32]:
    """A binary region of random ellipses, polygons or a thresholded smooth blob (10-90 %)."""
    for _ in range(20):
        mask = np.zeros((size, size), np.uint8)
        if rng.random() < 0.3:
            noise = cv2.GaussianBlur(rng.random((size, size)).astype(np.float32), (0, 0), size / 8)
            mask = (noise > np.quantile(noise, rng.uniform(0.3, 0.7))).astype(np.uint8)
        else:
            for _ in range(int(rng.integers(1, 4))):
                cx, cy = rng.uniform(0.1, 0.9, 2) * size
                rad = rng.uniform(0.12, 0.4) * size
                if rng.random() < 0.5:
                    axes = (int(rad), int(rad * rng.uniform(0.4, 1.0)))
                    cv2.ellipse(mask, (int(cx), int(cy)), axes, rng.uniform(0, 180), 0, 360, 1, -1)
                else:
                    n = int(rng.integers(3, 8))
                    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
                    r = rad * rng.uniform(0.5, 1.2, n)
                    pts = np.stack([cx + r * np.cos(ang), cy + r * np.sin(ang)], 1)
                    cv2.fillPoly(mask, [pts.astype(np.int32)], 1)
        if rng.random() < 0.5:
            mask = 1 - mask
        if 0.1 < mask.mean() < 0.9:
            break
    return mask.astype(np.float32)


def edge_line(mask: NDArray[np.bool_], rng: np.random.Generator) -> NDArray[np.bool_]:
    """A band 1-4 px wide, 0-3 px outside ``mask``, along a random part of its outline."""
    gap, width = int(rng.integers(0, 4)), int(rng.integers(1, 5))
    grow = mask.astype(np.uint8)
    inner = cv2.dilate(grow, np.ones((2 * gap + 1,) * 2, np.uint8)) if gap else grow
    outer = cv2.dilate(grow, np.ones((2 * (gap + width) + 1,) * 2, np.uint8))
    noise = cv2.GaussianBlur(rng.random(mask.shape).astype(np.float32), (0, 0), mask.shape[0] / 6)
    part = noise > np.quantile(noise, rng.uniform(0.2, 0.6))
    return (outer > 0) & (inner == 0) & part


def _shift(image: NDArray[np.float32], dx: float, dy: float, scale: float = 1.0) -> NDArray:
    h, w = image.shape
    mat = cv2.getRotationMatrix2D((w / 2, h / 2), 0.0, scale)
    mat[:, 2] += (dx, dy)
    return cv2.warpAffine(image, mat, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


class PairSampler:
    """Draws training pairs from photos with one of :data:`RECIPES`.

    Parameters
    ----------
    photos : list of (M, N) float32 arrays
    recipe : {"gacn", "synth", "mix"}
    crop : int
        Side of the square training crops.
    scale_range : (float, float)
        Crops are taken at ``crop / s`` pixels and resized to ``crop`` for
        ``s`` drawn from this range (``s < 1`` zooms out, finer textures).
    edge_lines : float
        Share of the stacks (:meth:`stack`) whose far layer gets a dark or
        bright line along part of the nearest object's outline, 0-3 px
        outside it: strong background structure right beside an occlusion
        edge, where a decision map tends to give the background to the near
        object.
    slanted : float
        Share of the stacks (:meth:`stack`) that are one photo crop on a plane
        tilted in a random direction through the whole focus range, half of
        them posterised to 2-5 grey levels (printed labels, circuit boards,
        documents shot at an angle).
    """

    def __init__(
        self,
        photos: list[NDArray[np.float32]],
        *,
        recipe: str = "mix",
        crop: int = 128,
        scale_range: tuple[float, float] = (0.4, 1.0),
        edge_lines: float = 0.0,
        slanted: float = 0.0,
    ) -> None:
        if recipe not in RECIPES:
            raise ValueError(f"recipe must be one of {RECIPES}; got {recipe!r}")
        self.photos = photos
        self.recipe = recipe
        self.crop = int(crop)
        self.scale_range = scale_range
        self.edge_lines = float(edge_lines)
        self.slanted = float(slanted)

    def _crop(self, rng: np.random.Generator) -> NDArray[np.float32]:
        patch = random_crop(self.photos, self.crop, self.scale_range, rng)
        # Random contrast, as photos of different exposure.
        gain = rng.uniform(0.6, 1.2)
        patch = (patch - patch.mean()) * gain + patch.mean()
        return np.ascontiguousarray(np.clip(patch, 0, 1), dtype=np.float32)

    def _gacn(self, rng: np.random.Generator) -> tuple[NDArray, ...]:
        """Frames A and B, the mask of A's sharper region, the near map and B's shift."""
        img = self._crop(rng)
        mask = random_mask(self.crop, rng)
        blur = cv2.GaussianBlur(img, (0, 0), 2.0, borderType=cv2.BORDER_REFLECT)
        spread = cv2.GaussianBlur(mask, (0, 0), 2.0, borderType=cv2.BORDER_REFLECT)
        a = mask * img + (1 - mask) * blur
        b = spread * blur + (1 - spread) * img
        shift = rng.uniform(-2, 2, 2)
        return a, b, mask, mask, shift

    def _synth(self, rng: np.random.Generator) -> tuple[NDArray, ...]:
        """As :meth:`_gacn`, for a two-depth scene rendered by ``render_stack``."""
        back, front = self._crop(rng), self._crop(rng)
        mask = random_mask(self.crop, rng)
        size = self.crop
        near = 1.0
        far = rng.uniform(1.5, 4.0)
        yy, xx = np.mgrid[0:size, 0:size] / size
        ang = rng.uniform(0, 2 * np.pi)
        tilt = rng.uniform(0.0, 0.15) * (np.cos(ang) * xx + np.sin(ang) * yy)
        depth = np.where(mask > 0, near, far * (1.0 + tilt))
        image = mask * front + (1 - mask) * back
        span = 1.0 / near - 1.0 / depth.max()
        jitter = rng.normal(0.0, 0.05 * span, 2)
        focus = 1.0 / np.array([1.0 / near + jitter[0], 1.0 / far + jitter[1]])
        focus = np.clip(focus, 0.5, 50.0)
        stack = render_stack(
            image, depth, focus_distances=focus, max_radius=rng.uniform(0.8, 7.0), num_layers=6
        )
        shift = rng.uniform(-4, 4, 2)
        best = (stack.best_frame == 0).astype(np.float32)
        return stack.frames[0], stack.frames[1], best, mask, shift

    def sample(self, rng: np.random.Generator) -> tuple[NDArray, NDArray, NDArray]:
        """One pair ``frames (2, crop, crop)``, one-hot ``target (2, crop, crop)``, ``near``."""
        recipe = self.recipe
        if recipe == "mix":
            recipe = "gacn" if rng.random() < 0.5 else "synth"
        a, b, mask, near, shift = self._gacn(rng) if recipe == "gacn" else self._synth(rng)
        scale = 1.0 if recipe == "gacn" else 1.0 + rng.uniform(-0.01, 0.01)
        b = _shift(np.asarray(b, np.float32), *shift, scale=scale)
        sigma = rng.uniform(0.0, 0.01)
        frames = np.stack([a, b]).astype(np.float32)
        frames += rng.normal(0.0, sigma, frames.shape).astype(np.float32)
        target = np.stack([mask, 1.0 - mask]).astype(np.float32)
        if rng.random() < 0.5:
            frames, target = frames[::-1], target[::-1]
        return np.clip(frames, 0, 1).copy(), target.copy(), near.astype(np.float32)

    def stack(self, num: int, rng: np.random.Generator) -> tuple[NDArray, NDArray, NDArray]:
        """One focus stack ``frames (num, crop, crop)``, one-hot ``target (num, crop, crop)``
        and ``near (crop, crop)``, inverse distance scaled to [0, 1] (1 at the nearest layer).

        A near crop (a random region) in front of a slanted far crop, with a
        middle layer half of the time; the frames are focused at even steps of
        inverse distance from the nearest to the farthest layer, slightly
        jittered, so that every layer is sharp in some frame. Blur of the
        nearest layer in the farthest-focused frame: 1.5 to 7 px.
        """
        size = self.crop
        # (no draw when off: the stacks of earlier configs stay as they were)
        if self.slanted and rng.random() < self.slanted:
            image, depth = self._slanted_surface(rng)
            return self._render_stack(image, depth, num, rng)
        yy, xx = np.mgrid[0:size, 0:size] / size
        ang = rng.uniform(0, 2 * np.pi)
        far = rng.uniform(1.5, 4.0)
        tilt = rng.uniform(0.0, 0.2) * (np.cos(ang) * xx + np.sin(ang) * yy)
        image = self._crop(rng)
        depth = far * (1.0 + tilt)
        layers = [1.0] if rng.random() < 0.5 else [rng.uniform(1.1, 0.9 * far), 1.0]
        for i, near in enumerate(layers):
            mask = random_mask(size, rng) > 0
            # (no draw when off: the stacks of earlier configs stay as they were)
            if self.edge_lines and i == len(layers) - 1 and rng.random() < self.edge_lines:
                line = edge_line(mask, rng)
                image = np.where(line, rng.choice([0.1, 0.9]) + rng.uniform(-0.1, 0.1), image)
            image = np.where(mask, self._crop(rng), image)
            depth = np.where(mask, near, depth)
        return self._render_stack(image, depth, num, rng)

    def _slanted_surface(self, rng: np.random.Generator) -> tuple[NDArray, NDArray]:
        """A photo crop (posterised half of the time) on a plane through the focus range."""
        image = self._crop(rng)
        if rng.random() < 0.5:
            levels = int(rng.integers(2, 6))
            lo, hi = float(image.min()), float(image.max())
            step = np.floor((image - lo) / max(hi - lo, 1e-6) * levels).clip(0, levels - 1)
            image = (lo + (step + 0.5) * (hi - lo) / levels).astype(np.float32)
        size = self.crop
        yy, xx = np.mgrid[0:size, 0:size] / size
        ang = rng.uniform(0, 2 * np.pi)
        ramp = np.cos(ang) * xx + np.sin(ang) * yy
        ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
        depth = 1.0 + (rng.uniform(1.5, 4.0) - 1.0) * ramp
        return image, depth

    def _render_stack(
        self, image: NDArray, depth: NDArray, num: int, rng: np.random.Generator
    ) -> tuple[NDArray, NDArray, NDArray]:
        """``num`` frames of ``image`` at ``depth``, focused at even steps across it."""
        inv = np.linspace(1.0 / depth.min(), 1.0 / depth.max(), num)
        inv += rng.normal(0.0, 0.1 * abs(inv[0] - inv[1]), num)
        stack = render_stack(
            image,
            depth,
            focus_distances=1.0 / np.clip(inv, 0.02, 2.0),
            max_radius=rng.uniform(1.5, 7.0),
            num_layers=8,
        )
        frames = np.stack(
            [_shift(f, *rng.uniform(-0.5, 0.5, 2)) if k else f for k, f in enumerate(stack.frames)]
        )
        frames += rng.normal(0.0, rng.uniform(0.0, 0.01), frames.shape).astype(np.float32)
        target = (stack.best_frame[None] == np.arange(num)[:, None, None]).astype(np.float32)
        if rng.random() < 0.5:
            frames, target = frames[::-1], target[::-1]
        inv_depth = 1.0 / depth
        near = (inv_depth - inv_depth.min()) / max(float(np.ptp(inv_depth)), 1e-6)
        return np.clip(frames, 0, 1).astype(np.float32), target.copy(), near.astype(np.float32)

    def stack_batch(
        self, size: int, num: int, rng: np.random.Generator
    ) -> tuple[NDArray, NDArray, NDArray]:
        """``size`` stacks of ``num`` frames: frames and targets (B, num, H, W), near (B, H, W)."""
        return _collate([self.stack(num, rng) for _ in range(size)])

    def batch(self, size: int, rng: np.random.Generator) -> tuple[NDArray, NDArray, NDArray]:
        """``size`` pairs stacked: frames and targets (B, 2, H, W), near (B, H, W)."""
        return _collate([self.sample(rng) for _ in range(size)])


def _collate(items: list[tuple[NDArray, ...]]) -> tuple[NDArray, ...]:
    """(frames, target, near) triples stacked on a new batch axis."""
    return tuple(np.stack(parts) for parts in zip(*items, strict=True))
