"""Structural metrics: Yang's Q_Y for fusion, and PSNR / SSIM against a reference."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from allfocus._core.errors import InputError
from allfocus.metrics._inputs import check_image, fused_and_sources, sensor_scale

__all__ = ["psnr", "qy", "ssim"]

#: Q_Y window: 7x7 Gaussian, sigma 1.5 (MATLAB ``fspecial('gaussian', 7, 1.5)``).
_QY_SIZE = 7
_QY_SIGMA = 1.5
#: SSIM stabilising constants (K1 L)^2 and (K2 L)^2 with K1 = 0.01, K2 = 0.03, L = 1.
_QY_C1 = 0.01**2
_QY_C2 = 0.03**2
#: Source pairs whose local SSIM reaches this are "similar" (Yang et al.).
_QY_THRESHOLD = 0.75


def _local_stats(
    x: NDArray[np.float64], y: NDArray[np.float64], kernel: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Local SSIM map and the two local variances, over windows inside the image."""
    r = _QY_SIZE // 2

    def blur(a: NDArray[np.float64]) -> NDArray[np.float64]:
        return cv2.filter2D(a, cv2.CV_64F, kernel, borderType=cv2.BORDER_REFLECT)[r:-r, r:-r]

    mu_x, mu_y = blur(x), blur(y)
    var_x = np.maximum(blur(x * x) - mu_x**2, 0.0)
    var_y = np.maximum(blur(y * y) - mu_y**2, 0.0)
    cov = blur(x * y) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + _QY_C1) * (2 * cov + _QY_C2)) / (
        (mu_x**2 + mu_y**2 + _QY_C1) * (var_x + var_y + _QY_C2)
    )
    return ssim_map, var_x, var_y


def _qy_kernel() -> NDArray[np.float64]:
    g = cv2.getGaussianKernel(_QY_SIZE, _QY_SIGMA, cv2.CV_64F)
    return g @ g.T


def qy(
    fused: ArrayLike,
    sources: ArrayLike | Sequence[ArrayLike],
    *,
    channel_axis: int | None = None,
) -> float:
    """Yang's SSIM-based fusion metric Q_Y.

    In 7x7 windows where the sources resemble each other (local SSIM >= 0.75)
    the fused image should resemble both, weighted by their local variance;
    elsewhere it should resemble the source it resembles most.

    Parameters
    ----------
    fused : (M, N[, C]) array_like
        Fused image, at least 7x7, any dtype (integers are scaled to [0, 1] by their
        sensor's range, see :func:`~allfocus.metrics._inputs.sensor_scale`).
    sources : sequence of (M, N[, C]) array_like or (S, M, N[, C]) array_like
        The images that were fused, each the shape of ``fused``; any number.
    channel_axis : int or None
        Axis of the colour channels of ``fused`` and of each source (within one
        frame for a stacked array); colour is reduced to Rec. 601 luma.

    Returns
    -------
    float
        Q_Y, at most 1 (fused equal to every source); close to 1 for good fusions.

    Raises
    ------
    InputError
        If shapes differ, an image has the wrong number of dimensions or is
        smaller than 7x7.

    See Also
    --------
    ssim : SSIM against a ground-truth reference.

    Notes
    -----
    With ``SSIM(X, Y | w)`` the local SSIM in window ``w`` (7x7 Gaussian, sigma
    1.5, windows inside the image only) and ``s(X | w)`` the local variance::

        lambda(w) = s(A | w) / (s(A | w) + s(B | w))          (1/2 if both are 0)
        Q_Y(w) = lambda(w) SSIM(A, F | w) + (1 - lambda(w)) SSIM(B, F | w)
                                              if SSIM(A, B | w) >= 0.75
        Q_Y(w) = max(SSIM(A, F | w), SSIM(B, F | w))          otherwise

    and Q_Y is the mean over windows. For S sources the sources count as similar
    in a window when every pair has SSIM >= 0.75; then the weights are
    ``lambda_i = s(S_i | w) / sum_j s(S_j | w)``, else the maximum over sources is
    taken. Two sources give Yang's formula; one source gives the mean SSIM.

    The SSIM constants are Wang et al.'s ``C1 = (0.01 L)**2`` and
    ``C2 = (0.03 L)**2`` with ``L = 1``. Z. Liu's widely copied MATLAB code uses
    ``C1 = C2 = 2e-16`` on 0-255 data instead: SSIM without stabilisation, which
    is 0 / 0 in flat windows and swings with rounding noise there. Computed
    stably, those near-zero constants score 0.005 to 0.03 lower on the Lytro set
    (``docs/metrics.md``), so compare Q_Y values only within one implementation.

    References
    ----------
    .. [1] C. Yang, J.-Q. Zhang, X.-R. Wang and X. Liu, "A novel similarity based
       quality metric for image fusion", Information Fusion 9(2), 156-160, 2008.
       :DOI:`10.1016/j.inffus.2006.09.001`

    Examples
    --------
    >>> import numpy as np
    >>> from allfocus.metrics import qy
    >>> rng = np.random.default_rng(0)
    >>> a = rng.random((32, 32))
    >>> round(qy(a, [a, a]), 6)
    1.0
    """
    fused_luma, lumas = fused_and_sources(fused, sources, channel_axis=channel_axis)
    if min(fused_luma.shape) < _QY_SIZE:
        raise InputError(
            f"qy needs images of at least {_QY_SIZE}x{_QY_SIZE} pixels (its window); "
            f"got {fused_luma.shape[0]}x{fused_luma.shape[1]}"
        )
    kernel = _qy_kernel()
    to_fused = []
    variances = []
    for luma in lumas:
        ssim_map, var_s, _ = _local_stats(luma, fused_luma, kernel)
        to_fused.append(ssim_map)
        variances.append(var_s)
    similar = np.ones_like(to_fused[0], dtype=bool)
    for i, j in combinations(range(len(lumas)), 2):
        similar &= _local_stats(lumas[i], lumas[j], kernel)[0] >= _QY_THRESHOLD
    total = np.sum(variances, axis=0)
    weights = np.divide(
        variances,
        total,
        out=np.full((len(lumas), *total.shape), 1.0 / len(lumas)),
        where=total > 0,
    )
    weighted = np.sum(weights * np.asarray(to_fused), axis=0)
    best = np.max(to_fused, axis=0)
    return float(np.mean(np.where(similar, weighted, best)))


