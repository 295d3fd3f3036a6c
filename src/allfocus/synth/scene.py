"""Procedural scenes (sharp texture + depth) for tests, benchmarks and training."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from allfocus._core.errors import InputError


@dataclass
class Scene:
    """A sharp image and the distance of each of its pixels."""

    image: NDArray[np.float32]
    depth: NDArray[np.float32]


def texture(
    shape: tuple[int, int], *, color: bool, rng: np.random.Generator, slope: float = 1.1
) -> NDArray[np.float32]:
    """Natural-looking texture: power-law (1/f^slope) noise plus sharp strokes.

    The power-law spectrum resembles natural images, so focus measures behave
    as on photos; the strokes add the hard edges that fusion must keep.
    """
    h, w = shape
    channels = 3 if color else 1
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    radius = np.sqrt(fx**2 + fy**2)
    radius[0, 0] = 1.0
    amp = radius ** (-slope)
    amp[0, 0] = 0.0
    out = np.empty((h, w, channels), dtype=np.float32)
    base = rng.normal(size=(h, w // 2 + 1)) + 1j * rng.normal(size=(h, w // 2 + 1))
    for c in range(channels):
        # Channels share most of their structure, as in photos.
        own = rng.normal(size=base.shape) + 1j * rng.normal(size=base.shape)
        field = np.fft.irfft2((base + 0.35 * own) * amp, s=(h, w))
        field = (field - field.mean()) / (field.std() + 1e-12)
        out[..., c] = field
    tint = rng.uniform(0.25, 0.75, size=channels)
    img = tint + 0.16 * out
    # Strokes: thin lines of random colour.
    canvas = np.zeros((h, w, channels), dtype=np.float32)
    for _ in range(max(3, (h * w) // 6000)):
        p0 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        col = tuple(float(v) for v in rng.uniform(0.05, 0.95, size=channels))
        cv2.line(canvas, p0, p1, col, thickness=int(rng.integers(1, 3)), lineType=cv2.LINE_AA)
    mask = canvas.any(axis=2, keepdims=True)
    img = np.where(mask, canvas, img)
    img = np.clip(img, 0.0, 1.0).astype(np.float32)
    return img if color else img[..., 0]


def _check_scene(shape: tuple[int, int], near: float, far: float) -> None:
    if len(shape) != 2 or min(shape) < 16:
        raise InputError(f"shape must be (height, width) of at least 16 px; got {shape}")
    if not 0 < near < far:
        raise InputError(f"need 0 < near < far; got near={near}, far={far}")


def _tilted_ramp(shape: tuple[int, int], gen: np.random.Generator) -> NDArray:
    """0 to 1 across ``shape`` along a random direction: a tilted plane's depth profile."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = gen.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xx / w + np.sin(angle) * yy / h) + 1.0
    return (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)


def make_scene(
    shape: tuple[int, int] = (256, 256),
    *,
    color: bool = True,
    num_objects: int = 4,
    near: float = 1.0,
    far: float = 4.0,
    rng: int | np.random.Generator | None = None,
) -> Scene:
    """A slanted textured background with textured objects in front of it.

    Parameters
    ----------
    shape : (int, int)
        Image height and width.
    color : bool
        RGB when true, grey otherwise.
    num_objects : int
        Foreground objects (ellipses and polygons), each at its own distance.
    near, far : float
        Distance range of the scene; the background spans the far half.
    rng : None, int or numpy.random.Generator
        Seed or generator.

    Returns
    -------
    Scene
    """
    _check_scene(shape, near, far)
    gen = np.random.default_rng(rng)
    h, w = shape
    image = texture(shape, color=color, rng=gen)
    # Background: a plane tilted in a random direction over the far part of the range.
    mid = 0.5 * (near + far)
    depth = (mid + (far - mid) * _tilted_ramp(shape, gen)).astype(np.float32)
    # Foreground objects, drawn far to near so nearer ones occlude.
    distances = np.sort(gen.uniform(near, mid, size=num_objects))[::-1]
    for dist in distances:
        obj_tex = texture(shape, color=color, rng=gen)
        mask = np.zeros(shape, dtype=np.uint8)
        cx, cy = gen.uniform(0.15, 0.85) * w, gen.uniform(0.15, 0.85) * h
        size = gen.uniform(0.1, 0.25) * min(h, w)
        if gen.random() < 0.5:
            axes = (int(size), int(size * gen.uniform(0.5, 1.0)))
            cv2.ellipse(mask, (int(cx), int(cy)), axes, float(gen.uniform(0, 180)), 0, 360, 1, -1)
        else:
            n = int(gen.integers(3, 7))
            ang = np.sort(gen.uniform(0, 2 * np.pi, size=n))
            rad = size * gen.uniform(0.6, 1.2, size=n)
            pts = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], axis=1)
            cv2.fillPoly(mask, [pts.astype(np.int32)], 1)
        sel = mask.astype(bool)
        image[sel] = obj_tex[sel]
        depth[sel] = dist
    return Scene(image=image, depth=depth)


def make_label_scene(
    shape: tuple[int, int] = (256, 256),
    *,
    color: bool = True,
    near: float = 1.0,
    far: float = 4.0,
    rng: int | np.random.Generator | None = None,
) -> Scene:
    """A slanted printed surface: barcode bars and flat patches on a light ground.

    Labels, circuit boards and documents shot at an angle: flat regions
    between high-contrast edges, and a depth that changes slowly across the
    frame, so that each frame is sharp on a band of the surface and the
    change from one frame to the next falls on the printed edges.

    Parameters
    ----------
    shape : (int, int)
        Image height and width.
    color : bool
        RGB (slightly tinted ground and ink) when true, grey otherwise.
    near, far : float
        Distances of the surface's nearest and farthest corners (a plane
        tilted in a random direction).
    rng : None, int or numpy.random.Generator
        Seed or generator.

    Returns
    -------
    Scene
    """
    _check_scene(shape, near, far)
    gen = np.random.default_rng(rng)
    h, w = shape
    grey = np.full(shape, 0.92, dtype=np.float32)
    x = 0
    while x < w:  # bars across the whole width, 3-23 px wide, 3-23 px apart
        bar, gap = (int(v) for v in gen.integers(3, 24, size=2))
        grey[:, x : x + bar] = 0.08 if gen.random() < 0.8 else 0.5
        x += bar + gap
    for _ in range(4):  # flat patches (print, paint) over the bars
        ph, pw = int(gen.integers(h // 16, h // 6 + 1)), int(gen.integers(w // 12, w // 4 + 1))
        y0, x0 = int(gen.integers(0, h - ph + 1)), int(gen.integers(0, w - pw + 1))
        grey[y0 : y0 + ph, x0 : x0 + pw] = gen.uniform(0.1, 0.9)
    if color:
        tint = gen.uniform(0.8, 1.0, size=3).astype(np.float32)
        tint[2] = 1.0
        image = grey[..., None] * tint
    else:
        image = grey
    depth = (near + (far - near) * _tilted_ramp(shape, gen)).astype(np.float32)
    return Scene(image=np.ascontiguousarray(image, dtype=np.float32), depth=depth)
