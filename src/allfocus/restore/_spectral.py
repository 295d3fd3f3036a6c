"""Blur radius from the local power spectrum (the zeros of the disc's transfer function).

Private cue of :func:`allfocus.restore.estimate_defocus_map`. A disc-blurred
patch has the power spectrum ``|K_r(f)|^2 S(f) + N``: the disc's transfer
function ``K_r`` (with rings of zeros at ``f = 0.61 / r, 1.12 / r, ...``
cycles per pixel) times the scene's own spectrum ``S``, plus white noise
``N``. Natural scenes have ``S(f) ~ A f**-beta`` with ``beta`` near 2, smooth
and free of rings, so the rings identify ``r`` even on texture, where the
edge-based gradient ratio cannot tell a blurred texture from a sharp step.

For each patch the radially averaged log power is fitted by least squares
over a grid of ``r`` and ``beta`` (``A`` by Gauss-Newton, ``N`` from the
noise estimate). The model is convolved with the window's own spectrum, as
the measurement is, which removes the bias the window would otherwise cause.
This is the classical spectral-zero blur identification (Cannon 1976) fitted
as a parametric model.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from allfocus.restore.psf import disc_psf

#: Patch side (pixels) and the Gaussian window inside it.
PATCH = 64
#: Radial frequency bins used (in units of 1 / PATCH cycles per pixel).
_BINS = np.arange(2, 31)
#: Candidate disc radii (pixels) and spectral slopes.
RADII = np.concatenate([[0.0], np.arange(0.5, 4.0, 0.125), np.arange(4.0, 10.01, 0.25)])
_BETAS = (1.5, 2.25, 3.0)
#: Patches fitted at once (bounds the memory of the vectorised fit).
_CHUNK = 512
#: Radius-grid step of the coarse search.
_COARSE_STEP = 4


@dataclass(frozen=True)
class _Model:
    window: NDArray[np.float32]  # (P, P)
    binning: NDArray[np.float32]  # (P * P, J): radial averaging matrix
    log_model: NDArray[np.float32]  # (B, R, J)
    model: NDArray[np.float32]  # (B, R, J)
    bin_weight: NDArray[np.float32]  # (J,): share of coefficients per bin
    noise_gain: float  # noise power per unit variance: sum(window**2)


def _disc_power(radius: float) -> NDArray[np.float64]:
    """|DFT|^2 of the disc PSF centred at the origin of a PATCH x PATCH grid."""
    kernel = disc_psf(float(radius))
    half = kernel.shape[0] // 2
    grid = np.zeros((PATCH, PATCH))
    grid[: kernel.shape[0], : kernel.shape[1]] = kernel
    grid = np.roll(grid, (-half, -half), axis=(0, 1))
    return np.abs(np.fft.fft2(grid)) ** 2


@lru_cache(maxsize=4)
def spectral_model(window_sigma: float) -> _Model:
    """Window, radial binning and model spectra for a Gaussian window of ``window_sigma``."""
    x = np.arange(PATCH) - PATCH / 2 + 0.5
    window = np.exp(-0.5 * (x[:, None] ** 2 + x[None, :] ** 2) / window_sigma**2)
    f = np.hypot(np.fft.fftfreq(PATCH)[:, None], np.fft.fftfreq(PATCH)[None, :])
    index = np.rint(f * PATCH).astype(int).ravel()
    counts = np.array([(index == j).sum() for j in _BINS], dtype=np.float64)
    binning = np.zeros((PATCH * PATCH, _BINS.size))
    for col, j in enumerate(_BINS):
        binning[index == j, col] = 1.0 / counts[col]
    # Measured spectra are the true ones circularly convolved with |W|^2.
    window_power = np.abs(np.fft.fft2(window)) ** 2
    window_power /= window_power.sum()
    window_otf = np.fft.fft2(window_power)
    f_safe = np.where(f > 0, f, 1.0)
    model = np.empty((len(_BETAS), RADII.size, _BINS.size))
    for b, beta in enumerate(_BETAS):
        scene = np.where(f > 0, f_safe**-beta, 0.0)
        for r, radius in enumerate(RADII):
            spectrum = _disc_power(radius) * scene
            seen = np.real(np.fft.ifft2(np.fft.fft2(spectrum) * window_otf))
            model[b, r] = seen.ravel() @ binning
    model = np.maximum(model, 1e-30)
    return _Model(
        window=window.astype(np.float32),
        binning=binning.astype(np.float32),
        log_model=np.log(model).astype(np.float32),
        model=model.astype(np.float32),
        bin_weight=(counts / counts.sum()).astype(np.float32),
        noise_gain=float((window**2).sum()),
    )


def _fit_candidates(
    lp: NDArray[np.float32],
    shape: NDArray[np.float32],
    log_shape: NDArray[np.float32],
    weight: NDArray[np.float32],
    noise_power: float,
) -> NDArray[np.float32]:
    """Misfit (P, R) of profiles ``lp`` (P, 1, J) to model shapes (P or 1, R, J).

    The amplitude of each model is fitted by Gauss-Newton on its logarithm,
    starting from the lowest bins, where the scene dominates the noise.
    """
    log_amp = np.median(lp[..., :3] - log_shape[..., :3], axis=-1)
    for _ in range(3):
        signal = np.exp(log_amp)[..., None] * shape
        frac = signal / (signal + noise_power)
        resid = lp - np.log(signal + noise_power)
        num = (resid * frac * weight).sum(-1)
        den = np.maximum((frac * frac * weight).sum(-1), 1e-6)
        log_amp = np.clip(log_amp + num / den, -60.0, 60.0)
    signal = np.exp(log_amp)[..., None] * shape
    return (((lp - np.log(signal + noise_power)) ** 2) * weight).sum(-1)


def _fit_profiles(
    log_power: NDArray[np.float32], noise_power: float, model: _Model
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Best radius and residual (weighted mean squared log error) per profile (P, J).

    Coarse to fine: every fourth radius first, then the seven radii around
    the best coarse one, for every slope.
    """
    n = log_power.shape[0]
    lp = log_power[:, None, :]
    coarse = np.arange(0, RADII.size, _COARSE_STEP)
    best_err = np.full(n, np.inf, dtype=np.float32)
    best_idx = np.zeros(n, dtype=np.intp)
    for b in range(model.model.shape[0]):
        err = _fit_candidates(
            lp,
            model.model[b][None, coarse],
            model.log_model[b][None, coarse],
            model.bin_weight,
            noise_power,
        )
        pick = np.argmin(err, axis=1)
        e = err[np.arange(n), pick]
        better = e < best_err
        best_err[better] = e[better]
        best_idx[better] = coarse[pick[better]]
    offsets = np.arange(-_COARSE_STEP + 1, _COARSE_STEP)
    cand = np.clip(best_idx[:, None] + offsets[None, :], 0, RADII.size - 1)  # (P, C)
    best_err[:] = np.inf
    best_r = np.zeros(n, dtype=np.float32)
    rows = np.arange(n)
    for b in range(model.model.shape[0]):
        err = _fit_candidates(
            lp, model.model[b][cand], model.log_model[b][cand], model.bin_weight, noise_power
        )
        pick = np.argmin(err, axis=1)
        e = err[rows, pick]
        better = e < best_err
        best_err[better] = e[better]
        best_r[better] = RADII[cand[rows, pick]][better]
    return best_r, best_err


