"""Defocus (blur-radius) map of a single photo.

The blur is measured where it can be measured, at edges, and spread to the
rest of the image by edge-aware propagation:

1. **Re-blur gradient ratio** (Zhuo and Sim 2011). An edge blurred by an
   unknown kernel is blurred again with a Gaussian of known ``sigma0``; the
   ratio ``R`` of gradient magnitudes before and after, at the edge, depends
   only on the unknown blur. For a Gaussian blur ``sigma = sigma0 /
   sqrt(R**2 - 1)``. Defocus is a disc, not a Gaussian, so instead of that
   closed form we invert ``R`` through a table computed once for the disc
   PSF of :func:`allfocus.restore.psf.disc_psf` with exactly the filters used
   here; the result is a disc radius, not a Gaussian sigma (about ``2 *
   sigma`` by matched second moments).
2. **Scale selection** (after Karaali and Jung 2018). One ``sigma0`` cannot
   serve all edges: a small one is precise on sharp edges and a large one on
   blurred edges. The radius is measured at several scales and each edge
   keeps the scale best matched to its own blur; scales that disagree lower
   the edge's confidence.
3. **Propagation.** Radii times confidences, and confidences, are filtered by
   a domain-transform recursive filter guided by the image and divided
   (normalised convolution), so estimates flow along surfaces and stop at
   strong edges. It runs at reduced resolution on large images.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from numpy.typing import NDArray

from allfocus._core.errors import InputError
from allfocus.restore._luma import get_luma, prepare_image
from allfocus.restore._propagate import domain_transform_nc
from allfocus.restore._spectral import spectral_blur
from allfocus.restore.noise import estimate_noise
from allfocus.restore.psf import disc_psf

#: Gaussian pre-smoothing (pixels) of every gradient; tames noise and aliasing.
_PRESMOOTH = 0.7
#: Window (Gaussian sigma, pixels) of the structure tensor telling edges from texture.
_COHERENCE_WINDOW = 3.0
#: Patches the spectral cue aims for when it picks its grid step.
_TARGET_PATCHES = 12_000
#: Spectral misfit at which a patch's confidence falls to 1/e.
_FIT_TOLERANCE = 0.3
#: How far (pixels + fraction) the spectral radius may exceed the edge radius.
_AGREE_ABS = 0.5
_AGREE_REL = 0.25
#: Band within which the two cues count as agreeing (pixels + factor).
_BAND_ABS = 1.0
_BAND_REL = 1.6
_CUES = ("combined", "spectrum", "edges")
#: Agreements below LOW mean "not a disc", above HIGH "a disc" (see disc_share).
_AGREEMENT_LOW = 0.6
_AGREEMENT_HIGH = 0.9
#: Edge points measured at most (an even subset is kept on huge images).
_MAX_EDGE_POINTS = 400_000

#: Radii of the calibration table (pixels).
_TABLE_RADII = np.concatenate([np.arange(0.0, 4.0, 0.25), np.arange(4.0, 24.01, 0.5)])


def _derivatives(
    image: NDArray[np.float32], border: int = cv2.BORDER_REFLECT
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Central differences along x and y."""
    gx = cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=1, scale=0.5, borderType=border)
    gy = cv2.Sobel(image, cv2.CV_32F, 0, 1, ksize=1, scale=0.5, borderType=border)
    return gx, gy


def _gradient_magnitude(
    image: NDArray[np.float32], sigma: float, border: int = cv2.BORDER_REFLECT
) -> NDArray[np.float32]:
    """|grad(G_sigma * image)| with central differences."""
    smooth = cv2.GaussianBlur(image, (0, 0), sigma, borderType=border)
    return cv2.magnitude(*_derivatives(smooth, border))


