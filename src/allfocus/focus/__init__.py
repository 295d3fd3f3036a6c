"""Focus measures behind one registry.

Every measure has the signature ``measure(image, *, window=9) -> ndarray``
(grey ``(M, N)`` in, ``(M, N)`` float32 out, larger is sharper). Use
:func:`focus_measure` to call one by name.
"""

from __future__ import annotations

from numpy.typing import NDArray

from allfocus.focus.measures import (
    FOCUS_MEASURES,
    laplacian_energy,
    multiscale_laplacian,
    sum_modified_laplacian,
    tenengrad,
    variance,
)


def focus_measure(image: NDArray, *, measure: str = "laplacian_energy", window: int = 9) -> NDArray:
    """Apply the focus measure registered as ``measure``.

    Parameters
    ----------
    image : (M, N) ndarray
        Grey image.
    measure : str
        One of ``FOCUS_MEASURES.names()``.
    window : int
        Odd side of the averaging window.

    Returns
    -------
    (M, N) ndarray of float32

    Examples
    --------
    >>> import numpy as np
    >>> focus_measure(np.zeros((4, 4)), measure="variance", window=3).shape
    (4, 4)
    """
    return FOCUS_MEASURES.get(measure)(image, window=window)


__all__ = [
    "FOCUS_MEASURES",
    "focus_measure",
    "laplacian_energy",
    "multiscale_laplacian",
    "sum_modified_laplacian",
    "tenengrad",
    "variance",
]