def spectral_blur(
    luma: NDArray[np.float32], *, noise_sigma: float, stride: int, window_sigma: float = 10.0
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Fit a disc radius to the local spectrum around a grid of pixels.

    Parameters
    ----------
    luma : (M, N) ndarray of float32
        Grey image.
    noise_sigma : float
        Standard deviation of white noise in ``luma``.
    stride : int
        Grid step; patch centres are ``(i * stride, j * stride)``.
    window_sigma : float
        Gaussian window of each patch (pixels): larger is more precise on
        uniform regions and mixes more across depth edges.

    Returns
    -------
    radius : (ceil(M / stride), ceil(N / stride)) ndarray of float32
    residual : same shape
        Weighted mean squared log-spectrum misfit (0 = perfect fit).
    """
    import scipy.fft  # here, not at import: the command line loads this module for every run

    model = spectral_model(float(window_sigma))
    half = PATCH // 2
    mode = "reflect" if min(luma.shape) > half else "symmetric"
    padded = np.pad(luma, half, mode=mode)
    rows = np.arange(0, luma.shape[0], stride)
    cols = np.arange(0, luma.shape[1], stride)
    views = np.lib.stride_tricks.sliding_window_view(padded, (PATCH, PATCH))
    noise_power = np.float32(noise_sigma**2 * model.noise_gain + 1e-12)
    radius = np.empty(rows.size * cols.size, dtype=np.float32)
    residual = np.empty_like(radius)
    centres = np.stack(np.meshgrid(rows, cols, indexing="ij"), axis=-1).reshape(-1, 2)
    for start in range(0, centres.shape[0], _CHUNK):
        sel = centres[start : start + _CHUNK]
        patches = views[sel[:, 0], sel[:, 1]].astype(np.float32)
        patches -= patches.mean(axis=(1, 2), keepdims=True)
        patches *= model.window
        spec = scipy.fft.fft2(patches, workers=-1)
        power = (spec.real**2 + spec.imag**2).reshape(len(sel), -1)
        profile = power @ model.binning
        log_power = np.log(np.maximum(profile, 1e-30)).astype(np.float32)
        radius[start : start + len(sel)], residual[start : start + len(sel)] = _fit_profiles(
            log_power, noise_power, model
        )
    shape = (rows.size, cols.size)
    return radius.reshape(shape), residual.reshape(shape)
