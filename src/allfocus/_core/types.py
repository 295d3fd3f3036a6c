"""Shared type aliases and result containers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Image = NDArray[np.floating]
Stack = NDArray[np.floating]


@dataclass
class FusionResult:
    """What every fusion method returns.

    Attributes
    ----------
    image : (M, N[, C]) ndarray of float32
        The all-in-focus image in [0, 1], channel axis where the input had it.
    depth : (M, N) ndarray of float32
        For each pixel the frame index it came from, with sub-frame
        interpolation (0 = first frame, S - 1 = last).
    confidence : (M, N) ndarray of float32
        How sure the method is of ``depth``, in [0, 1] (1 = one frame clearly
        sharpest; 0 = no frame sharper than another, such as flat regions).
    """

    image: NDArray[np.float32]
    depth: NDArray[np.float32]
    confidence: NDArray[np.float32]
