"""Q_CB: human-perception based fusion metric (Chen & Blum 2009)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

from allfocus._core.errors import InputError
from allfocus.metrics._inputs import fused_and_sources

__all__ = ["QCB_CSFS", "qcb"]

#: Contrast sensitivity functions of frequency ``r`` in cycles per degree.
QCB_CSFS = ("dog", "mannos-sakrison")

# Constants of the widely used MATLAB code (Z. Liu, metricChenBlum.m, also in VIFB).
_DOG_F0, _DOG_F1, _DOG_A = 15.3870, 1.3456, 0.7622  # DoG CSF
_DEGREES_PER_FRAME = 15.0  # the frame spans 15 degrees: k cycles per frame = k / 15 cpd
_SIGMA_CENTRE, _SIGMA_SURROUND, _RADIUS = 2.0, 4.0, 15  # local-contrast Gaussians, 31x31
_K, _H, _P, _Q, _Z = 1.0, 1.0, 3.0, 2.0, 1e-4  # contrast masking C' = k C^p / (h C^q + Z)


def _csf(shape: tuple[int, int], csf: str) -> NDArray[np.float64]:
    """CSF sampled on the unshifted FFT grid of an image of ``shape``."""
    rows, cols = shape
    v = np.fft.fftfreq(rows) * rows / _DEGREES_PER_FRAME
    u = np.fft.fftfreq(cols) * cols / _DEGREES_PER_FRAME
    r = np.hypot(u[None, :], v[:, None])
    if csf == "dog":
        return np.exp(-((r / _DOG_F0) ** 2)) - _DOG_A * np.exp(-((r / _DOG_F1) ** 2))
    return 2.6 * (0.0192 + 0.114 * r) * np.exp(-((0.114 * r) ** 1.1))


def _gaussian(sigma: float) -> NDArray[np.float64]:
    """31x31 Gaussian, scaled by 1 / (2 pi sigma^2) and not renormalised (as in MATLAB)."""
    x = np.arange(-_RADIUS, _RADIUS + 1, dtype=np.float64)
    g = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma**2))
    return g / (2 * np.pi * sigma**2)


def _masked_contrast(image: NDArray[np.float64], csf: NDArray[np.float64]) -> NDArray[np.float64]:
    """CSF-filtered local band-pass contrast after the masking nonlinearity."""
    low, high = image.min(), image.max()
    stretched = (image - low) / (high - low) if high > low else np.zeros_like(image)
    filtered = np.real(np.fft.ifft2(np.fft.fft2(stretched) * csf))
    centre = cv2.filter2D(
        filtered, cv2.CV_64F, _gaussian(_SIGMA_CENTRE), borderType=cv2.BORDER_CONSTANT
    )
    surround = cv2.filter2D(
        filtered, cv2.CV_64F, _gaussian(_SIGMA_SURROUND), borderType=cv2.BORDER_CONSTANT
    )
    contrast = np.abs(
        np.divide(centre, surround, out=np.ones_like(centre), where=surround != 0) - 1.0
    )
    return _K * contrast**_P / (_H * contrast**_Q + _Z)


def qcb(
    fused: ArrayLike,
    sources: ArrayLike | Sequence[ArrayLike],
    *,
    csf: str = "dog",
    channel_axis: int | None = None,
) -> float:
    """Chen and Blum's perceptual fusion metric Q_CB.

    Each image is filtered by a contrast sensitivity function (CSF), its local
    band-pass contrast measured with a difference of Gaussians and passed
    through a masking nonlinearity; Q_CB is the mean over pixels of how much of
    each source's contrast the fused image keeps, weighted by the sources'
    contrast saliency.

    Parameters
    ----------
    fused : (M, N[, C]) array_like
        Fused image, any dtype (integers are scaled to [0, 1] by their
        sensor's range, see :func:`~allfocus.metrics._inputs.sensor_scale`).
    sources : sequence of (M, N[, C]) array_like or (S, M, N[, C]) array_like
        The images that were fused, each the shape of ``fused``; any number.
    csf : {"dog", "mannos-sakrison"}
        Contrast sensitivity function. ``"dog"`` (difference of Gaussians,
        ``f0 = 15.3870, f1 = 1.3456, a = 0.7622``) is what the widely used
        MATLAB implementation applies; ``"mannos-sakrison"`` is
        ``2.6 (0.0192 + 0.114 r) exp(-(0.114 r)**1.1)``.
    channel_axis : int or None
        Axis of the colour channels of ``fused`` and of each source (within one
        frame for a stacked array); colour is reduced to Rec. 601 luma.

    Returns
    -------
    float
        Q_CB in [0, 1]; 1 when the fused image keeps every source's contrast.

    Raises
    ------
    InputError
        If shapes differ, an image has the wrong number of dimensions or ``csf``
        is unknown.

    See Also
    --------
    qabf : edge-based fusion metric.

    Notes
    -----
    Following Z. Liu's MATLAB code (``metricChenBlum.m``, copied into VIFB and
    MFIFB): each image is stretched to its full range, filtered in the frequency
    domain with the CSF of ``r = sqrt(u**2 + v**2)`` cycles per degree (the frame
    assumed to span 15 degrees, so ``k`` cycles per frame are ``k / 15`` cpd),
    and its contrast is ``C = |G_2 * I / G_4 * I - 1|`` with unnormalised 31x31
    Gaussians of sigma 2 and 4 (zero padding). The masked contrast is
    ``C' = C**3 / (C**2 + 1e-4)``. Per pixel::

        Q_SF = min(C'_S, C'_F) / max(C'_S, C'_F)          (1 where both are 0)
        lambda_S = C'_S**2 / sum_j C'_j**2                 (1/S where all are 0)
        Q_CB = mean over pixels of sum_S lambda_S Q_SF

    The MATLAB code rounds the stretched image to 256 levels; here it stays in
    floating point (the difference is below 1e-3 on 8-bit images).

    References
    ----------
    .. [1] Y. Chen and R. S. Blum, "A new automated quality assessment algorithm
       for image fusion", Image and Vision Computing 27(10), 1421-1432, 2009.
       :DOI:`10.1016/j.imavis.2007.12.002`

    Examples
    --------
    >>> import numpy as np
    >>> from allfocus.metrics import qcb
    >>> rng = np.random.default_rng(0)
    >>> a = rng.random((32, 32))
    >>> qcb(a, [a, a])
    1.0
    """
    if csf not in QCB_CSFS:
        raise InputError(f"unknown csf {csf!r}; choose one of: {', '.join(QCB_CSFS)}")
    fused_luma, lumas = fused_and_sources(fused, sources, channel_axis=channel_axis)
    sensitivity = _csf(fused_luma.shape, csf)
    c_f = _masked_contrast(fused_luma, sensitivity)
    contrasts = np.asarray([_masked_contrast(luma, sensitivity) for luma in lumas])
    high = np.maximum(contrasts, c_f)
    kept = np.divide(np.minimum(contrasts, c_f), high, out=np.ones_like(high), where=high > 0)
    saliency = contrasts**2
    total = saliency.sum(axis=0)
    weights = np.divide(
        saliency, total, out=np.full_like(saliency, 1.0 / len(lumas)), where=total > 0
    )
    return float(np.mean(np.sum(weights * kept, axis=0)))
