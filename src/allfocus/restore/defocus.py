"""The default sharpening method: estimate the defocus map, then deconvolve by it."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from allfocus._core.validate import FLOAT
from allfocus.restore import SHARPEN_METHODS
from allfocus.restore._luma import check_strength, finish_image, get_luma, prepare_image
from allfocus.restore.deconv import deconvolve_by_map
from allfocus.restore.defocus_map import disc_share, estimate_defocus_map_with_agreement
from allfocus.restore.noise import estimate_noise

#: Radius tolerance for ideal disc blur and for soft, real-lens blur, and the
#: disc-model agreements between which it moves from one to the other.
_TOLERANCE_DISC = 0.1
_TOLERANCE_SOFT = 0.35
#: Overshoot limits (ringing control of deconvolve_by_map) likewise.
_OVERSHOOT_DISC = 1.0
_OVERSHOOT_SOFT = 0.15


def defocus_sharpen(
    image: NDArray,
    *,
    channel_axis: int | None = None,
    strength: float = 1.0,
    cue: str = "combined",
    max_radius: float = 10.0,
    noise_sigma: float | None = None,
    regularization: float | None = None,
    radius_tolerance: float | None = None,
    overshoot: float | str | None = "auto",
    min_radius: float = 0.9,
    level_step: float = 0.5,
    chroma: bool = True,
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Remove spatially varying defocus blur; return the image and the map used.

    Parameters
    ----------
    image : (M, N[, C]) ndarray
        The photo, values in [0, 1] (integers are scaled).
    channel_axis : int or None
        Axis of the colour channels, ``None`` for grey.
    strength : float
        0 returns the input, 1 the deconvolved image, in between blends.
    cue : {"spectrum", "edges"}
        Blur cue of :func:`allfocus.restore.estimate_defocus_map`.
    max_radius : float
        Largest blur radius considered (pixels).
    noise_sigma : float or None
        Noise standard deviation; ``None`` estimates it once for both steps.
    radius_tolerance : float or None
        Relative uncertainty of the radii (see
        :func:`allfocus.restore.deconvolve_by_map`). ``None`` sets it from how
        well a disc PSF explains the photo (:func:`auto_tolerance`): 0.1 when
        the spectral and edge cues agree (ideal disc blur, where deblurring
        can be bold), up to 0.35 when they do not (real lenses, whose softer
        PSFs would ring under a sharp disc model).
    overshoot : float, None or "auto"
        Ringing control of :func:`allfocus.restore.deconvolve_by_map`;
        ``"auto"`` picks it like the tolerance (:func:`auto_overshoot`): 1.0
        for disc blur, down to 0.15 for soft real-lens blur.
    regularization, min_radius, level_step, chroma
        Passed to :func:`allfocus.restore.deconvolve_by_map`.

    Returns
    -------
    image : (M, N[, C]) ndarray of float32
        The sharpened image in [0, 1].
    defocus_map : (M, N) ndarray of float32
        Estimated blur radius per pixel.
    """
    strength = check_strength(strength)
    arr, color = prepare_image(image, channel_axis)
    if noise_sigma is None:
        noise_sigma = estimate_noise(get_luma(arr, color=color))
    color_axis = -1 if color else None
    radius, agreement = estimate_defocus_map_with_agreement(
        arr, channel_axis=color_axis, cue=cue, noise_sigma=noise_sigma, max_radius=max_radius
    )
    if radius_tolerance is None:
        radius_tolerance = auto_tolerance(agreement)
    if overshoot == "auto":
        overshoot = auto_overshoot(agreement)
    out = deconvolve_by_map(
        arr,
        radius,
        channel_axis=color_axis,
        regularization=regularization,
        noise_sigma=noise_sigma,
        chroma=chroma,
        min_radius=min_radius,
        level_step=level_step,
        radius_tolerance=radius_tolerance,
        overshoot=overshoot,
    )
    if strength != 1.0:
        out = np.clip(arr + FLOAT(strength) * (out - arr), 0.0, 1.0).astype(FLOAT)
    return finish_image(out, channel_axis), radius


def auto_tolerance(agreement: float) -> float:
    """Radius tolerance for a disc-model agreement in [0, 1] (see :func:`defocus_sharpen`).

    Examples
    --------
    >>> auto_tolerance(1.0), auto_tolerance(0.0)
    (0.1, 0.35)
    """
    share = disc_share(agreement)
    return round(_TOLERANCE_SOFT + share * (_TOLERANCE_DISC - _TOLERANCE_SOFT), 4)


def auto_overshoot(agreement: float) -> float:
    """Overshoot limit for a disc-model agreement in [0, 1] (see :func:`defocus_sharpen`).

    Examples
    --------
    >>> auto_overshoot(1.0), auto_overshoot(0.0)
    (1.0, 0.15)
    """
    share = disc_share(agreement)
    return round(_OVERSHOOT_SOFT + share * (_OVERSHOOT_DISC - _OVERSHOOT_SOFT), 4)


@SHARPEN_METHODS.register("defocus")
def defocus(
    image: NDArray,
    *,
    channel_axis: int | None = None,
    strength: float = 1.0,
    cue: str = "combined",
    max_radius: float = 10.0,
    noise_sigma: float | None = None,
    regularization: float | None = None,
    radius_tolerance: float | None = None,
    overshoot: float | str | None = "auto",
    min_radius: float = 0.9,
    level_step: float = 0.5,
    chroma: bool = True,
) -> NDArray[np.float32]:
    """Estimate the defocus map and deconvolve region by region (default method).

    Same parameters as :func:`defocus_sharpen`, which also returns the map;
    :func:`allfocus.restore.sharpen` uses that one.

    Returns
    -------
    (M, N[, C]) ndarray of float32
        The sharpened image in [0, 1].
    """
    out, _ = defocus_sharpen(
        image,
        channel_axis=channel_axis,
        strength=strength,
        cue=cue,
        max_radius=max_radius,
        noise_sigma=noise_sigma,
        regularization=regularization,
        radius_tolerance=radius_tolerance,
        overshoot=overshoot,
        min_radius=min_radius,
        level_step=level_step,
        chroma=chroma,
    )
    return out
