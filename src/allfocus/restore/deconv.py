"""Non-blind deconvolution of defocus blur, uniform or varying across the image.

Nothing in SciPy, scikit-image or OpenCV deconvolves a blur that changes from
pixel to pixel, so :func:`deconvolve_by_map` does it by blur layers: the
radius map is cut into levels, the image (luma, and the colour differences
R - Y and B - Y) is deconvolved once per level with the disc PSF of that
level (a regularised Wiener filter in the Fourier domain, after reflection
padding, tile by tile and only where the level is needed), and the levels
are blended per pixel by linear interpolation between the two levels that
bracket the pixel's radius. Pixels whose radius is below ``min_radius`` keep
their input values. docs/sharpen.md explains the ringing controls.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from allfocus._core.errors import InputError
from allfocus._core.validate import FLOAT
from allfocus.restore._luma import finish_image, get_luma, merge_luma, prepare_image
from allfocus.restore.noise import estimate_noise
from allfocus.restore.psf import disc_psf

#: Regularisation weight per unit of noise variance (tuned on synthetic frames,
#: see docs/sharpen.md) and the floor that covers JPEG and blur-model errors.
_NOISE_GAIN = 100.0
_REG_FLOOR = 1e-3
#: Colour differences carry less detail and more noise: regularise them more.
_CHROMA_FACTOR = 2.0
#: Pixels blurred this much less than a level are extrapolated, not deconvolved.
_MEMBER_MARGIN = 1.0
#: Radii sampled across the tolerance band of each level.
_TOLERANCE_SAMPLES = 7
#: Tile side for the deconvolution and tiles transformed per FFT call.
_TILE = 768
#: Halo of a tile in disc radii: the regularised inverse of a disc rings far
#: (with little regularisation a fifth of its weight lies beyond 6 radii; seams stay
#: below 2 grey levels even on noise).
_HALO_RADII = 6.0
_TILE_BATCH = 4


def _cosine_basis(size: int, half: int, *, real: bool) -> NDArray[np.float32]:
    """cos(omega * t) for the DFT frequencies of ``size`` and offsets ``t = -half..half``."""
    freq = np.fft.rfftfreq(size) if real else np.fft.fftfreq(size)
    return np.cos(2 * np.pi * np.outer(freq, np.arange(-half, half + 1))).astype(FLOAT)


def _gradient_power(shape: tuple[int, int]) -> NDArray[np.float32]:
    """|Dx|^2 + |Dy|^2 of forward differences on the rfft grid of ``shape``.

    The prior of the Wiener filter: natural images have power spectra close to
    ``1 / |omega|^2``, the inverse of this.
    """
    uy = 2 * np.pi * np.fft.fftfreq(shape[0])[:, None]
    ux = 2 * np.pi * np.fft.rfftfreq(shape[1])[None, :]
    return (4.0 - 2.0 * np.cos(uy) - 2.0 * np.cos(ux)).astype(np.float32)


def _fill_holes(values: NDArray[np.float32], weight: NDArray[np.float32]) -> NDArray[np.float32]:
    """Smooth extrapolation of ``values`` (K, M, N) from pixels where ``weight`` is 1.

    Push-pull on a Gaussian pyramid: weighted averages are pulled down and
    pushed back up, each level keeping its own estimate where it has support
    and the coarser one elsewhere. The result, at half resolution and
    brought up once, is only used where ``weight`` is 0, so fine detail is
    not needed.
    """
    dens = [cv2.pyrDown(weight)]
    while min(dens[-1].shape) > 8:
        dens.append(cv2.pyrDown(dens[-1]))
    out = np.empty_like(values)
    for c in range(values.shape[0]):
        nums = [cv2.pyrDown(values[c] * weight)]
        for _ in range(len(dens) - 1):
            nums.append(cv2.pyrDown(nums[-1]))
        total = float(dens[-1].sum())
        filled = np.full_like(nums[-1], nums[-1].sum() / total if total > 0 else 0.0)
        for num, den in zip(nums[::-1], dens[::-1], strict=True):
            if filled.shape != den.shape:
                filled = cv2.pyrUp(filled, dstsize=(den.shape[1], den.shape[0]))
            alpha = np.minimum(den, 1.0)
            filled = alpha * (num / np.maximum(den, 1e-6)) + (1.0 - alpha) * filled
        out[c] = cv2.pyrUp(filled, dstsize=(values.shape[2], values.shape[1]))
    return out


def _otf_moments(
    shape: tuple[int, int], radius: float, tolerance: float
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Mean OTF and mean squared OTF over radii within ``tolerance`` of ``radius``.

    Averaging over the uncertain radius cancels the sign-alternating side
    lobes of the disc's transfer function, so an error in the radius makes
    the result less sharp instead of ringing.
    """
    samples = _TOLERANCE_SAMPLES if tolerance > 0 else 1
    radii = radius * (1.0 + tolerance * np.linspace(-1.0, 1.0, samples))
    half = int(np.ceil(radii.max()))
    cy = _cosine_basis(shape[0], half, real=False)
    cx = _cosine_basis(shape[1], half, real=True).T
    mean_otf = np.zeros((shape[0], shape[1] // 2 + 1), dtype=FLOAT)
    mean_power = np.zeros_like(mean_otf)
    for r in radii:
        kernel = disc_psf(float(r))
        k = kernel.shape[0] // 2
        rows = slice(half - k, half + k + 1)
        otf = (cy[:, rows] @ kernel) @ cx[rows]
        mean_otf += otf
        mean_power += otf * otf
    return mean_otf / samples, mean_power / samples


def _wiener_gain(
    shape: tuple[int, int], radius: float, regs: NDArray[np.float32], tolerance: float
) -> NDArray[np.float32]:
    """(K, M, N // 2 + 1) Wiener filter per channel on the rfft grid of ``shape``.

    The prior weight of each channel grows in proportion to the radius:
    larger discs destroy more frequencies, and errors in their radius cost
    more.
    """
    mean_otf, mean_power = _otf_moments(shape, radius, tolerance)
    prior = _gradient_power(shape)
    reg = regs[:, None, None] * np.float32(radius / 3.0)
    return (mean_otf / (mean_power + reg * prior)).astype(FLOAT)


def _tile_grid(shape: tuple[int, int], tile: int) -> list[tuple[slice, slice]]:
    """Core regions (row slice, column slice) tiling ``shape``."""
    return [
        (slice(y, min(y + tile, shape[0])), slice(x, min(x + tile, shape[1])))
        for y in range(0, shape[0], tile)
        for x in range(0, shape[1], tile)
    ]


def _halo(radius: float, tolerance: float) -> int:
    """Pixels of context a level needs around a tile (the Wiener filter's reach)."""
    return int(np.ceil(_HALO_RADII * radius * (1.0 + tolerance))) + 16


def _crop_with_halo(
    data: NDArray[np.float32], box: tuple[int, int, int, int], halo: int
) -> NDArray[np.float32]:
    """``data`` (K, M, N) inside ``box`` plus ``halo`` pixels, reflected past the image."""
    top, bottom, left, right = box
    h, w = data.shape[1:]
    y0, y1 = max(top - halo, 0), min(bottom + halo, h)
    x0, x1 = max(left - halo, 0), min(right + halo, w)
    region = data[:, y0:y1, x0:x1]
    pads = (halo - (top - y0), halo - (y1 - bottom), halo - (left - x0), halo - (x1 - right))
    if not any(pads):
        return np.ascontiguousarray(region)
    if min(region.shape[1:]) > max(pads):
        return np.stack([cv2.copyMakeBorder(ch, *pads, cv2.BORDER_REFLECT_101) for ch in region])
    widths = ((0, 0), (pads[0], pads[1]), (pads[2], pads[3]))
    return np.pad(region, widths, mode="symmetric")


def _deconvolve_tiles(
    padded: NDArray[np.float32],
    margin: int,
    radius: float,
    regs: NDArray[np.float32],
    tolerance: float,
    tiles: list[tuple[slice, slice]],
    *,
    padded_radius: NDArray[np.float32] | None = None,
) -> list[NDArray[np.float32]]:
    """Wiener-deconvolve tiles by a disc of ``radius``; return each tile's deblurred core.

    ``padded`` (K, M + 2 margin, N + 2 margin) is the image reflected by
    ``margin`` >= the halo on every side. Each tile is filtered with a halo of
    real neighbouring pixels, so tiles join without seams.

    With ``padded_radius`` (the radius map padded alike), pixels of a window
    blurred much less than ``radius`` (non-members: for instance an in-focus
    object in front of a blurred background) are replaced by a smooth
    extrapolation of the members before filtering: deconvolving sharp
    detail with a large disc is what makes ringing halos.
    """
    import scipy.fft  # here: every command imports this module, few deconvolve

    halo = _halo(radius, tolerance)
    k = padded.shape[0]
    longest = max(max(ys.stop - ys.start, xs.stop - xs.start) for ys, xs in tiles)
    size = scipy.fft.next_fast_len(longest + 2 * halo, real=True)
    gain = _wiener_gain((size, size), radius, regs, tolerance)
    results = []
    for start in range(0, len(tiles), _TILE_BATCH):
        batch = tiles[start : start + _TILE_BATCH]
        windows = np.empty((len(batch), k, size, size), dtype=FLOAT)
        for i, (ys, xs) in enumerate(batch):
            rows = slice(ys.start + margin - halo, ys.stop + margin + halo)
            cols = slice(xs.start + margin - halo, xs.stop + margin + halo)
            win = padded[:, rows, cols]
            if padded_radius is not None:
                lowest = radius - _MEMBER_MARGIN - 0.5
                member = np.clip((padded_radius[rows, cols] - lowest) / 0.5, 0.0, 1.0)
                if float(member.min()) < 1.0:
                    filled = _fill_holes(win, (member >= 1.0).astype(FLOAT))
                    win = member * win + (1.0 - member) * filled
            if win.shape[1:] != (size, size):
                extra = ((0, 0), (0, size - win.shape[1]), (0, size - win.shape[2]))
                win = np.pad(win, extra, mode="symmetric")
            windows[i] = win
        spectrum = scipy.fft.rfft2(windows, workers=-1)
        spectrum *= gain
        restored = scipy.fft.irfft2(spectrum, s=(size, size), workers=-1)
        for i, (ys, xs) in enumerate(batch):
            results.append(
                restored[i, :, halo : halo + ys.stop - ys.start, halo : halo + xs.stop - xs.start]
            )
    return results


def _check_regularization(regularization: float | None) -> None:
    if regularization is not None and (not np.isfinite(regularization) or regularization <= 0):
        raise InputError(f"regularization must be a positive number or None; got {regularization}")


def _auto_regularization(luma: NDArray[np.float32], noise_sigma: float | None) -> float:
    sigma = estimate_noise(luma) if noise_sigma is None else float(noise_sigma)
    if not np.isfinite(sigma) or sigma < 0:
        raise InputError(f"noise_sigma must be a finite number >= 0 or None; got {noise_sigma}")
    return _NOISE_GAIN * sigma * sigma + _REG_FLOOR


def _split_channels(
    arr: NDArray[np.float32], luma: NDArray[np.float32], *, color: bool, chroma: bool
) -> NDArray[np.float32]:
    """(K, M, N): luma, then R - Y and B - Y when colour detail is restored too."""
    if color and chroma and arr.shape[-1] >= 3:
        return np.stack([luma, arr[..., 0] - luma, arr[..., 2] - luma])
    return luma[None]


def _merge_channels(
    arr: NDArray[np.float32],
    luma: NDArray[np.float32],
    out: NDArray[np.float32],
    *,
    color: bool,
) -> NDArray[np.float32]:
    """Inverse of :func:`_split_channels`; keeps hue when colour was not restored."""
    if out.shape[0] == 1:
        return merge_luma(arr, luma, out[0], color=color)
    cr, cb = out[1], out[2]
    cg = -(0.299 * cr + 0.114 * cb) / 0.587  # the luma of the differences is 0
    return merge_luma(arr, luma, out[0], color=color, chroma=np.stack([cr, cg, cb], axis=-1))


def _regularizations(
    luma: NDArray[np.float32], num: int, regularization: float | None, noise_sigma: float | None
) -> list[float]:
    _check_regularization(regularization)
    reg = _auto_regularization(luma, noise_sigma) if regularization is None else regularization
    return [reg] + [reg * _CHROMA_FACTOR] * (num - 1)


def wiener_deconvolve(
    image: NDArray,
    radius: float,
    *,
    channel_axis: int | None = None,
    regularization: float | None = None,
    noise_sigma: float | None = None,
    chroma: bool = True,
) -> NDArray[np.float32]:
    """Remove a uniform disc (defocus) blur with a regularised Wiener filter.

    The image is padded by reflection, transformed once, and divided by the
    disc's transfer function ``K`` as ``K / (K^2 + lambda |D|^2)`` (``K`` is
    real for a symmetric disc) where ``|D|^2`` is the power of the image
    gradient operator: the Wiener filter for an image with a natural
    ``1 / |omega|^2`` spectrum, which keeps noise from exploding at the zeros
    of ``K``.

    Parameters
    ----------
    image : (M, N[, C]) ndarray
        Blurred image in [0, 1].
    radius : float
        Disc radius in pixels (see :func:`allfocus.restore.psf.disc_psf`).
    channel_axis : int or None
        Axis of the colour channels, ``None`` for grey.
    regularization : float or None
        ``lambda`` for a 3 px disc (it grows in proportion to the radius);
        ``None`` derives it from ``noise_sigma``.
    noise_sigma : float or None
        Noise standard deviation; ``None`` estimates it from the image.
    chroma : bool
        Also deblur the colour differences ``R - Y`` and ``B - Y`` (more
        strongly regularised). ``False`` deblurs luma only, which keeps every
        pixel's hue exactly.

    Returns
    -------
    (M, N[, C]) ndarray of float32
        Deblurred image in [0, 1].

    Examples
    --------
    >>> import cv2
    >>> from allfocus.restore.psf import disc_psf
    >>> rng = np.random.default_rng(0)
    >>> sharp = cv2.GaussianBlur(rng.random((64, 64)).astype(np.float32), (0, 0), 1.0)
    >>> blurred = cv2.filter2D(sharp, -1, disc_psf(3.0), borderType=cv2.BORDER_REFLECT)
    >>> restored = wiener_deconvolve(blurred, 3.0, noise_sigma=0.0)
    >>> bool(np.abs(restored - sharp).mean() < np.abs(blurred - sharp).mean())
    True
    """
    arr, color = prepare_image(image, channel_axis)
    if not np.isfinite(radius) or radius < 0:
        raise InputError(f"radius must be a finite number >= 0; got {radius}")
    luma = get_luma(arr, color=color)
    channels = _split_channels(arr, luma, color=color, chroma=chroma)
    regs = _regularizations(luma, channels.shape[0], regularization, noise_sigma)
    if radius < 0.5:
        return finish_image(arr.copy(), channel_axis)
    tiles = _tile_grid(luma.shape, _TILE)
    halo = _halo(radius, 0.0)
    padded = _crop_with_halo(channels, (0, luma.shape[0], 0, luma.shape[1]), halo)
    cores = _deconvolve_tiles(padded, halo, radius, np.asarray(regs, FLOAT), 0.0, tiles)
    out = np.empty_like(channels)
    for (ys, xs), core in zip(tiles, cores, strict=True):
        out[:, ys, xs] = core
    return finish_image(_merge_channels(arr, luma, out, color=color), channel_axis)


def blur_levels(max_radius: float, *, min_radius: float = 0.9, step: float = 0.5) -> list[float]:
    """Disc radii at which :func:`deconvolve_by_map` deconvolves.

    The first level is ``min_radius`` (identity, nothing to undo); the
    others start at the next multiple of ``step`` and go up to the first
    level at or above ``max_radius``.

    Examples
    --------
    >>> blur_levels(2.2)
    [0.9, 1.0, 1.5, 2.0, 2.5]
    """
    if not np.isfinite(step) or step <= 0:
        raise InputError(f"level_step must be > 0; got {step}")
    if max_radius <= min_radius:
        return [float(min_radius)]
    first = np.floor(min_radius / step + 1.0) * step
    num = int(np.ceil((max_radius - first) / step - 1e-9)) + 1
    return [float(min_radius), *(float(first + i * step) for i in range(max(num, 1)))]


def deconvolve_by_map(
    image: NDArray,
    radius_map: NDArray,
    *,
    channel_axis: int | None = None,
    regularization: float | None = None,
    noise_sigma: float | None = None,
    chroma: bool = True,
    min_radius: float = 0.9,
    level_step: float = 0.5,
    radius_tolerance: float = 0.1,
    overshoot: float | None = 1.0,
) -> NDArray[np.float32]:
    """Deconvolve a spatially varying defocus blur given its radius map.

    Parameters
    ----------
    image : (M, N[, C]) ndarray
        Image in [0, 1] whose pixel ``(i, j)`` is blurred by a disc of radius
        ``radius_map[i, j]``.
    radius_map : (M, N) ndarray
        Blur radius in pixels per pixel, for example from
        :func:`allfocus.restore.estimate_defocus_map` or, in benchmarks, the
        true map of a synthetic frame.
    channel_axis : int or None
        Axis of the colour channels, ``None`` for grey.
    regularization : float or None
        Weight of the gradient prior for a 3 px disc (see
        :func:`wiener_deconvolve`); ``None`` derives it from the noise.
    noise_sigma : float or None
        Noise standard deviation; ``None`` estimates it from the image.
    chroma : bool
        Also deblur the colour differences; ``False`` keeps hues exactly.
    min_radius : float
        Pixels blurred less than this are left unchanged (in focus).
    level_step : float
        Spacing of the blur levels in pixels; smaller is more exact and slower.
    radius_tolerance : float
        Relative uncertainty of the map: each level's filter is averaged over
        radii within ``radius * (1 +/- radius_tolerance)``, which trades a
        little sharpness for much less ringing when the map is off (a disc
        deconvolved with a wrong radius rings, because the signs of its
        transfer function's side lobes differ). 0 trusts the map exactly.
    overshoot : float or None
        Ringing control: each output value may leave the range of the input
        values within one blur radius by at most this fraction of that range
        (a ring darker or brighter than anything nearby is an artefact).
        ``None`` turns the limit off.

    Returns
    -------
    (M, N[, C]) ndarray of float32
        The deblurred image in [0, 1], channel axis where the input had it.

    Notes
    -----
    Each level is one forward and one inverse FFT of the padded image;
    levels no pixel needs are skipped. Before a level is deconvolved, pixels
    much sharper than the level (for instance an in-focus object in front of
    a blurred background) are replaced by a smooth extrapolation of the
    pixels that do belong to it: deconvolving sharp detail with a large disc
    is what makes the classic ringing halos. Levels are blended by linear
    interpolation in radius between the two nearest levels.

    Examples
    --------
    >>> from allfocus.synth import synthetic_stack
    >>> s = synthetic_stack((64, 64), 3, max_radius=6, rng=0)
    >>> out = deconvolve_by_map(s.frames[1], s.radii[1], channel_axis=-1)
    >>> out.shape, out.dtype
    ((64, 64, 3), dtype('float32'))
    """
    arr, color = prepare_image(image, channel_axis)
    rmap = np.asarray(radius_map, dtype=np.float32)
    if rmap.shape != arr.shape[:2]:
        raise InputError(
            f"radius_map must have the image's spatial shape {arr.shape[:2]}; got {rmap.shape}"
        )
    if not np.isfinite(rmap).all() or (rmap.size and rmap.min() < 0):
        raise InputError("radius_map must be finite and >= 0 everywhere")
    if not np.isfinite(min_radius) or min_radius < 0.5:
        raise InputError(
            f"min_radius must be >= 0.5 (smaller discs are one pixel); got {min_radius}"
        )
    if not np.isfinite(radius_tolerance) or not 0 <= radius_tolerance < 1:
        raise InputError(f"radius_tolerance must be in [0, 1); got {radius_tolerance}")
    if overshoot is not None and (not np.isfinite(overshoot) or overshoot < 0):
        raise InputError(f"overshoot must be a number >= 0 or None; got {overshoot}")
    luma = get_luma(arr, color=color)
    channels = _split_channels(arr, luma, color=color, chroma=chroma)
    regs = _regularizations(luma, channels.shape[0], regularization, noise_sigma)
    out = _deconvolve_layers(
        channels,
        rmap,
        regs,
        min_radius=min_radius,
        step=level_step,
        tolerance=radius_tolerance,
        overshoot=overshoot,
    )
    return finish_image(_merge_channels(arr, luma, out, color=color), channel_axis)


def _local_range(
    padded: NDArray[np.float32], margin: int, tile: tuple[slice, slice], radius: float
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Min and max (K, h, w) of the input within ``radius`` of each pixel of a tile."""
    ys, xs = tile
    r = max(1, int(np.ceil(radius)))
    rows = slice(ys.start + margin - r, ys.stop + margin + r)
    cols = slice(xs.start + margin - r, xs.stop + margin + r)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * r + 1, 2 * r + 1))
    low = np.empty((padded.shape[0], ys.stop - ys.start, xs.stop - xs.start), dtype=FLOAT)
    high = np.empty_like(low)
    for c in range(padded.shape[0]):
        window = np.ascontiguousarray(padded[c, rows, cols])
        low[c] = cv2.erode(window, kernel)[r:-r, r:-r]
        high[c] = cv2.dilate(window, kernel)[r:-r, r:-r]
    return low, high


def _deconvolve_layers(
    channels: NDArray[np.float32],
    rmap: NDArray[np.float32],
    regs: list[float],
    *,
    min_radius: float,
    step: float,
    tolerance: float,
    overshoot: float | None = None,
) -> NDArray[np.float32]:
    """Blur-layer deconvolution of (K, M, N) signals sharing one radius map.

    Work is done tile by tile, and a level only on the tiles where some
    pixel needs it, so a photo whose blur changes across the frame costs
    about two deconvolutions of the whole image, not one per level.
    """
    levels = blur_levels(float(rmap.max()), min_radius=min_radius, step=step)
    if len(levels) == 1:
        return channels.copy()
    reg = np.asarray(regs, dtype=FLOAT)
    knots = np.asarray(levels, dtype=np.float32)
    r = np.clip(rmap, knots[0], knots[-1])
    # Index of the level below each pixel and the weight of the one above.
    idx = np.clip(np.searchsorted(knots, r, side="right") - 1, 0, len(knots) - 2)
    frac = ((r - knots[idx]) / (knots[idx + 1] - knots[idx])).astype(FLOAT)
    out = np.zeros_like(channels)
    tiles = _tile_grid(rmap.shape, _TILE)
    # Reflect the signals and the map once, by the largest level's halo.
    margin = _halo(levels[-1], tolerance)
    box = (0, rmap.shape[0], 0, rmap.shape[1])
    padded = _crop_with_halo(channels, box, margin)
    padded_radius = _crop_with_halo(rmap[None], box, margin)[0]
    # Levels each tile needs: from its smallest lower level to its largest upper one.
    span = [(int(idx[t].min()), int(idx[t].max()) + 1) for t in tiles]

    def weight(k: int, t: tuple[slice, slice]) -> NDArray[np.float32]:
        i, f = idx[t], frac[t]
        return np.where(i == k, 1.0 - f, 0.0) + np.where(i == k - 1, f, 0.0)

    ranges: dict[int, tuple[NDArray[np.float32], NDArray[np.float32]]] = {}
    for k, level in enumerate(levels):
        active_index = [i for i, (lo, hi) in enumerate(span) if lo <= k <= hi]
        active = [tiles[i] for i in active_index]
        if not active:
            continue
        if k == 0:
            for t in active:
                out[:, t[0], t[1]] += weight(0, t) * channels[:, t[0], t[1]]
            continue
        cores = _deconvolve_tiles(
            padded, margin, level, reg, tolerance, active, padded_radius=padded_radius
        )
        for i, core in zip(active_index, cores, strict=True):
            t = tiles[i]
            if overshoot is not None:
                # A deblurred value may leave the range of the blurred values
                # around it by ``overshoot`` times that range: sharpening
                # restores contrast the blur averaged away, but a ring darker
                # or brighter than anything nearby is an artefact. (The range
                # is taken once per tile, over its largest radius.)
                if i not in ranges:
                    ranges[i] = _local_range(padded, margin, t, levels[span[i][1]])
                low, high = ranges[i]
                slack = overshoot * (high - low)
                core = np.clip(core, low - slack, high + slack)
            out[:, t[0], t[1]] += weight(k, t) * core
    return out