@lru_cache(maxsize=32)
def _noise_gain(sigma: float) -> float:
    """Std of one central-difference derivative of unit white noise smoothed by G_sigma."""
    size = 2 * int(np.ceil(4 * sigma)) + 5
    impulse = np.zeros((size, size), dtype=np.float32)
    impulse[size // 2, size // 2] = 1.0
    smooth = cv2.GaussianBlur(impulse, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    gx, _ = _derivatives(smooth)
    return float(np.sqrt((gx.astype(np.float64) ** 2).sum()))


@lru_cache(maxsize=1)
def _step_rows() -> NDArray[np.float32]:
    """Disc-blurred vertical step profiles, one row per (radius, sub-pixel phase).

    Row ``4 * i + j`` is a step at phase ``j / 4`` pixel blurred by a disc of
    ``_TABLE_RADII[i]``: the disc acts on a vertical edge through its column
    sums (its line-spread function).
    """
    width = 160
    centre = width // 2
    rows = []
    for radius in _TABLE_RADII:
        lsf = disc_psf(float(radius)).sum(axis=0)
        half = lsf.size // 2
        for phase in (0.0, 0.25, 0.5, 0.75):
            profile = np.where(np.arange(width) > centre, 1.0, 0.0)
            profile[centre] = phase
            padded = np.pad(profile, half, mode="edge")
            rows.append(np.convolve(padded, lsf, mode="valid"))
    return np.asarray(rows, dtype=np.float32)


def _row_gradient(rows: NDArray[np.float32], sigma: float) -> NDArray[np.float32]:
    """|d/dx (G_sigma * row)| for each row, with the filters of the 2-D measurement."""
    ksize = round(sigma * 8 + 1) | 1  # OpenCV's automatic size for float images
    gauss = cv2.getGaussianKernel(ksize, sigma, cv2.CV_32F)
    one = np.ones((1, 1), np.float32)
    smooth = cv2.sepFilter2D(rows, cv2.CV_32F, gauss, one, borderType=cv2.BORDER_REPLICATE)
    grad = np.zeros_like(smooth)
    grad[:, 1:-1] = 0.5 * (smooth[:, 2:] - smooth[:, :-2])
    return np.abs(grad)


@lru_cache(maxsize=16)
def _ratio_table(sigma0: float) -> NDArray[np.float64]:
    """Gradient ratio of a disc-blurred step edge for each radius of ``_TABLE_RADII``.

    Computed with the same filters as the measurement, on vertical steps at
    four sub-pixel positions (averaged), so it includes the pixel grid.
    """
    rows = _step_rows()
    g0 = _row_gradient(rows, _PRESMOOTH)
    g1 = _row_gradient(rows, float(np.hypot(_PRESMOOTH, sigma0)))
    peak = np.argmax(g0, axis=1)
    index = np.arange(rows.shape[0])
    ratios = (g0[index, peak] / g1[index, peak]).reshape(_TABLE_RADII.size, 4)
    table = ratios.mean(axis=1).astype(np.float64)
    # Enforce strict decrease so the table can be inverted by interpolation.
    return np.minimum.accumulate(table) - 1e-9 * np.arange(table.size)


def _power_law_texture(size: int, rng: np.random.Generator) -> NDArray[np.float32]:
    """Random-phase texture with a natural ``1 / f`` amplitude spectrum, std 0.1."""
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    freq = np.hypot(fy, fx)
    freq[0, 0] = 1.0
    spectrum = (rng.normal(size=freq.shape) + 1j * rng.normal(size=freq.shape)) / freq
    spectrum[0, 0] = 0.0
    field = np.fft.irfft2(spectrum, s=(size, size))
    return (0.5 + 0.1 * field / field.std()).astype(np.float32)


@lru_cache(maxsize=1)
def _texture_samples() -> list[tuple[NDArray[np.float32], NDArray[np.float32], NDArray]]:
    """(blurred texture, gradient magnitude, edge points) for each radius of ``_TABLE_RADII``."""
    rng = np.random.default_rng(20110907)
    tex = _power_law_texture(160, rng)
    out = []
    for radius in _TABLE_RADII:
        blurred = cv2.filter2D(tex, -1, disc_psf(float(radius)), borderType=cv2.BORDER_REFLECT)
        smooth = cv2.GaussianBlur(blurred, (0, 0), _PRESMOOTH, borderType=cv2.BORDER_REFLECT)
        gx, gy = _derivatives(smooth)
        g0 = cv2.magnitude(gx, gy)
        edges = _edge_points(g0, (gx, gy), float(np.percentile(g0, 50)))
        edges[:20], edges[-20:], edges[:, :20], edges[:, -20:] = False, False, False, False
        out.append((blurred, g0, np.nonzero(edges)))
    return out


@lru_cache(maxsize=16)
def _texture_ratio_table(sigma0: float) -> NDArray[np.float64]:
    """Median gradient ratio at edge points of a disc-blurred power-law texture.

    Texture is sharper than a step in the ratio's eyes (it has detail at
    every scale), so the same ratio means more blur than on an isolated
    edge. Computed on a fixed random texture, once per ``sigma0``.
    """
    out = []
    for blurred, g0, points in _texture_samples():
        g1 = _gradient_magnitude(blurred, float(np.hypot(_PRESMOOTH, sigma0)))
        out.append(float(np.median(g0[points] / g1[points])))
    table = np.asarray(out)
    return np.minimum.accumulate(table) - 1e-9 * np.arange(table.size)


def _radius_from_ratio(
    ratio: NDArray[np.float32], sigma0: float, kind: str = "step"
) -> NDArray[np.float32]:
    """Invert a calibration table ("step" or "texture"): radius per measured ratio."""
    table = _texture_ratio_table(sigma0) if kind == "texture" else _ratio_table(sigma0)
    # np.interp needs increasing x: reverse the (decreasing) table.
    return np.interp(ratio, table[::-1], _TABLE_RADII[::-1]).astype(np.float32)


def _edge_points(
    grad: NDArray[np.float32], gx_gy: tuple[NDArray, NDArray], threshold: float
) -> NDArray[np.bool_]:
    """Non-maximum suppression of ``grad`` along the gradient direction, above ``threshold``."""
    gx, gy = gx_gy
    angle = np.arctan2(gy, gx)
    # Quantise the direction into 0, 45, 90, 135 degrees.
    sector = (np.round(angle / (np.pi / 4)).astype(np.int8)) % 4
    pad = np.pad(grad, 1, mode="edge")
    h, w = grad.shape

    def shifted(dy: int, dx: int) -> NDArray:
        return pad[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]

    keep = np.zeros(grad.shape, dtype=bool)
    for k, (dy, dx) in enumerate(((0, 1), (1, 1), (1, 0), (1, -1))):
        sel = sector == k
        fwd, bwd = shifted(dy, dx), shifted(-dy, -dx)
        keep |= sel & (grad >= fwd) & (grad > bwd)
    return keep & (grad > threshold)


def edge_blur(
    luma: NDArray[np.float32],
    *,
    scales: tuple[float, ...] = (1.0, 2.0, 4.0),
    noise_sigma: float | None = None,
    edge_snr: float = 6.0,
    max_radius: float = 16.0,
    texture: bool = True,
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Blur radius at edge pixels of a grey image (sparse).

    Parameters
    ----------
    luma : (M, N) ndarray of float32
        Grey image in [0, 1].
    scales : tuple of float
        Re-blur Gaussian ``sigma0`` values, increasing.
    noise_sigma : float or None
        Noise standard deviation; ``None`` estimates it.
    edge_snr : float
        Edges whose gradient is below ``edge_snr`` times the gradient noise
        are ignored.
    max_radius : float
        Largest radius reported.
    texture : bool
        Read edges in texture (low orientation coherence) with the texture
        calibration; ``False`` reads every edge as an isolated step, which
        gives the smallest radius any of the models allows.

    Returns
    -------
    radius : (M, N) ndarray of float32
        Disc radius at edge pixels, 0 elsewhere.
    confidence : (M, N) ndarray of float32
        Weight of each estimate in [0, 1], 0 off edges.
    """
    blended, step_only, confidence = _edge_estimates(
        luma, scales=scales, noise_sigma=noise_sigma, edge_snr=edge_snr, max_radius=max_radius
    )
    return (blended if texture else step_only), confidence


def _edge_estimates(
    luma: NDArray[np.float32],
    *,
    scales: tuple[float, ...],
    noise_sigma: float | None,
    edge_snr: float,
    max_radius: float,
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
    """:func:`edge_blur` with and without the texture calibration, in one pass."""
    sigma_n = estimate_noise(luma) if noise_sigma is None else float(noise_sigma)
    smooth = cv2.GaussianBlur(luma, (0, 0), _PRESMOOTH, borderType=cv2.BORDER_REFLECT)
    gx, gy = _derivatives(smooth)
    g0 = cv2.magnitude(gx, gy)
    grad_noise = sigma_n * _noise_gain(_PRESMOOTH) + 1e-4
    edges = _edge_points(g0, (gx, gy), edge_snr * grad_noise)
    ys, xs = np.nonzero(edges)
    if ys.size > _MAX_EDGE_POINTS:
        # Far more edges than the propagation can use: keep an even subset.
        keep = np.linspace(0, ys.size - 1, _MAX_EDGE_POINTS).astype(np.intp)
        ys, xs = ys[keep], xs[keep]
    radius = np.zeros(luma.shape, dtype=np.float32)
    step_radius = np.zeros(luma.shape, dtype=np.float32)
    confidence = np.zeros(luma.shape, dtype=np.float32)
    if ys.size == 0:
        return radius, step_radius, confidence
    g_edge = g0[ys, xs]
    # Orientation coherence of the structure tensor: ~1 on an isolated edge,
    # lower in texture, where the texture calibration applies.
    jxx = cv2.GaussianBlur(gx * gx, (0, 0), _COHERENCE_WINDOW)[ys, xs]
    jyy = cv2.GaussianBlur(gy * gy, (0, 0), _COHERENCE_WINDOW)[ys, xs]
    jxy = cv2.GaussianBlur(gx * gy, (0, 0), _COHERENCE_WINDOW)[ys, xs]
    coherence = np.hypot(jxx - jyy, 2 * jxy) / np.maximum(jxx + jyy, 1e-12)
    w_step = np.clip((coherence - 0.6) / 0.3, 0.0, 1.0)
    # Noise adds power to both gradients (more to the less smoothed one, which
    # biases the ratio toward "sharp"); remove its expected power first.
    g_clean = np.sqrt(np.maximum(g_edge**2 - 2.0 * (sigma_n * _noise_gain(_PRESMOOTH)) ** 2, 0.0))
    estimates, steps = [], []
    for sigma0 in scales:
        total = float(np.hypot(_PRESMOOTH, sigma0))
        g1 = _gradient_magnitude(luma, total)[ys, xs]
        g1 = np.sqrt(np.maximum(g1**2 - 2.0 * (sigma_n * _noise_gain(total)) ** 2, 1e-12))
        ratio = g_clean / g1
        as_step = _radius_from_ratio(ratio, sigma0, "step")
        steps.append(as_step)
        estimates.append(
            w_step * as_step + (1.0 - w_step) * _radius_from_ratio(ratio, sigma0, "texture")
        )
    est = np.stack(estimates)  # (S, P)
    # Scale selection: each edge keeps the scale whose sigma0 best matches the
    # Gaussian-equivalent sigma of its own estimate (radius / 2), where the
    # ratio is most sensitive to the blur and least disturbed by neighbours.
    target = np.maximum(est / 2.0, 0.5)
    log_mismatch = np.abs(np.log(np.asarray(scales, dtype=np.float32)[:, None] / target))
    best = np.argmin(log_mismatch, axis=0)
    chosen = np.take_along_axis(est, best[None], axis=0)[0]
    # Consistency with the neighbouring scales.
    lo = np.take_along_axis(est, np.maximum(best - 1, 0)[None], axis=0)[0]
    hi = np.take_along_axis(est, np.minimum(best + 1, len(scales) - 1)[None], axis=0)[0]
    spread = np.maximum(np.abs(lo - chosen), np.abs(hi - chosen)) / (chosen + 1.0)
    consistency = np.exp(-((spread / 0.3) ** 2))
    snr = np.clip(g_edge / (edge_snr * grad_noise) - 1.0, 0.0, 4.0) / 4.0
    radius[ys, xs] = np.clip(chosen, 0.0, max_radius)
    # The step-only reading at the scale chosen for the blended one.
    step_radius[ys, xs] = np.clip(
        np.take_along_axis(np.stack(steps), best[None], axis=0)[0], 0.0, max_radius
    )
    confidence[ys, xs] = (consistency * (0.25 + 0.75 * snr)).astype(np.float32)
    return radius, step_radius, confidence


def spectrum_blur(
    luma: NDArray[np.float32],
    *,
    noise_sigma: float | None = None,
    stride: int | None = None,
    window_sigma: float = 10.0,
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Blur radius fitted to the local power spectrum on a grid of pixels (sparse).

    Parameters
    ----------
    luma : (M, N) ndarray of float32
        Grey image in [0, 1].
    noise_sigma : float or None
        Noise standard deviation; ``None`` estimates it.
    stride : int or None
        Grid step in pixels; ``None`` picks one giving about 12 000 patches
        (at least 8).
    window_sigma : float
        Gaussian window of each local spectrum (pixels).

    Returns
    -------
    radius : (M, N) ndarray of float32
        Disc radius at grid pixels, 0 elsewhere.
    confidence : (M, N) ndarray of float32
        Weight in [0, 1] at grid pixels, 0 elsewhere: low where the model
        fits badly and where sharper detail elsewhere in the window (another
        depth) dominates the spectrum.
    """
    h, w = luma.shape
    sigma_n = estimate_noise(luma) if noise_sigma is None else float(noise_sigma)
    if stride is None:
        stride = max(8, int(np.ceil(np.sqrt(h * w / _TARGET_PATCHES))))
    grid_r, residual = spectral_blur(
        luma, noise_sigma=sigma_n, stride=stride, window_sigma=window_sigma
    )
    if min(grid_r.shape) >= 5:
        # Isolated failures (a stroke, a specular spot) are removed by the median.
        grid_r = cv2.medianBlur(grid_r, 5)
    # Mixing: a patch centred on blurred texture next to sharp texture reports
    # the sharp one, whose detail dominates its spectrum. Detect it by
    # comparing fine-detail energy at the centre with that over the window.
    smooth = cv2.GaussianBlur(luma, (0, 0), _PRESMOOTH, borderType=cv2.BORDER_REFLECT)
    detail = cv2.Laplacian(smooth, cv2.CV_32F, borderType=cv2.BORDER_REFLECT) ** 2
    local = cv2.GaussianBlur(detail, (0, 0), 3.0, borderType=cv2.BORDER_REFLECT)
    window = cv2.GaussianBlur(detail, (0, 0), window_sigma, borderType=cv2.BORDER_REFLECT)
    ys = np.arange(0, h, stride)
    xs = np.arange(0, w, stride)
    centre = np.ix_(ys, xs)
    mix = np.clip(local[centre] / np.maximum(window[centre], 1e-12), 0.0, 1.0)
    conf = np.exp(-residual / _FIT_TOLERANCE) * mix**4
    radius = np.zeros((h, w), dtype=np.float32)
    confidence = np.zeros((h, w), dtype=np.float32)
    radius[centre] = grid_r
    confidence[centre] = conf.astype(np.float32)
    return radius, confidence


def estimate_defocus_map_with_agreement(
    image: NDArray,
    *,
    channel_axis: int | None = None,
    cue: str = "combined",
    noise_sigma: float | None = None,
    max_radius: float = 10.0,
    scales: tuple[float, ...] = (1.0, 2.0, 4.0),
    stride: int | None = None,
    sigma_spatial: float | None = None,
    sigma_range: float = 0.5,
    max_size: int = 2048,
) -> tuple[NDArray[np.float32], float]:
    """:func:`estimate_defocus_map` plus the disc-model agreement of :func:`combine_cues`.

    The agreement is 1 for ``cue="spectrum"`` and 0 for ``cue="edges"``.
    """
    arr, color = prepare_image(image, channel_axis)
    if cue not in _CUES:
        raise InputError(f"cue must be one of {', '.join(map(repr, _CUES))}; got {cue!r}")
    if len(scales) == 0 or any((not np.isfinite(s)) or s <= 0 for s in scales):
        raise InputError(f"scales must be a non-empty tuple of positive numbers; got {scales}")
    if not np.isfinite(max_radius) or max_radius <= 0:
        raise InputError(f"max_radius must be > 0; got {max_radius}")
    if sigma_range <= 0:
        raise InputError(f"sigma_range must be > 0; got {sigma_range}")
    if stride is not None and stride < 1:
        raise InputError(f"stride must be >= 1 or None; got {stride}")
    if max_size < 16:
        raise InputError(f"max_size must be >= 16; got {max_size}")
    if noise_sigma is not None and (not np.isfinite(noise_sigma) or noise_sigma < 0):
        raise InputError(f"noise_sigma must be >= 0 or None; got {noise_sigma}")
    luma = get_luma(arr, color=color)
    h, w = luma.shape
    if min(h, w) < 8:
        raise InputError(f"image must be at least 8x8 pixels to estimate blur; got {(h, w)}")
    sigma_n = estimate_noise(luma) if noise_sigma is None else float(noise_sigma)
    guide = arr[..., :3] if color and arr.shape[-1] >= 3 else luma
    options = {"sigma_range": sigma_range, "max_size": max_size}
    maps = {}
    if cue in ("spectrum", "combined"):
        sparse, conf = spectrum_blur(luma, noise_sigma=sigma_n, stride=stride)
        step = max(8, int(np.ceil(np.sqrt(h * w / _TARGET_PATCHES)))) if stride is None else stride
        reach = max(40.0, 3.0 * step) if sigma_spatial is None else sigma_spatial
        maps["spectrum"] = _propagate(sparse, conf, guide, sigma_spatial=reach, **options)
    if cue in ("edges", "combined"):
        sparse, sparse_step, conf = _edge_estimates(
            luma,
            scales=tuple(sorted(float(s) for s in scales)),
            noise_sigma=sigma_n,
            edge_snr=6.0,
            max_radius=max_radius,
        )
        reach = 40.0 if sigma_spatial is None else sigma_spatial
        maps["edges"] = _propagate(sparse, conf, guide, sigma_spatial=reach, **options)
        if cue == "combined":
            maps["steps"] = _propagate(sparse_step, conf, guide, sigma_spatial=reach, **options)
    agreement = 1.0 if cue == "spectrum" else 0.0
    if cue == "combined":
        dense, agreement = combine_cues(maps["spectrum"], maps["edges"], maps["steps"])
    else:
        dense = maps[cue]
    return np.clip(dense, 0.0, max_radius).astype(np.float32), agreement


def estimate_defocus_map(
    image: NDArray,
    *,
    channel_axis: int | None = None,
    cue: str = "combined",
    noise_sigma: float | None = None,
    max_radius: float = 10.0,
    scales: tuple[float, ...] = (1.0, 2.0, 4.0),
    stride: int | None = None,
    sigma_spatial: float | None = None,
    sigma_range: float = 0.5,
    max_size: int = 2048,
) -> NDArray[np.float32]:
    """Estimate the defocus blur radius at every pixel of one photo.

    Parameters
    ----------
    image : (M, N[, C]) ndarray
        Image in [0, 1] (integers are scaled by their range).
    channel_axis : int or None
        Axis of the colour channels, ``None`` for grey.
    cue : {"combined", "spectrum", "edges"}
        Where the blur is measured. ``"edges"`` is the re-blur gradient
        ratio of Zhuo and Sim at edge pixels with scale selection: local and
        independent of the PSF's fine shape, but noisy on texture.
        ``"spectrum"`` fits the disc's spectral rings in overlapping 64 px
        windows: precise on texture, but only for an ideal disc PSF.
        ``"combined"`` (default) takes the spectral radius, capped at the
        edge radius plus 0.5 px + 25 % (see :func:`combine_cues`).
        docs/sharpen.md compares them.
    noise_sigma : float or None
        Noise standard deviation; ``None`` estimates it from the image.
    max_radius : float
        Largest radius reported (pixels). The spectral cue resolves radii up
        to 10 px.
    scales : tuple of float
        Re-blur Gaussian ``sigma0`` values (pixels) of the ``"edges"`` cue.
    stride : int or None
        Grid step of the ``"spectrum"`` cue; ``None`` picks one from the size.
    sigma_spatial : float or None
        Reach of the propagation in pixels; ``None`` uses 40 px or three grid
        steps, whichever is larger.
    sigma_range : float
        Image difference (in [0, 1] units, summed over channels) at which
        propagation stops.
    max_size : int
        Propagation runs on a copy whose larger side is at most this.

    Returns
    -------
    (M, N) ndarray of float32
        Disc radius of the blur at each pixel, in pixels (0 = in focus).

    Raises
    ------
    InputError
        On bad shapes or parameters.

    See Also
    --------
    allfocus.restore.deconvolve_by_map : uses the map to deblur.

    References
    ----------
    .. [1] S. Zhuo and T. Sim, "Defocus map estimation from a single image",
           Pattern Recognition 44(9), 1852-1858, 2011.
    .. [2] A. Karaali and C. R. Jung, "Edge-based defocus blur estimation
           with adaptive scale selection", IEEE TIP 27(3), 1126-1137, 2018.
    .. [3] M. Cannon, "Blind deconvolution of spatially invariant image blurs
           with phase", IEEE TASSP 24(1), 58-63, 1976.

    Examples
    --------
    >>> import cv2
    >>> from allfocus.restore.psf import disc_psf
    >>> rng = np.random.default_rng(0)
    >>> scene = cv2.GaussianBlur(rng.random((96, 96)).astype(np.float32), (0, 0), 0.7)
    >>> blurred = cv2.filter2D(scene, -1, disc_psf(3.0), borderType=cv2.BORDER_REFLECT)
    >>> radius = estimate_defocus_map(blurred, noise_sigma=0.0)
    >>> bool(abs(float(np.median(radius)) - 3.0) < 0.5)
    True
    """
    radius, _ = estimate_defocus_map_with_agreement(
        image,
        channel_axis=channel_axis,
        cue=cue,
        noise_sigma=noise_sigma,
        max_radius=max_radius,
        scales=scales,
        stride=stride,
        sigma_spatial=sigma_spatial,
        sigma_range=sigma_range,
        max_size=max_size,
    )
    return radius


def disc_share(agreement: float) -> float:
    """How much to trust the disc model, in [0, 1], given the cue agreement.

    Examples
    --------
    >>> disc_share(0.95), disc_share(0.75), disc_share(0.3)
    (1.0, 0.5, 0.0)
    """
    span = _AGREEMENT_HIGH - _AGREEMENT_LOW
    return float(np.clip((agreement - _AGREEMENT_LOW) / span, 0.0, 1.0))


def combine_cues(
    spectrum: NDArray[np.float32],
    edges: NDArray[np.float32],
    steps: NDArray[np.float32] | None = None,
) -> tuple[NDArray[np.float32], float]:
    """Merge the dense spectral and edge maps; also say how well a disc explains the photo.

    The spectral rings are precise on texture but exist only for an ideal
    disc; real lenses (aberrations, diffraction, JPEG) wash them out and the
    fit can then report a large radius. Edge widths depend much less on the
    PSF's fine shape, so the spectral radius may exceed the edge radius by
    at most ``0.5 px + 25 %``. The share of blurred pixels where the
    spectral radius stays below ``1 px + 1.6 x`` the edge radius is the
    *agreement*. When it is low the photo's blur is not a disc,
    the texture calibration of the edge cue (made for discs) is not
    trusted either, and the cap moves toward ``steps``, the edge radius
    read as isolated steps (the most cautious reading).

    Parameters
    ----------
    spectrum, edges : (M, N) ndarray of float32
        Dense maps of the two cues.
    steps : (M, N) ndarray of float32, optional
        Dense map of the edge cue read as steps; defaults to ``edges``.

    Returns
    -------
    radius : (M, N) ndarray of float32
    agreement : float
        Share of the blurred pixels (radius > 1 px) where the two cues agree:
        near 1 for disc blur, lower for real, softer PSFs.
    """
    cap = edges + _AGREE_ABS + _AGREE_REL * edges
    # Agreement is judged with a looser band than the cap: the edge cue reads
    # thin lines as somewhat sharper than they are, which is no sign of a
    # non-disc PSF; a spectral radius twice the edge radius is.
    band = _BAND_ABS + _BAND_REL * edges
    blurred = np.minimum(spectrum, cap) > 1.0
    agreement = float((spectrum[blurred] <= band[blurred]).mean()) if blurred.any() else 1.0
    if steps is not None:
        share = disc_share(agreement)
        cap = share * cap + (1.0 - share) * steps
    return np.minimum(spectrum, cap), agreement


def _propagate(
    sparse: NDArray[np.float32],
    conf: NDArray[np.float32],
    guide: NDArray[np.float32],
    *,
    sigma_spatial: float,
    sigma_range: float,
    max_size: int,
) -> NDArray[np.float32]:
    """Spread sparse radii over the image (at reduced size when large)."""
    h, w = sparse.shape
    factor = max(1, int(np.ceil(max(h, w) / max_size)))
    if factor == 1:
        dense, _ = domain_transform_nc(
            sparse, conf, guide, sigma_spatial=sigma_spatial, sigma_range=sigma_range
        )
        return dense
    # Pool value * weight and weight by area onto a coarse grid, spread there,
    # and bring the map back with bilinear interpolation.
    size = (int(np.ceil(w / factor)), int(np.ceil(h / factor)))
    num = cv2.resize(sparse * conf, size, interpolation=cv2.INTER_AREA)
    den = cv2.resize(conf, size, interpolation=cv2.INTER_AREA)
    small_guide = cv2.resize(guide, size, interpolation=cv2.INTER_AREA)
    small, _ = domain_transform_nc(
        num / np.maximum(den, 1e-12),
        den,
        small_guide,
        sigma_spatial=sigma_spatial / factor,
        sigma_range=sigma_range,
    )
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
