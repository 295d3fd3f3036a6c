"""Information-theoretic fusion metric: normalised mutual information (Hossny et al.)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from allfocus._core.errors import InputError
from allfocus.metrics._inputs import fused_and_sources, quantise

__all__ = ["nmi"]


def _entropy(p: NDArray[np.float64]) -> float:
    """Shannon entropy in bits of a probability array (zeros ignored)."""
    nz = p[p > 0]
    return float(-np.sum(nz * np.log2(nz)))


def _normalised_mi(x: NDArray[np.intp], y: NDArray[np.intp], bins: int) -> float:
    """``2 MI(x, y) / (H(x) + H(y))`` of two quantised images; 1 when both are constant."""
    joint = np.bincount((x * bins + y).ravel(), minlength=bins * bins).astype(np.float64)
    joint /= joint.sum()
    joint = joint.reshape(bins, bins)
    h_x = _entropy(joint.sum(axis=1))
    h_y = _entropy(joint.sum(axis=0))
    if h_x + h_y == 0.0:
        return 1.0
    mutual = h_x + h_y - _entropy(joint)
    return 2.0 * mutual / (h_x + h_y)


def nmi(
    fused: ArrayLike,
    sources: ArrayLike | Sequence[ArrayLike],
    *,
    bins: int = 256,
    channel_axis: int | None = None,
) -> float:
    """Normalised mutual information of Hossny et al., summed over the sources.

    Parameters
    ----------
    fused : (M, N[, C]) array_like
        Fused image, any dtype (integers are scaled to [0, 1] by their
        sensor's range, see :func:`~allfocus.metrics._inputs.sensor_scale`).
    sources : sequence of (M, N[, C]) array_like or (S, M, N[, C]) array_like
        The images that were fused, each the shape of ``fused``.
    bins : int
        Grey levels of the histograms: the luma in [0, 1] is rounded to
        ``0 .. bins - 1``. The default 256 treats images like 8-bit MATLAB input.
    channel_axis : int or None
        Axis of the colour channels of ``fused`` and of each source (within one
        frame for a stacked array); colour is reduced to Rec. 601 luma.

    Returns
    -------
    float
        ``sum_S 2 MI(S, F) / (H(S) + H(F))``, in [0, S]: each term is 1 when the
        fused image determines the source (and vice versa) and 0 when they are
        independent. A term whose two images are both constant counts as 1.

    Raises
    ------
    InputError
        If shapes differ, an image has the wrong number of dimensions or ``bins``
        is not an integer of at least 2.

    See Also
    --------
    qabf : edge-based fusion metric.

    Notes
    -----
    Entropies are in bits, from the joint grey-level histogram of each source and
    the fused image (``bins`` x ``bins``). Hossny et al. normalise Qu's mutual
    information (``MI(A, F) + MI(B, F)``), which grows with the images' entropy,
    by the entropies of the pair; the sum over two sources lies in [0, 2].

    References
    ----------
    .. [1] M. Hossny, S. Nahavandi and D. Creighton, "Comments on 'Information
       measure for performance of image fusion'", Electronics Letters 44(18),
       1066-1067, 2008. :DOI:`10.1049/el:20081754`

    Examples
    --------
    >>> import numpy as np
    >>> from allfocus.metrics import nmi
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.random((2, 64, 64))
    >>> nmi(a, [a, a])
    2.0
    >>> nmi(a, [a, b]) < 1.5
    True
    """
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 2:
        raise InputError(f"bins must be an integer >= 2; got {bins!r}")
    bins = int(bins)
    fused_luma, lumas = fused_and_sources(fused, sources, channel_axis=channel_axis)
    f = quantise(fused_luma, bins)
    return float(sum(_normalised_mi(quantise(luma, bins), f, bins) for luma in lumas))
