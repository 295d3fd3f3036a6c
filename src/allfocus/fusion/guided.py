"""Guided-filter fusion (GFF) of Li, Kang and Hu (2013).

Each frame is split into a base layer (31 x 31 mean) and a detail layer;
saliency is the Gaussian-smoothed absolute Laplacian; the binary map of the
most salient frame is refined by guided filters steered by each frame, a
wide smooth one for the base layers and a narrow sharp one for the details;
the weighted layers are summed.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from allfocus._core.types import FusionResult
from allfocus._core.validate import FLOAT
from allfocus.filters.guided import _guided_grey, box_mean
from allfocus.fusion import FUSION_METHODS
from allfocus.fusion._common import (
    argmax_frames,
    check_int,
    check_positive,
    contrast_confidence,
    finish,
    prepare,
    subframe_depth,
)

_BORDER = cv2.BORDER_REFLECT


def _saliency(luma: NDArray[np.float32], radius: int, sigma: float) -> NDArray[np.float32]:
    lap = np.abs(cv2.Laplacian(luma, cv2.CV_32F, ksize=1, borderType=_BORDER))
    size = 2 * radius + 1
    return cv2.GaussianBlur(lap, (size, size), sigma, borderType=_BORDER)


@FUSION_METHODS.register("guided", help="guided-filter fusion (Li, Kang and Hu 2013)")
def fuse_guided(
    stack: NDArray,
    *,
    channel_axis: int | None = None,
    base_radius: int = 15,
    saliency_radius: int = 5,
    saliency_sigma: float = 5.0,
    base_filter_radius: int = 45,
    base_filter_eps: float = 0.3,
    detail_filter_radius: int = 7,
    detail_filter_eps: float = 1e-6,
) -> FusionResult:
    """All-in-focus image by guided-filter weighted two-scale fusion.

    Parameters
    ----------
    stack : (S, M, N[, C]) ndarray
        Focus stack, frames on axis 0 (any order), any dtype.
    channel_axis : int or None
        Colour axis of ``stack``; ``None`` for grey. Saliency and the guides
        are luma; the weights apply to all channels.
    base_radius : int
        Radius of the mean filter splitting base and detail layers (15 gives
        the paper's 31 x 31).
    saliency_radius, saliency_sigma : int, float
        Radius and standard deviation of the Gaussian smoothing the absolute
        Laplacian into the saliency map.
    base_filter_radius, base_filter_eps : int, float
        Guided filter refining the base-layer weights (paper: 45, 0.3).
    detail_filter_radius, detail_filter_eps : int, float
        Guided filter refining the detail-layer weights (paper: 7, 1e-6).

    Returns
    -------
    FusionResult
        ``image`` in the input's channel layout; ``depth`` the frame of
        maximum saliency with sub-frame (parabola) interpolation;
        ``confidence`` the normalised contrast of saliency over frames.

    Raises
    ------
    InputError
        For a malformed stack or out-of-range options.

    See Also
    --------
    allfocus.filters.guided_filter : the edge-preserving filter used.
    allfocus.fusion.depthmap.fuse_depthmap : the default method.

    Notes
    -----
    Weights are clipped at zero before normalising over frames (the guided
    filter can undershoot slightly), so the fused value stays a convex
    combination of the frames.

    References
    ----------
    .. [1] S. Li, X. Kang and J. Hu, "Image Fusion With Guided Filtering",
       IEEE Transactions on Image Processing 22(7), pp. 2864-2875, 2013.
       :DOI:`10.1109/TIP.2013.2244222`

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.ndimage import gaussian_filter
    >>> sharp = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    >>> left, right = sharp.copy(), sharp.copy()
    >>> left[:, 32:] = gaussian_filter(sharp, 2)[:, 32:]
    >>> right[:, :32] = gaussian_filter(sharp, 2)[:, :32]
    >>> res = fuse_guided(np.stack([left, right]))
    >>> bool(np.abs(res.image - sharp).mean() < 0.5 * np.abs(left - sharp).mean())
    True
    """
    base_radius = check_int("base_radius", base_radius, minimum=1)
    saliency_radius = check_int("saliency_radius", saliency_radius, minimum=0)
    saliency_sigma = check_positive("saliency_sigma", saliency_sigma)
    base_filter_radius = check_int("base_filter_radius", base_filter_radius, minimum=1)
    detail_filter_radius = check_int("detail_filter_radius", detail_filter_radius, minimum=1)
    base_filter_eps = check_positive("base_filter_eps", base_filter_eps)
    detail_filter_eps = check_positive("detail_filter_eps", detail_filter_eps)
    frames, luma = prepare(stack, channel_axis)
    num = frames.shape[0]
    color = frames.ndim == 4

    saliency = np.empty(luma.shape, dtype=FLOAT)
    for k in range(num):
        saliency[k] = _saliency(luma[k], saliency_radius, saliency_sigma)
    choice = argmax_frames(saliency)
    depth = subframe_depth(saliency, choice)
    confidence = contrast_confidence(saliency)
    del saliency

    base_sum = np.zeros(frames.shape[1:], dtype=FLOAT)
    detail_sum = np.zeros(frames.shape[1:], dtype=FLOAT)
    base_total = np.zeros(choice.shape, dtype=FLOAT)
    detail_total = np.zeros(choice.shape, dtype=FLOAT)
    for k in range(num):
        pick = (choice == k).astype(FLOAT)
        w_base = np.maximum(_guided_grey(pick, luma[k], base_filter_radius, base_filter_eps), 0)
        w_detail = np.maximum(
            _guided_grey(pick, luma[k], detail_filter_radius, detail_filter_eps), 0
        )
        base = box_mean(frames[k], base_radius)
        if base.ndim < frames[k].ndim:
            base = base[..., None]
        detail = frames[k] - base
        if color:
            base_sum += base * w_base[..., None]
            detail_sum += detail * w_detail[..., None]
        else:
            base_sum += base * w_base
            detail_sum += detail * w_detail
        base_total += w_base
        detail_total += w_detail
    tiny = FLOAT(1e-6)
    base_total = np.maximum(base_total, tiny)
    detail_total = np.maximum(detail_total, tiny)
    if color:
        base_total, detail_total = base_total[..., None], detail_total[..., None]
    image = base_sum / base_total + detail_sum / detail_total
    return finish(image, depth, confidence, channel_axis=channel_axis, stack_ndim=frames.ndim)


def halo(
    *,
    base_radius: int = 15,
    saliency_radius: int = 5,
    saliency_sigma: float = 5.0,
    base_filter_radius: int = 45,
    base_filter_eps: float = 0.3,
    detail_filter_radius: int = 7,
    detail_filter_eps: float = 1e-6,
) -> int:
    """Pixels :func:`fuse_guided` looks beyond a tile with these options.

    The saliency (Laplacian and Gaussian) feeds a guided filter (two chained
    box filters); the base layer's mean filter runs alongside.

    Examples
    --------
    >>> halo()
    96
    """
    del saliency_sigma, base_filter_eps, detail_filter_eps  # no effect on the reach
    reach = 1 + int(saliency_radius) + 2 * max(int(base_filter_radius), int(detail_filter_radius))
    return max(reach, int(base_radius))
