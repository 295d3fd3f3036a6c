"""Laplacian-pyramid fusion with focus-based coefficient selection.

The family of enfuse's focus-stacking mode and Zerene Stacker's PMax: every
frame is decomposed into a Laplacian pyramid; at each level and pixel the
coefficient of the frame with the largest local band energy is kept (the map
of choices is made consistent by a majority vote over a small window, so
isolated noise decisions do not flip coefficients); the low-pass residuals
are averaged; the pyramid is collapsed back into the image.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from allfocus._core.errors import InputError
from allfocus._core.types import FusionResult
from allfocus._core.validate import FLOAT
from allfocus.filters.guided import box_mean
from allfocus.filters.pyramid import (
    collapse_laplacian_pyramid,
    laplacian_pyramid,
    max_levels,
)
from allfocus.filters.pyramid import halo as _pyramid_halo
from allfocus.fusion import FUSION_METHODS
from allfocus.fusion._common import (
    check_int,
    contrast_confidence,
    finish,
    prepare,
    subframe_depth,
)


def _consistent_choice(energy: NDArray[np.float32], radius: int) -> NDArray[np.intp]:
    """Per-pixel argmax of ``energy`` (S, ...) followed by a majority vote over a window.

    The vote counts, in a ``(2 * radius + 1)`` square window, how often each
    frame was the argmax; ties go to the frame with more energy at the pixel,
    so the outcome does not depend on frame order.
    """
    choice = np.argmax(energy, axis=0)
    if radius <= 0:
        return choice
    peak = np.maximum(energy.max(axis=0), FLOAT(1e-30))
    best = np.full(choice.shape, -1.0, dtype=FLOAT)
    out = np.zeros_like(choice)
    for k in range(energy.shape[0]):
        indicator = (choice == k).astype(FLOAT)
        if not indicator.any():
            continue
        score = box_mean(indicator, radius) + FLOAT(1e-3) * (energy[k] / peak)
        better = score > best
        out[better] = k
        best[better] = score[better]
    return out


@FUSION_METHODS.register("pyramid", help="Laplacian pyramid, max local band energy per level")
def fuse_pyramid(
    stack: NDArray,
    *,
    channel_axis: int | None = None,
    levels: int | None = None,
    energy_radius: int = 1,
    consistency_radius: int = 2,
) -> FusionResult:
    """All-in-focus image by Laplacian-pyramid coefficient selection.

    Parameters
    ----------
    stack : (S, M, N[, C]) ndarray
        Focus stack, frames on axis 0 (any order), any dtype.
    channel_axis : int or None
        Colour axis of ``stack``; ``None`` for grey. Choices are made on the
        luma pyramid and applied to all channels.
    levels : int or None
        Pyramid levels, the low-pass residual included; ``None`` uses as many
        as keep the coarsest level at least 8 pixels wide.
    energy_radius : int
        Radius of the box window over which squared band coefficients are
        averaged into the local energy (0 = single coefficient).
    consistency_radius : int
        Radius of the majority vote applied to each level's choice map
        (0 = none).

    Returns
    -------
    FusionResult
        ``image`` in the input's channel layout; ``depth`` from the finest
        level's choices with sub-frame (parabola) interpolation of its band
        energy; ``confidence`` the normalised contrast of that energy over
        frames.

    Raises
    ------
    InputError
        For a malformed stack or out-of-range options.

    See Also
    --------
    allfocus.fusion.depthmap.fuse_depthmap : the default, better at occlusion edges.
    allfocus.filters.laplacian_pyramid : the decomposition used.

    References
    ----------
    .. [1] P. J. Burt and R. J. Kolczynski, "Enhanced image capture through
       fusion", Proc. ICCV, pp. 173-182, 1993. :DOI:`10.1109/ICCV.1993.378222`

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.ndimage import gaussian_filter
    >>> sharp = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    >>> left, right = sharp.copy(), sharp.copy()
    >>> left[:, 32:] = gaussian_filter(sharp, 2)[:, 32:]
    >>> right[:, :32] = gaussian_filter(sharp, 2)[:, :32]
    >>> res = fuse_pyramid(np.stack([left, right]))
    >>> err = np.abs(res.image - sharp).mean()
    >>> bool(err < 0.25 * np.abs(left - sharp).mean())
    True
    """
    energy_radius = check_int("energy_radius", energy_radius, minimum=0)
    consistency_radius = check_int("consistency_radius", consistency_radius, minimum=0)
    frames, luma = prepare(stack, channel_axis)
    num = frames.shape[0]
    top = max_levels(frames.shape[1:3], min_size=1)
    if levels is None:
        levels = max_levels(frames.shape[1:3], min_size=8)
    levels = check_int("levels", levels, minimum=1)
    if levels > top:
        raise InputError(
            f"levels={levels} is too many for frames of {frames.shape[1:3]}; at most {top}"
        )

    # Pass 1: choices per level from the luma pyramids' band energy.
    energies: list[NDArray[np.float32]] = []
    for k in range(num):
        bands = laplacian_pyramid(luma[k], levels=levels)[:-1]
        for lev, band in enumerate(bands):
            if k == 0:
                energies.append(np.empty((num, *band.shape), dtype=FLOAT))
            energies[lev][k] = box_mean(band * band, energy_radius)
    choices = [_consistent_choice(e, consistency_radius) for e in energies]
    if energies:
        depth = subframe_depth(energies[0], choices[0])
        confidence = contrast_confidence(energies[0])
    else:  # a one-level "pyramid" is just the average
        depth = np.full(frames.shape[1:3], (num - 1) / 2, dtype=FLOAT)
        confidence = np.zeros(frames.shape[1:3], dtype=FLOAT)
    del energies

    # Pass 2: gather the chosen coefficients from each frame's colour pyramid.
    color = frames.ndim == 4
    fused: list[NDArray[np.float32]] = []
    for k in range(num):
        pyr = laplacian_pyramid(frames[k], levels=levels)
        if k == 0:
            fused = [np.zeros_like(band) for band in pyr]
        for lev, band in enumerate(pyr[:-1]):
            mask = choices[lev] == k
            fused[lev][mask] = band[mask]
        fused[-1] += pyr[-1] / FLOAT(num)
    image = collapse_laplacian_pyramid(fused)
    if not color and image.ndim == 3:
        image = image[..., 0]
    return finish(image, depth, confidence, channel_axis=channel_axis, stack_ndim=frames.ndim)


def halo(
    *,
    levels: int | None = None,
    energy_radius: int = 1,
    consistency_radius: int = 2,
    size: int = 4096,
) -> int:
    """Pixels :func:`fuse_pyramid` looks beyond a tile with these options.

    ``levels=None`` depends on the frame size; ``size`` (the smaller side of
    the full frames) stands in for it. Choices at level ``l`` reach
    ``2**l`` times their window radius.

    Examples
    --------
    >>> halo(levels=4)
    72
    """
    if levels is None:
        levels = max_levels((size, size), min_size=8)
    reach = (int(energy_radius) + int(consistency_radius)) * 2 ** max(int(levels) - 2, 0)
    return _pyramid_halo(levels=int(levels)) + reach
