"""No-reference sharpness metrics of one image: spatial frequency, average gradient."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from allfocus.metrics._inputs import as_luma

__all__ = ["average_gradient", "spatial_frequency"]


def spatial_frequency(image: ArrayLike, *, channel_axis: int | None = None) -> float:
    """Spatial frequency (Eskicioglu & Fisher): RMS of neighbour differences.

    Parameters
    ----------
    image : (M, N[, C]) array_like
        Any dtype (integers are scaled to [0, 1] by their sensor's range).
    channel_axis : int or None
        Axis of the colour channels; colour is reduced to Rec. 601 luma.

    Returns
    -------
    float
        ``sqrt(RF**2 + CF**2)`` in units of the [0, 1] range (multiply by 255 for
        the 8-bit values of most papers); 0 for a constant image.

    Raises
    ------
    InputError
        If the image does not fit ``channel_axis`` or is smaller than 2x2.

    See Also
    --------
    average_gradient

    Notes
    -----
    ``RF**2 = sum (I[i, j] - I[i, j-1])**2 / (M N)`` over horizontal neighbours
    and ``CF**2`` likewise over vertical ones; the division by ``M N`` (not by
    the number of differences) follows the original definition.

    References
    ----------
    .. [1] A. M. Eskicioglu and P. S. Fisher, "Image quality measures and their
       performance", IEEE Trans. Communications 43(12), 2959-2965, 1995.
       :DOI:`10.1109/26.477498`

    Examples
    --------
    >>> import numpy as np
    >>> from allfocus.metrics import spatial_frequency
    >>> stripes = np.tile([0.0, 1.0], (4, 2))          # 4x4, columns alternate
    >>> round(spatial_frequency(stripes), 4)            # sqrt(12 / 16)
    0.866
    """
    luma = as_luma(image, channel_axis=channel_axis, name="image")
    rows = np.sum(np.diff(luma, axis=1) ** 2)
    cols = np.sum(np.diff(luma, axis=0) ** 2)
    return float(np.sqrt((rows + cols) / luma.size))


def average_gradient(image: ArrayLike, *, channel_axis: int | None = None) -> float:
    """Average gradient: mean of ``sqrt((dx**2 + dy**2) / 2)``.

    Parameters
    ----------
    image : (M, N[, C]) array_like
        Any dtype (integers are scaled to [0, 1] by their sensor's range).
    channel_axis : int or None
        Axis of the colour channels; colour is reduced to Rec. 601 luma.

    Returns
    -------
    float
        Average gradient in units of the [0, 1] range per pixel (multiply by 255
        for the 8-bit values of most papers); 0 for a constant image.

    Raises
    ------
    InputError
        If the image does not fit ``channel_axis`` or is smaller than 2x2.

    See Also
    --------
    spatial_frequency

    Notes
    -----
    Derivatives as MATLAB's ``gradient`` (:func:`numpy.gradient`: central
    differences inside, one-sided at the border); the sum is divided by
    ``(M - 1)(N - 1)`` as in the code used by VIFB and MFIFB.

    References
    ----------
    .. [1] G. Cui, H. Feng, Z. Xu, Q. Li and Y. Chen, "Detail preserved fusion of
       visible and infrared images using regional saliency extraction and
       multi-scale image decomposition", Optics Communications 341, 199-209,
       2015. :DOI:`10.1016/j.optcom.2014.12.032`

    Examples
    --------
    >>> import numpy as np
    >>> from allfocus.metrics import average_gradient
    >>> ramp = np.tile(np.linspace(0, 1, 5), (5, 1))    # slope 0.25 per pixel
    >>> round(average_gradient(ramp), 4)                # 25 * 0.25 / sqrt(2) / 16
    0.2762
    """
    luma = as_luma(image, channel_axis=channel_axis, name="image")
    dy, dx = np.gradient(luma)
    total = np.sum(np.sqrt((dx**2 + dy**2) / 2.0))
    return float(total / ((luma.shape[0] - 1) * (luma.shape[1] - 1)))
