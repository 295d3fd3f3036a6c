"""Steps shared by the classical fusion methods (private).

Entry and exit (validation, channels-last, luma, clipping), blending frames by
weights, and turning per-frame focus scores into a sub-frame depth map and a
confidence map. Written once here so every method (and the learned ones,
which produce weights too) behaves the same at the edges.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np
from numpy.typing import NDArray

from allfocus._core.errors import InputError
from allfocus._core.types import FusionResult
from allfocus._core.validate import FLOAT, check_stack, luminance, restore_channel_axis


def prepare(
    stack: NDArray, channel_axis: int | None
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Validate ``stack``; return frames (S, M, N[, C]) channels last and their luma (S, M, N)."""
    frames = check_stack(stack, channel_axis=channel_axis)
    luma = luminance(frames, color=channel_axis is not None)
    return frames, np.ascontiguousarray(luma, dtype=FLOAT)


def finish(
    image: NDArray,
    depth: NDArray,
    confidence: NDArray,
    *,
    channel_axis: int | None,
    stack_ndim: int,
) -> FusionResult:
    """Clip, cast and put the channel axis back where the input had it."""
    image = np.clip(image, 0.0, 1.0).astype(FLOAT, copy=False)
    image = restore_channel_axis(image, channel_axis, stack_ndim=stack_ndim)
    return FusionResult(
        image=np.ascontiguousarray(image),
        depth=np.asarray(depth, dtype=FLOAT),
        confidence=np.clip(confidence, 0.0, 1.0).astype(FLOAT, copy=False),
    )


def check_int(name: str, value: object, *, minimum: int) -> int:
    """Return ``value`` as an int; InputError naming ``name`` unless an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def check_positive(name: str, value: object, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a float, raising InputError if it is not positive (or >= 0)."""
    try:
        val = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number; got {value!r}") from None
    ok = val >= 0 if allow_zero else val > 0
    if not (ok and np.isfinite(val)):
        bound = ">= 0" if allow_zero else "> 0"
        raise InputError(f"{name} must be a finite number {bound}; got {value!r}")
    return val


def blend(
    frames: NDArray[np.float32] | Iterable[NDArray[np.float32]], weights: NDArray[np.float32]
) -> NDArray[np.float32]:
    """Weighted sum of frames (S, M, N[, C]) by weights (S, M, N) summing to one per pixel.

    ``frames`` may be any iterable of the S frames (M, N[, C]), read one at a time.
    """
    out: NDArray[np.float32] | None = None
    for frame, weight in zip(frames, weights, strict=True):
        term = frame * (weight[..., None] if frame.ndim == 3 else weight)
        if out is None:
            out = term.astype(FLOAT, copy=False)
        else:
            out += term
    if out is None:
        raise InputError("blend needs at least one frame")
    return out


def select_each(
    frames: Iterable[NDArray[np.float32]], index: NDArray[np.integer]
) -> NDArray[np.float32]:
    """:func:`select` for frames that arrive one at a time (any iterable of (M, N[, C]))."""
    out: NDArray[np.float32] | None = None
    for k, frame in enumerate(frames):
        if out is None:
            out = np.zeros(frame.shape, dtype=FLOAT)
        mask = index == k
        out[mask] = frame[mask]
    if out is None:
        raise InputError("select_each needs at least one frame")
    return out


def select(frames: NDArray[np.float32], index: NDArray[np.integer]) -> NDArray[np.float32]:
    """Pick for every pixel the frame ``index`` (M, N) from frames (S, M, N[, C])."""
    idx = index[None, ..., None] if frames.ndim == 4 else index[None]
    return np.take_along_axis(frames, idx, axis=0)[0]


def one_hot(index: NDArray[np.integer], num: int) -> NDArray[np.float32]:
    """(S, M, N) float32 indicator maps of an (M, N) label map."""
    return (index[None] == np.arange(num)[:, None, None]).astype(FLOAT)


def argmax_frames(
    scores: NDArray[np.floating] | Iterable[NDArray[np.floating]],
) -> NDArray[np.intp]:
    """Per-pixel argmax over frames; ties go to the frame with the lower index.

    Frame by frame: ``np.argmax(scores, axis=0)`` copies the whole (S, M, N)
    array to bring the frame axis last, which for a large stack's scores is
    the peak of the fusion. ``scores`` may be any iterable of the frames'
    (M, N) scores, each used before the next is asked for (a generator may
    reuse one buffer).
    """
    levels = iter(scores)
    best = np.array(next(levels), copy=True)
    index = np.zeros(best.shape, dtype=np.intp)
    for k, level in enumerate(levels, 1):
        better = level > best
        index[better] = k
        np.copyto(best, level, where=better)
    return index


# Pixels per strip of subframe_depth: small enough that its temporaries are a
# few megabytes, large enough that the loop costs nothing.
_STRIP_PIXELS = 1 << 18


