"""Result container and error of stack alignment."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from allfocus._core.errors import InputError

#: Names accepted by ``model=``; "auto" picks one of the others per stack.
ALIGN_MODELS = ("translation", "similarity", "affine", "homography", "auto")

#: Accepted values of ``crop=``.
CROP_MODES = ("common", "none")


class AlignmentError(InputError):
    """A frame could not be registered to the stack.

    Attributes
    ----------
    frame : int
        Index (in the input stack) of the first frame that failed.
    reasons : dict[int, str]
        Every failed frame and why.
    """

    def __init__(self, frame: int, reasons: dict[int, str], *, hint: str = "") -> None:
        self.frame = frame
        self.reasons = dict(reasons)
        lines = "; ".join(f"frame {k}: {why}" for k, why in sorted(self.reasons.items()))
        hint = hint or (
            "check that every frame shows the same scene, or pass drop_unaligned=True to "
            "leave such frames out"
        )
        super().__init__(f"cannot align frame {frame} of the stack ({lines}); {hint}")


@dataclass
class AlignResult:
    """What :func:`allfocus.align.align_stack` returns.

    Attributes
    ----------
    frames : (S', M', N'[, C]) ndarray of float32
        The kept frames resampled into the reference frame's geometry and
        cropped to ``crop_box``; colour always on the last axis, whatever
        ``channel_axis`` the input used. When nothing was resampled
        (``model == "identity"``) this may be the input array itself.
    transforms : (S, 3, 3) ndarray of float64
        For every input frame (dropped ones included, as NaN) the matrix
        mapping its pixel ``(x, y, 1)`` (x = column, y = row, pixel centres at
        integers) to the reference frame's pixel, up to the homogeneous scale.
        The reference frame's matrix is the identity.
    valid : (S', M', N') ndarray of bool
        True where an aligned frame holds real data, False where its pixels
        were filled by reflection at the border.
    kept : list of int
        Indices of the input frames in ``frames``, in input order.
    dropped : dict of int to str
        Frames left out (``drop_unaligned=True``) and why.
    model : str
        Motion model used: one of ``ALIGN_MODELS`` except "auto", or
        "identity" when the stack was found already aligned and nothing was
        resampled.
    crop_box : (int, int, int, int)
        ``(y0, y1, x0, x1)`` of the output in reference-frame pixels:
        ``frames[k]`` covers rows ``y0:y1`` and columns ``x0:x1``.
    """

    frames: NDArray[np.float32]
    transforms: NDArray[np.float64]
    valid: NDArray[np.bool_]
    kept: list[int] = field(default_factory=list)
    dropped: dict[int, str] = field(default_factory=dict)
    model: str = "identity"
    crop_box: tuple[int, int, int, int] = (0, 0, 0, 0)
