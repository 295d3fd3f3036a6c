"""Edge-aware spreading of sparse values (domain-transform normalised convolution).

Private building block of :mod:`allfocus.restore.defocus_map`: blur radii
measured at a few edge pixels are spread over the whole image by filtering
``value * confidence`` and ``confidence`` with the same edge-preserving
recursive filter and dividing, so estimates flow along surfaces and stop at
strong image edges.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def _recursive_pass(data: NDArray[np.float32], weight: NDArray[np.float32]) -> None:
    """In-place causal then anti-causal first-order recursion along axis 0.

    ``data`` is (L, W, K): K signals sharing ``weight`` (L, W), where
    ``weight[i]`` couples row ``i`` to row ``i - 1``. Rows are contiguous, so
    each step is one vectorised operation over a whole row.
    """
    n = data.shape[0]
    w = weight[..., None]
    for i in range(1, n):
        data[i] += w[i] * (data[i - 1] - data[i])
    for i in range(n - 2, -1, -1):
        data[i] += w[i + 1] * (data[i + 1] - data[i])


def domain_transform_nc(
    values: NDArray[np.float32],
    confidence: NDArray[np.float32],
    guide: NDArray[np.float32],
    *,
    sigma_spatial: float,
    sigma_range: float,
    num_iter: int = 3,
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Normalised convolution of ``values`` weighted by ``confidence`` along ``guide``.

    Parameters
    ----------
    values, confidence : (M, N) ndarray of float32
        Sparse data and its weights (0 where nothing is known).
    guide : (M, N[, C]) ndarray of float32
        Image whose edges stop the spreading.
    sigma_spatial : float
        Reach of the filter in pixels.
    sigma_range : float
        Guide difference that counts as an edge (in guide units).
    num_iter : int
        Horizontal + vertical iterations (3 is the usual choice).

    Returns
    -------
    (M, N) ndarray of float32, (M, N) ndarray of float32
        The spread values and the spread confidence (the denominator).

    References
    ----------
    .. [1] E. S. L. Gastal and M. M. Oliveira, "Domain transform for
           edge-aware image and video processing", ACM TOG 30(4), 2011.
    """
    g = guide if guide.ndim == 3 else guide[..., None]
    ratio = sigma_spatial / sigma_range
    # Domain-transform derivative along x and y (distance between neighbours).
    dx = 1.0 + ratio * np.abs(np.diff(g, axis=1)).sum(axis=-1)
    dy = 1.0 + ratio * np.abs(np.diff(g, axis=0)).sum(axis=-1)
    dx = np.concatenate([np.zeros_like(dx[:, :1]), dx], axis=1)
    dy = np.concatenate([np.zeros_like(dy[:1]), dy], axis=0)
    data = np.stack([values * confidence, confidence], axis=-1).astype(np.float32)
    for i in range(num_iter):
        sigma_i = (
            sigma_spatial * np.sqrt(3.0) * 2.0 ** (num_iter - i - 1) / np.sqrt(4.0**num_iter - 1)
        )
        a = np.exp(-np.sqrt(2.0) / sigma_i)
        _recursive_pass(data, (a**dy).astype(np.float32))  # vertical
        data_t = np.ascontiguousarray(data.transpose(1, 0, 2))
        _recursive_pass(data_t, np.ascontiguousarray((a**dx).astype(np.float32).T))
        data = np.ascontiguousarray(data_t.transpose(1, 0, 2))
    num, den = data[..., 0], data[..., 1]
    out = num / np.maximum(den, 1e-12)
    return out.astype(np.float32), den.astype(np.float32)