def subframe_depth(
    scores: NDArray[np.float32], index: NDArray[np.integer], *, ends: bool = False
) -> NDArray[np.float32]:
    """Refine an integer frame map by a parabola through the scores around it.

    Parameters
    ----------
    scores : (S, M, N) ndarray
        Focus score of every frame at every pixel.
    index : (M, N) ndarray of int
        Chosen frame per pixel (normally the argmax of ``scores``).
    ends : bool
        Also refine the first and last frame, inward only, by the parabola
        through it and the next two frames inward. A surface halfway between
        the end frame and the next is as likely to be won by either, and then
        gets the same depth both ways; the defocus model fits its blur per
        focus step on pixels near whole frame indices and needs this.

    Returns
    -------
    (M, N) ndarray of float32
        ``index`` plus an offset in [-0.5, 0.5] at the vertex of the parabola
        through the scores of frames ``index - 1``, ``index``, ``index + 1``
        (no offset at the first and last frame unless ``ends``, nor where the
        scores are not peaked).
    """
    num = scores.shape[0]
    if num < 3:
        return index.astype(FLOAT)
    # In strips of rows, float32 and in place: on a 20-megapixel map each
    # float32 temporary of the whole map would be 80 MB, and there are nine.
    depth = np.empty(index.shape, dtype=FLOAT)
    step = max(1, _STRIP_PIXELS // max(1, int(np.prod(index.shape[1:]))))
    for start in range(0, index.shape[0], step):
        rows = slice(start, start + step)
        depth[rows] = _parabola_depth(scores[:, rows], index[rows], ends=ends)
    return depth


def _parabola_depth(
    scores: NDArray[np.floating], index: NDArray[np.integer], *, ends: bool
) -> NDArray[np.float32]:
    """:func:`subframe_depth` of a strip of rows, ``scores.shape[0] >= 3``."""
    num = scores.shape[0]
    idx = index.astype(np.intp)
    mid = np.clip(idx, 1, num - 2)
    f0 = np.take_along_axis(scores, (mid - 1)[None], axis=0)[0].astype(FLOAT, copy=False)
    f1 = np.take_along_axis(scores, mid[None], axis=0)[0].astype(FLOAT, copy=False)
    f2 = np.take_along_axis(scores, (mid + 1)[None], axis=0)[0].astype(FLOAT, copy=False)
    curv = f0 - FLOAT(2.0) * f1 + f2
    del f1
    peaked = curv < 0
    if not ends:
        peaked &= mid == idx
    curv[~peaked] = -1.0
    offset = np.subtract(f0, f2, out=f0)
    del f2
    offset *= FLOAT(0.5)
    offset /= curv
    del curv
    offset += mid - idx  # the vertex relative to the chosen frame
    offset[~peaked] = 0.0
    np.clip(offset, -0.5, 0.5, out=offset)
    if ends:
        np.maximum(offset, 0.0, out=offset, where=idx == 0)
        np.minimum(offset, 0.0, out=offset, where=idx == num - 1)
    offset += idx
    return offset


def contrast_confidence(scores: NDArray[np.float32]) -> NDArray[np.float32]:
    """Normalised contrast ``(max - min) / (max + min + floor)`` of the scores over frames.

    Near 1 where one frame is much sharper than the least sharp one, near 0 in
    flat or featureless regions where no frame is sharper than another. The
    ``floor`` (1 % of the mean peak score) keeps flat regions at 0.
    """
    best = scores.max(axis=0)
    worst = scores.min(axis=0)
    floor = FLOAT(1e-2) * FLOAT(best.mean()) + FLOAT(1e-12)
    return ((best - worst) / (best + worst + floor)).astype(FLOAT)


def take_nearest_large(
    labels: NDArray[np.integer],
    small: NDArray[np.bool_],
    *,
    scratch: tuple[NDArray[np.float32], NDArray[np.int32]] | None = None,
) -> NDArray[np.integer]:
    """A copy of ``labels`` where every ``small`` pixel has the label of the nearest other pixel.

    The small-region cleanup of the decision-map methods. OpenCV's distance
    transform numbers the pixels that are not small in scan order, from 1,
    and gives every small pixel the number of its nearest one. Asked for the
    nearest pixel it uses its 5 x 5 chamfer approximation of the Euclidean
    distance (OpenCV documents labels only for masks of 3 and 5), so where
    two pixels are exactly or nearly equally near (within 0.2 px) it may
    pick another one than :func:`scipy.ndimage.distance_transform_edt`; it is
    ten times faster than that on 24 MP and needs no import of scipy.
    ``scratch``: contiguous float32 and int32 arrays of the map's shape for
    the transform's distances and numbers (fresh ones if not given).

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.array([[0, 0, 5, 1, 1]])
    >>> take_nearest_large(labels, labels == 5).tolist()
    [[0, 0, 0, 1, 1]]
    """
    distance, nearest = scratch if scratch is not None else (None, None)
    distance, nearest = cv2.distanceTransformWithLabels(
        small.view(np.uint8),
        cv2.DIST_L2,
        cv2.DIST_MASK_5,
        dst=distance,
        labels=nearest,
        labelType=cv2.DIST_LABEL_PIXEL,
    )
    del distance  # 4 bytes a pixel, not needed
    at = np.flatnonzero(small)
    out = labels.copy()
    out.ravel()[at] = labels[~small][nearest.ravel()[at] - 1]
    return out


__all__ = [
    "argmax_frames",
    "blend",
    "check_int",
    "check_positive",
    "contrast_confidence",
    "finish",
    "one_hot",
    "prepare",
    "select",
    "subframe_depth",
    "take_nearest_large",
]