def _image_pair(
    image: ArrayLike, reference: ArrayLike, channel_axis: int | None
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    im = np.asarray(image)
    ref = np.asarray(reference)
    if im.shape != ref.shape:
        raise InputError(
            f"image has shape {im.shape} but reference has shape {ref.shape}; they must match"
        )
    scale = sensor_scale(im, ref)
    return (
        check_image(im, channel_axis=channel_axis, name="image", scale=scale),
        check_image(ref, channel_axis=channel_axis, name="reference", scale=scale),
    )


def psnr(image: ArrayLike, reference: ArrayLike, *, channel_axis: int | None = None) -> float:
    """Peak signal-to-noise ratio of ``image`` against ``reference``, in dB.

    A thin wrapper of :func:`skimage.metrics.peak_signal_noise_ratio` with
    ``data_range=1`` after the allfocus dtype rule (integers scaled to [0, 1] by the
    sensor's range of the two images).

    Parameters
    ----------
    image : (M, N[, C]) array_like
        Image to assess, any dtype.
    reference : (M, N[, C]) array_like
        Ground truth, same shape.
    channel_axis : int or None
        Axis of the colour channels; the error is averaged over all channels.

    Returns
    -------
    float
        ``10 log10(1 / MSE)``; ``inf`` when the images are equal.

    Raises
    ------
    InputError
        If the shapes differ or do not fit ``channel_axis``.

    Examples
    --------
    >>> import numpy as np
    >>> from allfocus.metrics import psnr
    >>> ref = np.zeros((8, 8))
    >>> round(psnr(ref + 0.1, ref), 3)
    20.0
    >>> psnr(ref, ref)
    inf
    """
    im, ref = _image_pair(image, reference, channel_axis)
    with np.errstate(divide="ignore"):
        value = peak_signal_noise_ratio(
            ref.astype(np.float64), im.astype(np.float64), data_range=1.0
        )
    return float(value)


def ssim(image: ArrayLike, reference: ArrayLike, *, channel_axis: int | None = None) -> float:
    """Mean structural similarity of ``image`` and ``reference``.

    A thin wrapper of :func:`skimage.metrics.structural_similarity` with
    ``data_range=1`` (7x7 uniform window, K1 = 0.01, K2 = 0.03), colour handled
    per channel and averaged.

    Parameters
    ----------
    image : (M, N[, C]) array_like
        Image to assess, any dtype, at least 7x7.
    reference : (M, N[, C]) array_like
        Ground truth, same shape.
    channel_axis : int or None
        Axis of the colour channels.

    Returns
    -------
    float
        Mean SSIM in [-1, 1]; 1 when the images are equal.

    Raises
    ------
    InputError
        If the shapes differ, do not fit ``channel_axis`` or are below 7x7.

    Examples
    --------
    >>> import numpy as np
    >>> from allfocus.metrics import ssim
    >>> ref = np.random.default_rng(0).random((16, 16))
    >>> ssim(ref, ref)
    1.0
    """
    im, ref = _image_pair(image, reference, channel_axis)
    if min(im.shape[:2]) < 7:
        raise InputError(f"ssim needs images of at least 7x7 pixels; got shape {im.shape}")
    value = structural_similarity(
        ref.astype(np.float64),
        im.astype(np.float64),
        data_range=1.0,
        channel_axis=None if channel_axis is None else -1,
    )
    return float(value)
