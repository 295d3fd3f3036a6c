"""Q^AB/F: edge-information transfer (Xydeas & Petrovic 2000)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

from allfocus._core.errors import ConfigError
from allfocus.metrics._inputs import fused_and_sources

__all__ = ["QABF_BORDERS", "QABF_CONSTANTS", "QABF_MAX", "qabf"]

#: The constants of the widely used MATLAB implementation (and of the paper's
#: tables): sigmoid gain, slope and offset for edge strength (g) and orientation (a).
QABF_CONSTANTS = {
    "gamma_g": 0.9994,
    "kappa_g": -15.0,
    "sigma_g": 0.5,
    "gamma_a": 0.9879,
    "kappa_a": -22.0,
    "sigma_a": 0.8,
}

#: Score of a perfectly preserved edge with these constants (about 0.9748, not 1:
#: the Gammas are the reciprocals of the sigmoids' values at G = A = 1).
QABF_MAX = float(
    QABF_CONSTANTS["gamma_g"]
    / (1.0 + np.exp(QABF_CONSTANTS["kappa_g"] * (1.0 - QABF_CONSTANTS["sigma_g"])))
    * QABF_CONSTANTS["gamma_a"]
    / (1.0 + np.exp(QABF_CONSTANTS["kappa_a"] * (1.0 - QABF_CONSTANTS["sigma_a"])))
)

#: A horizontal Sobel response this small (in units of the [0, 1] data range)
#: counts as zero, so float rounding does not flip the orientation of horizontal
#: edges between +pi/2 and -pi/2; the smallest real response of 16-bit data is
#: 1/65535, far above it.
_ZERO_GRADIENT = 1e-6

#: How the Sobel filters see beyond the image: ``"replicate"`` (the default: the
#: frame outline adds no edges) or ``"zero"`` (zero padding, as ``conv2`` and
#: ``filter2`` with ``'same'`` in the MATLAB code most papers score with).
QABF_BORDERS = ("replicate", "zero")
_BORDER_TYPES = {"replicate": cv2.BORDER_REPLICATE, "zero": cv2.BORDER_CONSTANT}


def _sobel(
    image: NDArray[np.float64], border: int = cv2.BORDER_REPLICATE
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Edge strength and orientation ``atan(gy / gx)`` (``pi/2`` where ``gx == 0``).

    ``border`` is an OpenCV border type (``_BORDER_TYPES``); replicated
    borders add no artificial edges at the frame outline.
    """
    gx = cv2.Sobel(image, cv2.CV_64F, 1, 0, ksize=3, borderType=border)
    gy = cv2.Sobel(image, cv2.CV_64F, 0, 1, ksize=3, borderType=border)
    strength = np.hypot(gx, gy)
    flat = np.abs(gx) <= _ZERO_GRADIENT
    angle = np.arctan(gy / np.where(flat, 1.0, gx))
    angle[flat] = np.pi / 2
    return strength, angle


