"""One call that computes the standard set of fusion metrics."""

from __future__ import annotations

from collections.abc import Sequence

from numpy.typing import ArrayLike

from allfocus.metrics._basic import average_gradient, spatial_frequency
from allfocus.metrics._information import nmi
from allfocus.metrics._inputs import as_luma, fused_and_sources
from allfocus.metrics._qabf import qabf
from allfocus.metrics._qcb import qcb
from allfocus.metrics._structural import psnr, qy, ssim

__all__ = ["evaluate"]


def evaluate(
    fused: ArrayLike,
    sources: ArrayLike | Sequence[ArrayLike] | None = None,
    *,
    reference: ArrayLike | None = None,
    channel_axis: int | None = None,
    qabf_border: str = "replicate",
) -> dict[str, float]:
    """Compute the usual fusion metrics of a fused image.

    Parameters
    ----------
    fused : (M, N[, C]) array_like
        Fused image, any dtype (integers are scaled to [0, 1] by their
        sensor's range, see :func:`~allfocus.metrics._inputs.sensor_scale`).
    sources : sequence of (M, N[, C]) array_like or (S, M, N[, C]) array_like, optional
        The images that were fused. Without them only the no-reference metrics
        (and PSNR / SSIM when ``reference`` is given) are computed.
    reference : (M, N[, C]) array_like, optional
        Ground-truth all-in-focus image (synthetic stacks), the shape of ``fused``.
    channel_axis : int or None
        Axis of the colour channels of ``fused``, of each source (within one
        frame for a stacked array) and of ``reference``.
    qabf_border : {"replicate", "zero"}
        ``border`` of :func:`qabf`: ``"zero"`` scores Q^AB/F as the MATLAB code
        most papers use, to set it beside a figure published with that code.

    Returns
    -------
    dict of str to float
        ``qabf`` (:func:`qabf`), ``nmi`` (:func:`nmi`), ``qy`` (:func:`qy`),
        ``qcb`` (:func:`qcb`) when sources are given; ``sf``
        (:func:`spatial_frequency`) and ``ag`` (:func:`average_gradient`) always;
        ``psnr`` and ``ssim`` when a reference is given. Keys appear in that order.

    Raises
    ------
    InputError
        If shapes differ or do not fit ``channel_axis``.

    Notes
    -----
    The source-based metrics and the no-reference metrics use the Rec. 601 luma
    of colour images, as the literature does; PSNR and SSIM compare all channels.

    Examples
    --------
    >>> import numpy as np
    >>> from allfocus.metrics import evaluate
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.random((2, 32, 32))
    >>> sorted(evaluate(a, [a, b], reference=a))
    ['ag', 'nmi', 'psnr', 'qabf', 'qcb', 'qy', 'sf', 'ssim']
    """
    results: dict[str, float] = {}
    if sources is not None:
        fused_luma, lumas = fused_and_sources(fused, sources, channel_axis=channel_axis)
        results["qabf"] = qabf(fused_luma, lumas, border=qabf_border)
        results["nmi"] = nmi(fused_luma, lumas)
        results["qy"] = qy(fused_luma, lumas)
        results["qcb"] = qcb(fused_luma, lumas)
    else:
        fused_luma = as_luma(fused, channel_axis=channel_axis, name="fused")
    results["sf"] = spatial_frequency(fused_luma)
    results["ag"] = average_gradient(fused_luma)
    if reference is not None:
        results["psnr"] = psnr(fused, reference, channel_axis=channel_axis)
        results["ssim"] = ssim(fused, reference, channel_axis=channel_axis)
    return results
