"""Resampling into the reference geometry, validity masks and the common crop."""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from allfocus._core.errors import InputError

#: Interpolation used to resample frames: 8x8 Lanczos keeps the fine detail
#: that fusion looks for (bicubic visibly softens half-pixel shifts).
INTERPOLATION = cv2.INTER_LANCZOS4
#: Slack (pixels) when testing whether a source position lies inside a frame.
_EPS = 1e-6


def is_identity(matrix: NDArray, *, atol: float = 1e-9) -> bool:
    """Whether ``matrix`` is the identity up to homogeneous scale."""
    m = np.asarray(matrix, dtype=np.float64)
    return bool(np.allclose(m / m[2, 2], np.eye(3), rtol=0.0, atol=atol))


def covered_rows(
    matrix: NDArray, src_shape: tuple[int, int], rows: NDArray, width: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Columns where a frame, mapped by ``matrix``, has data on each output row.

    The region is ``{p : matrix^-1 p in [0, w-1] x [0, h-1]}``, the image of the
    frame's pixel-centre rectangle, which is convex for affine maps and for
    homographies that keep the frame in front of the camera. It is written as
    half-planes ``a x + b y + c >= 0`` and intersected with each row.

    Returns
    -------
    lo, hi : (len(rows),) ndarray of int
        First and last covered column of each row, clipped to
        ``[0, width - 1]``; ``lo > hi`` where a row is not covered.
    """
    h, w = src_shape
    m = np.asarray(matrix, dtype=np.float64)
    inv = np.linalg.inv(m / m[2, 2])
    r0, r1, r2 = inv
    planes = [r0, (w - 1) * r2 - r0, r1, (h - 1) * r2 - r1]
    if abs(r2[0]) > 0 or abs(r2[1]) > 0:
        planes.append(r2 - np.array([0.0, 0.0, 1e-9]))  # in front of the camera
    y = np.asarray(rows, dtype=np.float64)
    lo = np.zeros(y.shape)
    hi = np.full(y.shape, float(width - 1))
    for a, b, c in planes:
        # a x + b y + c >= -_EPS: the slack is in source pixels, like the test.
        rhs = b * y + c + _EPS
        if a > 1e-15:
            lo = np.maximum(lo, -rhs / a)
        elif a < -1e-15:
            hi = np.minimum(hi, rhs / -a)
        else:
            hi = np.where(rhs >= 0, hi, -1.0)
    lo_i = np.ceil(lo - 1e-9).astype(np.int64)
    hi_i = np.floor(hi + 1e-9).astype(np.int64)
    return lo_i, hi_i


def valid_mask(
    matrix: NDArray, src_shape: tuple[int, int], box: tuple[int, int, int, int]
) -> NDArray[np.bool_]:
    """(y1 - y0, x1 - x0) mask of the output pixels inside the mapped frame."""
    y0, y1, x0, x1 = box
    lo, hi = covered_rows(matrix, src_shape, np.arange(y0, y1), x1)
    cols = np.arange(x0, x1)
    return (cols[None, :] >= lo[:, None]) & (cols[None, :] <= hi[:, None])


def largest_rectangle(lo: NDArray, hi: NDArray) -> tuple[int, int, int, int]:
    """Largest axis-aligned rectangle inside a region given by row intervals.

    The region must be convex, so each row holds one interval. Brute force
    over the top row with running max/min (O(M^2) vector work, ~0.1 s for
    4000 rows).

    Returns
    -------
    (y0, y1, x0, x1) : tuple of int
        Half-open bounds; all zero when the region is empty.
    """
    rows = np.flatnonzero(hi >= lo)
    if rows.size == 0:
        return (0, 0, 0, 0)
    first, last = int(rows[0]), int(rows[-1])
    lo = lo[first : last + 1]
    hi = hi[first : last + 1]
    best, box = 0, (0, 0, 0, 0)
    n = lo.size
    for top in range(n):
        run_lo = np.maximum.accumulate(lo[top:])
        run_hi = np.minimum.accumulate(hi[top:])
        width = run_hi - run_lo + 1
        area = width * np.arange(1, n - top + 1)
        area[width <= 0] = 0
        i = int(np.argmax(area))
        if area[i] > best:
            best = int(area[i])
            box = (first + top, first + top + i + 1, int(run_lo[i]), int(run_hi[i]) + 1)
        # No later top row can beat the best once all remaining rows could not.
        if (n - top - 1) * int((hi[top + 1 :] - lo[top + 1 :]).max(initial=-1) + 1) <= best:
            break
    return box


def common_box(
    transforms: NDArray, src_shape: tuple[int, int], ref_shape: tuple[int, int]
) -> tuple[int, int, int, int]:
    """Largest rectangle of the reference frame that every mapped frame covers."""
    h, w = ref_shape
    rows = np.arange(h)
    lo = np.zeros(h, dtype=np.int64)
    hi = np.full(h, w - 1, dtype=np.int64)
    for m in transforms:
        a, b = covered_rows(m, src_shape, rows, w)
        lo = np.maximum(lo, a)
        hi = np.minimum(hi, b)
    box = largest_rectangle(lo, hi)
    if box[1] - box[0] < 2 or box[3] - box[2] < 2:
        raise InputError(
            "the aligned frames have no common area; they overlap too little to be fused "
            "(drop the outliers or use crop='none')"
        )
    return box


def resample(frame: NDArray, matrix: NDArray, box: tuple[int, int, int, int]) -> NDArray:
    """``frame`` (channels last) mapped by ``matrix`` into reference pixels ``box``.

    Float frames (values in [0, 1]) come back clipped to [0, 1]; integer
    frames are resampled in their own dtype (OpenCV rounds and saturates),
    so no float copy of a big frame is made.
    """
    y0, y1, x0, x1 = box
    if is_identity(matrix):
        return frame[y0:y1, x0:x1].copy()
    shift = np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0], [0.0, 0.0, 1.0]])
    m = shift @ np.asarray(matrix, dtype=np.float64)
    m /= m[2, 2]
    size = (x1 - x0, y1 - y0)
    affine = abs(m[2, 0]) < 1e-15 and abs(m[2, 1]) < 1e-15

    def warp(img: NDArray[np.float32]) -> NDArray[np.float32]:
        if affine:
            return cv2.warpAffine(
                img, m[:2], size, flags=INTERPOLATION, borderMode=cv2.BORDER_REFLECT
            )
        return cv2.warpPerspective(img, m, size, flags=INTERPOLATION, borderMode=cv2.BORDER_REFLECT)

    if frame.ndim == 3 and frame.shape[2] > 4:
        out = np.stack([warp(frame[..., c]) for c in range(frame.shape[2])], axis=-1)
    else:
        out = warp(frame)
        if frame.ndim == 3 and out.ndim == 2:
            out = out[..., None]
    if out.dtype.kind != "f":
        return out
    # Lanczos rings slightly past the data range at edges; keep the [0, 1] rule.
    return np.clip(out, 0.0, 1.0, out=out)