def _preservation(
    g_s: NDArray[np.float64],
    a_s: NDArray[np.float64],
    g_f: NDArray[np.float64],
    a_f: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Per-pixel edge preservation Q^{SF} = Q_g * Q_a of one source."""
    c = QABF_CONSTANTS
    high = np.maximum(g_s, g_f)
    # Relative strength: the weaker over the stronger; 0/0 (no edge in either) is 1.
    strength = np.divide(np.minimum(g_s, g_f), high, out=np.ones_like(high), where=high > 0)
    orientation = 1.0 - np.abs(a_s - a_f) / (np.pi / 2)
    q_g = c["gamma_g"] / (1.0 + np.exp(c["kappa_g"] * (strength - c["sigma_g"])))
    q_a = c["gamma_a"] / (1.0 + np.exp(c["kappa_a"] * (orientation - c["sigma_a"])))
    return q_g * q_a


def qabf(
    fused: ArrayLike,
    sources: ArrayLike | Sequence[ArrayLike],
    *,
    channel_axis: int | None = None,
    border: str = "replicate",
) -> float:
    """Edge-information transfer Q^AB/F of Xydeas and Petrovic.

    How well the edges of the sources survive in the fused image: at every pixel
    the Sobel edge strength and orientation of each source are compared with the
    fused image's, mapped through two sigmoids, and averaged with the source's
    edge strength as weight.

    Parameters
    ----------
    fused : (M, N[, C]) array_like
        Fused image, any dtype (integers are scaled to [0, 1] by their
        sensor's range, see :func:`~allfocus.metrics._inputs.sensor_scale`).
    sources : sequence of (M, N[, C]) array_like or (S, M, N[, C]) array_like
        The images that were fused, each the shape of ``fused``; any number.
    channel_axis : int or None
        Axis of the colour channels of ``fused`` and of each source (within one
        frame for a stacked array); colour is reduced to Rec. 601 luma.
    border : {"replicate", "zero"}
        What the Sobel filters see beyond the image. ``"replicate"`` (default)
        adds no edges at the frame outline. ``"zero"`` pads with zeros as the
        MATLAB code most papers score with (``conv2`` or ``filter2`` with
        ``'same'``), which counts the outline as an edge that every fusion
        preserves: about 0.01 higher on the Lytro pairs. Use it only to set
        scores beside numbers published with that code (``docs/metrics.md``).

    Returns
    -------
    float
        Q^AB/F in [0, 0.9748]: 0 when no edge survives, at most
        ``QABF_MAX`` (about 0.9748, see Notes) when every edge survives intact.
        ``nan`` (with a ``RuntimeWarning``) when no source has any edge.

    Raises
    ------
    InputError
        If shapes differ or an image has the wrong number of dimensions.
    ConfigError
        If ``border`` is not one of :data:`QABF_BORDERS`.

    See Also
    --------
    qcb, qy : other fusion metrics with sources as reference.

    Notes
    -----
    For source ``S`` with Sobel strength ``g_S`` and orientation
    ``alpha_S = atan(gy / gx)`` (``pi/2`` where ``gx = 0``)::

        G_SF = min(g_S, g_F) / max(g_S, g_F)          (1 where both are 0)
        A_SF = 1 - |alpha_S - alpha_F| / (pi / 2)
        Q_SF = Gamma_g / (1 + exp(kappa_g (G_SF - sigma_g)))
             * Gamma_a / (1 + exp(kappa_a (A_SF - sigma_a)))
        Q^AB/F = sum_S sum_px Q_SF g_S / sum_S sum_px g_S      (weights w = g**L, L = 1)

    with ``Gamma_g = 0.9994, kappa_g = -15, sigma_g = 0.5, Gamma_a = 0.9879,
    kappa_a = -22, sigma_a = 0.8`` as in the widely used MATLAB code. With these
    constants a perfectly preserved edge scores
    ``0.9994 / (1 + e**-7.5) * 0.9879 / (1 + e**-4.4) = 0.9748``, not 1 (the
    Gammas are the reciprocals of the normalising factors), so that is the
    metric's maximum. The orientation term follows the MATLAB form, which treats
    edges at +90 and -90 degrees as opposite. Unlike the MATLAB code (``conv2``
    with zero padding) the image border is replicated by default, so the frame
    outline is not counted as a preserved edge; on the Lytro set zero padding
    (``border="zero"``) raises the score by about 0.01 (see ``docs/metrics.md``).

    References
    ----------
    .. [1] C. S. Xydeas and V. Petrovic, "Objective image fusion performance
       measure", Electronics Letters 36(4), 308-309, 2000.
       :DOI:`10.1049/el:20000267`

    Examples
    --------
    >>> import numpy as np
    >>> from allfocus.metrics import qabf
    >>> rng = np.random.default_rng(0)
    >>> a = rng.random((32, 32))
    >>> round(qabf(a, [a, a]), 4)
    0.9748
    """
    if border not in QABF_BORDERS:
        raise ConfigError(f"border must be one of {', '.join(QABF_BORDERS)}; got {border!r}")
    pad = _BORDER_TYPES[border]
    fused_luma, lumas = fused_and_sources(fused, sources, channel_axis=channel_axis)
    g_f, a_f = _sobel(fused_luma, pad)
    numerator = 0.0
    denominator = 0.0
    for luma in lumas:
        g_s, a_s = _sobel(luma, pad)
        numerator += float(np.sum(_preservation(g_s, a_s, g_f, a_f) * g_s))
        denominator += float(np.sum(g_s))
    if denominator == 0.0:
        warnings.warn(
            "qabf is undefined when no source has any edge (all sources are flat); returning nan",
            RuntimeWarning,
            stacklevel=2,
        )
        return float("nan")
    return numerator / denominator
