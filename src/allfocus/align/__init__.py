"""Align the frames of a focus stack: handheld shake, focus breathing, stage drift.

Frames are registered to their neighbour toward a reference frame (the middle
one by default) on a band-passed luminance pyramid and the maps are composed;
then every frame is resampled into the reference geometry with Lanczos
interpolation and cropped to the area all frames cover. See
``docs/alignment.md`` for how it works and how ``model="auto"`` decides.

Functions
---------
align_stack
    Estimate and apply: the usual entry point.
estimate_transforms, apply_transforms
    The two halves, for reusing transforms (for example saved with
    :func:`save_transforms`).
save_transforms, load_transforms
    ``transforms.json`` files.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from allfocus._core.errors import InputError
from allfocus._core.validate import as_float_image, check_stack
from allfocus.align import _warp
from allfocus.align._estimate import estimate
from allfocus.align._models import MOTION_MODELS
from allfocus.align._transforms_file import load_transforms, save_transforms
from allfocus.align._types import ALIGN_MODELS, CROP_MODES, AlignmentError, AlignResult

__all__ = [
    "ALIGN_MODELS",
    "MOTION_MODELS",
    "AlignResult",
    "AlignmentError",
    "FramePlan",
    "align_stack",
    "apply_transforms",
    "estimate_transforms",
    "load_transforms",
    "plan_frames",
    "save_transforms",
]

ProgressFn = Callable[[int, int], None]


def _prepare(stack: NDArray, channel_axis: int | None) -> NDArray[np.float32]:
    return check_stack(stack, channel_axis=channel_axis, min_frames=1)


def _check_model(model: str) -> None:
    if model not in ALIGN_MODELS:
        raise InputError(
            f"unknown alignment model {model!r}; choose one of: {', '.join(ALIGN_MODELS)}"
        )


def _check_reference(reference: int | None, num_frames: int) -> int:
    if reference is None:
        return num_frames // 2
    try:
        ref = operator.index(reference)
    except TypeError:
        raise InputError(f"reference must be a frame index (int); got {reference!r}") from None
    if not -num_frames <= ref < num_frames:
        raise InputError(
            f"reference={reference} is out of range for a stack of {num_frames} frames "
            f"(use 0 to {num_frames - 1}, or None for the middle frame)"
        )
    return ref % num_frames


def _check_crop(crop: str) -> None:
    if crop not in CROP_MODES:
        raise InputError(f"unknown crop {crop!r}; choose one of: {', '.join(CROP_MODES)}")


def estimate_transforms(
    stack: NDArray,
    *,
    model: str = "auto",
    reference: int | None = None,
    channel_axis: int | None = None,
    progress: ProgressFn | None = None,
) -> tuple[NDArray[np.float64], str, dict[int, str]]:
    """Estimate the map of every frame of a focus stack to a reference frame.

    Parameters
    ----------
    stack : (S, M, N[, C]) ndarray
        Frames on axis 0, any dtype (integers are scaled to [0, 1]).
    model : {"auto", "translation", "similarity", "affine", "homography"}
        Motion model. "auto" returns identity transforms when the stack is
        already aligned, otherwise fits a similarity (shift, rotation, scale:
        handheld shake and focus breathing) and moves to affine or homography
        only where that clearly lowers the residual.
    reference : int, optional
        Index of the frame the others are mapped to; the middle frame
        ``S // 2`` by default.
    channel_axis : int or None
        Axis of colour channels, ``None`` for grey stacks.
    progress : callable, optional
        Called as ``progress(done, total)`` after each step.

    Returns
    -------
    transforms : (S, 3, 3) ndarray of float64
        Map of pixel ``(x, y, 1)`` of frame ``k`` to the reference frame
        (identity for the reference); all NaN for frames that could not be
        aligned.
    model : str
        The model used, or "identity" when the stack was already aligned.
    failed : dict of int to str
        Frames that could not be aligned and why. This function does not
        raise for them; :func:`align_stack` does unless ``drop_unaligned``.

    Raises
    ------
    InputError
        On bad arguments.

    Examples
    --------
    >>> import numpy as np
    >>> from allfocus.synth import synthetic_stack
    >>> frames = synthetic_stack((128, 160), 3, color=False, rng=0).frames
    >>> # Cut each frame 4, 0 and -6 px further right: frame k shows the scene
    >>> # at the reference's pixel x + shift.
    >>> moved = np.stack([f[10:110, 10 + dx : 130 + dx] for f, dx in zip(frames, (4, 0, -6))])
    >>> transforms, model, failed = estimate_transforms(moved, model="translation")
    >>> np.round(transforms[:, 0, 2]), model, failed
    (array([ 4.,  0., -6.]), 'translation', {})
    """
    _check_model(model)
    arr = _prepare(stack, channel_axis)
    ref = _check_reference(reference, arr.shape[0])
    return estimate(
        arr, color=channel_axis is not None, model=model, reference=ref, progress=progress
    )


def _model_of(transforms: NDArray) -> str:
    """Simplest model that represents every (finite) matrix."""
    finite = [m / m[2, 2] for m in transforms if np.isfinite(m).all()]
    if not finite or all(_warp.is_identity(m) for m in finite):
        return "identity"
    for name in ("translation", "similarity", "affine"):
        model = MOTION_MODELS.get(name)
        if all(np.allclose(model.project(m), m, rtol=0, atol=1e-9) for m in finite):
            return name
    return "homography"


def _apply(
    arr: NDArray[np.float32],
    transforms: NDArray[np.float64],
    *,
    crop: str,
    model: str,
    dropped: dict[int, str],
    progress: ProgressFn | None = None,
    done: int = 0,
    total: int = 0,
) -> AlignResult:
    shape = arr.shape[1:3]
    kept = [k for k in range(arr.shape[0]) if k not in dropped]
    if not kept:
        raise InputError("no frame is left to align: every frame was dropped")
    mats = transforms[kept]
    if crop == "common":
        box = _warp.common_box(mats, shape, shape)
    else:
        box = (0, shape[0], 0, shape[1])
    y0, y1, x0, x1 = box
    out = np.empty((len(kept), y1 - y0, x1 - x0, *arr.shape[3:]), dtype=np.float32)
    valid = np.empty((len(kept), y1 - y0, x1 - x0), dtype=bool)
    for i, k in enumerate(kept):
        out[i] = _warp.resample(arr[k], transforms[k], box)
        valid[i] = _warp.valid_mask(transforms[k], shape, box)
        if progress is not None:
            progress(done + i + 1, total)
    return AlignResult(
        frames=out,
        transforms=transforms,
        valid=valid,
        kept=kept,
        dropped=dict(dropped),
        model=model,
        crop_box=(int(y0), int(y1), int(x0), int(x1)),
    )


def _checked_transforms(
    transforms: NDArray, num: int
) -> tuple[NDArray[np.float64], dict[int, str]]:
    """Given transforms, normalised (``[2, 2] == 1``), and the frames without one."""
    mats = np.asarray(transforms, dtype=np.float64)
    if mats.shape != (num, 3, 3):
        raise InputError(
            f"transforms must have shape ({num}, 3, 3) for a stack of {num} frames; "
            f"got {mats.shape}"
        )
    mats = mats.copy()
    dropped = {}
    for k, m in enumerate(mats):
        if not np.isfinite(m).all():
            dropped[k] = "no transform (matrix is missing or not finite)"
            mats[k] = np.nan
        elif abs(m[2, 2]) < 1e-12 or abs(np.linalg.det(m)) < 1e-12:
            raise InputError(f"transforms[{k}] is singular; cannot resample frame {k}")
        else:
            mats[k] = m / m[2, 2]
    return mats, dropped


def apply_transforms(
    stack: NDArray,
    transforms: NDArray,
    *,
    crop: str = "common",
    channel_axis: int | None = None,
) -> AlignResult:
    """Resample a stack with known transforms (for example loaded from a file).

    Parameters
    ----------
    stack : (S, M, N[, C]) ndarray
        Frames on axis 0.
    transforms : (S, 3, 3) array_like
        Map of each frame's pixels to the reference frame, as returned by
        :func:`estimate_transforms`; frames whose matrix holds NaN are
        dropped.
    crop : {"common", "none"}
        "common" crops to the largest rectangle every frame covers; "none"
        keeps the reference frame's size (see ``AlignResult.valid``).
    channel_axis : int or None
        Axis of colour channels, ``None`` for grey stacks.

    Returns
    -------
    AlignResult
        ``model`` names the simplest model that represents the matrices.

    Raises
    ------
    InputError
        If the transforms do not fit the stack or leave no common area.
    """
    _check_crop(crop)
    arr = _prepare(stack, channel_axis)
    mats, dropped = _checked_transforms(transforms, arr.shape[0])
    return _apply(
        arr,
        mats,
        crop=crop,
        model=_model_of(mats),
        dropped=dropped,
    )


def _raise_for_failed(failed: dict[int, str], ref: int, num: int, drop_unaligned: bool) -> None:
    """The :class:`AlignmentError` for frames that failed, unless they may be dropped."""
    if not failed or drop_unaligned:
        return
    neighbours = {k for k in (ref - 1, ref + 1) if 0 <= k < num}
    hint = ""
    if len(neighbours) == 2 and neighbours <= set(failed):
        hint = (
            f"both neighbours of the reference frame {ref} failed, so frame {ref} itself "
            "may be the odd one out: pass another reference, or drop_unaligned=True"
        )
    raise AlignmentError(min(failed), failed, hint=hint)


@dataclass(frozen=True)
class FramePlan:
    """How to resample the frames of a stack read one at a time (see :func:`plan_frames`).

    Attributes
    ----------
    transforms : (S, 3, 3) ndarray of float64
        Map of each frame to the reference; NaN for dropped frames.
    model : str
        Model used (``"identity"`` when nothing moves, ``"saved"`` for given transforms).
    dropped : dict of int to str
        Frames left out and why.
    box : (y0, y1, x0, x1)
        Area of the reference frame every kept frame covers (the output size).
    """

    transforms: NDArray[np.float64]
    model: str
    dropped: dict[int, str]
    box: tuple[int, int, int, int]

    def resample(self, frame: NDArray, k: int) -> NDArray:
        """Frame ``k`` (channels last) in the reference geometry, cropped, in its own
        dtype (8- and 16-bit frames are resampled as they are: no float copy)."""
        arr = np.asarray(frame)
        if arr.dtype not in (np.uint8, np.uint16):
            arr = as_float_image(arr, name=f"frame {k}")
        return _warp.resample(arr, self.transforms[k], self.box)


class _LazyStack:
    """What the estimator reads of a stack: ``shape`` and ``stack[k]`` (decoded on demand)."""

    def __init__(self, read: Callable[[int], NDArray], shape: tuple[int, ...]) -> None:
        self._read, self.shape = read, shape

    def __getitem__(self, k: int) -> NDArray[np.float32]:
        return as_float_image(self._read(k), name=f"frame {k}")


def plan_frames(
    read: Callable[[int], NDArray],
    shape: tuple[int, ...],
    *,
    model: str = "auto",
    transforms: NDArray | None = None,
    reference: int | None = None,
    drop_unaligned: bool = False,
    color: bool = True,
    progress: ProgressFn | None = None,
) -> FramePlan:
    """Alignment of a stack that is never held whole: estimate, then resample frame by frame.

    The estimator keeps band-passed pyramids of at most three frames at a
    time and asks ``read(k)`` for frames as it goes (each is decoded a few
    times); the returned plan resamples each frame as it is read again for
    fusion. Same registration, model choice, failures and crop ("common")
    as :func:`align_stack`.

    Parameters
    ----------
    read : callable
        ``read(k)`` returns frame ``k`` (channels last, any dtype).
    shape : tuple
        ``(S, M, N[, C])`` of the stack.
    model : str
        As :func:`align_stack`; ignored when ``transforms`` are given.
    transforms : (S, 3, 3) array_like, optional
        Known transforms (as :func:`apply_transforms` takes them) instead of
        estimating; frames with NaN matrices are dropped.
    reference, drop_unaligned, progress
        As :func:`align_stack` (progress counts the registrations).
    color : bool
        Whether frames have a channel axis (last).

    Returns
    -------
    FramePlan
    """
    num = int(shape[0])
    frame_shape = tuple(int(v) for v in shape[1:3])
    ref = _check_reference(reference, num)
    if transforms is not None:
        mats, failed = _checked_transforms(transforms, num)
        used = "saved"
    else:
        _check_model(model)
        mats, used, failed = estimate(
            _LazyStack(read, tuple(shape)),
            color=color,
            model=model,
            reference=ref,
            progress=progress,
        )
        _raise_for_failed(failed, ref, num, drop_unaligned)
    kept = [k for k in range(num) if k not in failed]
    if not kept:
        raise InputError("no frame is left to align: every frame was dropped")
    if used == "identity":
        box = (0, frame_shape[0], 0, frame_shape[1])
    else:
        box = _warp.common_box(mats[kept], frame_shape, frame_shape)
    return FramePlan(mats, used, dict(sorted(failed.items())), tuple(int(v) for v in box))


def align_stack(
    stack: NDArray,
    *,
    model: str = "auto",
    reference: int | None = None,
    crop: str = "common",
    drop_unaligned: bool = False,
    channel_axis: int | None = None,
    progress: ProgressFn | None = None,
) -> AlignResult:
    """Align the frames of a focus stack to a reference frame.

    Parameters
    ----------
    stack : (S, M, N[, C]) ndarray
        Frames on axis 0, any dtype (integers are scaled to [0, 1]).
    model : {"auto", "translation", "similarity", "affine", "homography"}
        Motion model; see :func:`estimate_transforms`.
    reference : int, optional
        Frame the others are mapped to; the middle frame by default.
    crop : {"common", "none"}
        "common" (default) crops to the largest rectangle all kept frames
        cover, so every output pixel holds real data; "none" keeps the
        reference frame's size and marks filled borders in ``valid``.
    drop_unaligned : bool
        Leave out frames that cannot be aligned (listed in
        ``AlignResult.dropped``) instead of raising.
    channel_axis : int or None
        Axis of colour channels, ``None`` for grey stacks.
    progress : callable, optional
        Called as ``progress(done, total)`` after each registration and each
        resampled frame.

    Returns
    -------
    AlignResult
        Aligned frames (float32, colour on the last axis), the
        transforms, validity masks, kept and dropped frames, the model and
        the crop box. When the stack is already aligned (``model="auto"``)
        the frames are returned unresampled with identity transforms and
        ``model == "identity"``.

    Raises
    ------
    AlignmentError
        If a frame cannot be aligned (too little overlap, another scene,
        degenerate fit) and ``drop_unaligned`` is false; it names the frame.
    InputError
        On bad arguments.

    Examples
    --------
    >>> import numpy as np
    >>> from allfocus.synth import synthetic_stack
    >>> frames = synthetic_stack((128, 160), 3, color=False, rng=0).frames
    >>> moved = np.stack([f[10:110, 10 + dx : 130 + dx] for f, dx in zip(frames, (4, 0, -6))])
    >>> result = align_stack(moved, model="translation")
    >>> result.kept, result.model, result.frames.shape[0], result.valid.all()
    ([0, 1, 2], 'translation', 3, np.True_)
    >>> y0, y1, x0, x1 = result.crop_box  # about columns 4..113: covered by all frames
    >>> result.frames.shape[1:] == (y1 - y0, x1 - x0)
    True
    """
    _check_model(model)
    _check_crop(crop)
    arr = _prepare(stack, channel_axis)
    num = arr.shape[0]
    ref = _check_reference(reference, num)
    steps = 2 * (num - 1)
    total = steps + num
    transforms, used, failed = estimate(
        arr,
        color=channel_axis is not None,
        model=model,
        reference=ref,
        progress=progress,
        progress_total=total,
    )
    _raise_for_failed(failed, ref, num, drop_unaligned)
    if used == "identity":
        # Nothing to resample: return the (float32, channels-last) input itself.
        out = arr
        if progress is not None:
            progress(total, total)
        h, w = arr.shape[1:3]
        return AlignResult(
            frames=out,
            transforms=transforms,
            valid=np.ones((num, h, w), dtype=bool),
            kept=list(range(num)),
            dropped={},
            model="identity",
            crop_box=(0, h, 0, w),
        )
    return _apply(
        arr,
        transforms,
        crop=crop,
        model=used,
        dropped=failed,
        progress=progress,
        done=steps,
        total=total,
    )
