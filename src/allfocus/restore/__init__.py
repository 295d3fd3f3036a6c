"""Single-image restoration: sharpening, contrast, defocus maps and deconvolution.

Every sharpening method has the signature ``method(image, *, channel_axis=None,
strength=1.0, **params) -> ndarray`` and returns float32 in [0, 1]. They work
on luma (the Y of YCrCb) and put the colour back unchanged, so hues never
shift (the defocus method also restores colour detail, see
:func:`deconvolve_by_map`). Call one by name with :func:`sharpen`; list them
with :func:`list_methods`.

The default, ``"defocus"``, estimates how blurred each pixel is
(:func:`estimate_defocus_map`) and undoes that blur region by region
(:func:`deconvolve_by_map`). The others are the classical operators of the
project's seed report, kept for comparison (they do not remove defocus; see
docs/sharpen.md for measurements).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from allfocus._core.registry import Registry
from allfocus._core.validate import spanning_sensor_range

SHARPEN_METHODS: Registry = Registry("sharpen method")


@dataclass
class SharpenResult:
    """What :func:`sharpen` returns.

    Attributes
    ----------
    image : (M, N[, C]) ndarray of float32
        The sharpened image in [0, 1], channel axis where the input had it.
    defocus_map : (M, N) ndarray of float32 or None
        The estimated blur radius (pixels) per pixel for ``method="defocus"``;
        ``None`` for the other methods, which do not estimate one.
    """

    image: NDArray[np.float32]
    defocus_map: NDArray[np.float32] | None


# Explicit imports fill the registry (no folder scanning).
from allfocus.restore import contrast, defocus, learned, sharpen_ops  # noqa: E402, F401
from allfocus.restore.deconv import (  # noqa: E402
    blur_levels,
    deconvolve_by_map,
    wiener_deconvolve,
)
from allfocus.restore.defocus import defocus_sharpen  # noqa: E402
from allfocus.restore.defocus_map import estimate_defocus_map  # noqa: E402
from allfocus.restore.noise import estimate_noise  # noqa: E402
from allfocus.restore.psf import disc_psf, gaussian_psf  # noqa: E402

#: The default method; chosen from measurements in docs/benchmarks.md.
DEFAULT_METHOD = "defocus"


def list_methods() -> list[str]:
    """Names of the registered sharpening methods."""
    return SHARPEN_METHODS.names()


def sharpen(
    image: NDArray,
    *,
    method: str = DEFAULT_METHOD,
    channel_axis: int | None = None,
    strength: float = 1.0,
    **params: Any,
) -> SharpenResult:
    """Sharpen one photo, by default by removing its (varying) defocus blur.

    Parameters
    ----------
    image : (M, N[, C]) ndarray
        The photo, any dtype (integers are scaled to [0, 1] by their type's
        range, data of fewer bits than the type, such as 12-bit camera data in
        16-bit files, sharpened as if it spanned [0, 1] and given back in the
        type's scale; floats must lie in [0, 1]).
    method : str
        Registered method name; see :func:`list_methods`.
    channel_axis : int or None
        Axis of the colour channels in ``image``; ``None`` for grey.
    strength : float
        0 returns the input, 1 the method's full effect; values in between
        blend linearly and values above 1 extrapolate.
    **params
        Method-specific keyword options (see each method's docstring, e.g.
        :func:`allfocus.restore.defocus.defocus`).

    Returns
    -------
    SharpenResult
        The image, and the defocus map when ``method="defocus"``.

    Raises
    ------
    InputError
        On an unknown method (the message lists the valid ones) or bad input.

    Examples
    --------
    >>> from allfocus.synth import synthetic_stack
    >>> frame = synthetic_stack((64, 64), 3, rng=0).frames[1]
    >>> result = sharpen(frame, channel_axis=-1)
    >>> result.image.shape, result.defocus_map.shape
    ((64, 64, 3), (64, 64))
    >>> sharpen(frame, method="unsharp", channel_axis=-1).defocus_map is None
    True
    """
    func = SHARPEN_METHODS.get(method)
    # 12-bit camera data in 16-bit files is sharpened as if it spanned [0, 1]
    # (the deconvolution's regularisation is made for that: 0.6 dB lost before)
    # and given back in the type's scale.
    spanning, back = spanning_sensor_range(image)
    radius = None
    if method == "defocus":
        out, radius = defocus_sharpen(
            spanning, channel_axis=channel_axis, strength=strength, **params
        )
    else:
        out = func(spanning, channel_axis=channel_axis, strength=strength, **params)
    if back != 1.0:
        out = out * np.float32(back)
    return SharpenResult(image=out, defocus_map=radius)


__all__ = [
    "DEFAULT_METHOD",
    "SHARPEN_METHODS",
    "SharpenResult",
    "blur_levels",
    "deconvolve_by_map",
    "disc_psf",
    "estimate_defocus_map",
    "estimate_noise",
    "gaussian_psf",
    "list_methods",
    "sharpen",
    "wiener_deconvolve",
]
