"""Guided filter (He, Sun and Tang), written with box filters.

``cv2.ximgproc.guidedFilter`` lives in opencv-contrib, which the headless wheel
lacks; the filter is a handful of box filters, and ``cv2.boxFilter`` runs in
constant time per pixel whatever the radius, so this version is as fast.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from allfocus._core.errors import InputError
from allfocus._core.validate import FLOAT, as_float_image, move_channels_last

_BORDER = cv2.BORDER_REFLECT


def box_mean(image: NDArray[np.float32], radius: int) -> NDArray[np.float32]:
    """Mean over a ``(2 * radius + 1)`` square window, reflecting at the borders.

    Parameters
    ----------
    image : (M, N[, K]) ndarray of float32
        Image; every channel is filtered independently.
    radius : int
        Window radius in pixels; 0 returns a copy.

    Returns
    -------
    (M, N[, K]) ndarray of float32

    Examples
    --------
    >>> import numpy as np
    >>> box_mean(np.ones((5, 5), np.float32), 2).min()
    np.float32(1.0)
    """
    if radius <= 0:
        return np.array(image, dtype=FLOAT, copy=True)
    size = 2 * int(radius) + 1
    return cv2.boxFilter(image, -1, (size, size), normalize=True, borderType=_BORDER)


def guide_statistics(
    guide: NDArray[np.float32], radius: int, eps: float
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Box mean of a grey guide and its variance plus ``eps``: what every
    source filtered by the same guide shares (see :func:`_guided_grey`)."""
    mean_i = box_mean(guide, radius)
    denom = box_mean(guide * guide, radius) - mean_i * mean_i
    np.maximum(denom, 0.0, out=denom)
    denom += FLOAT(eps)
    return mean_i, denom


def _guided_grey(
    src: NDArray[np.float32],
    guide: NDArray[np.float32],
    radius: int,
    eps: float,
    stats: tuple[NDArray[np.float32], NDArray[np.float32]] | None = None,
) -> NDArray[np.float32]:
    """Guided filter of ``src`` (M, N[, K]) by the grey guide (M, N); no checks.

    ``stats``: the guide's :func:`guide_statistics`, when several sources share it.
    """
    mean_i, denom = guide_statistics(guide, radius, eps) if stats is None else stats
    if src.ndim == 3:
        mean_i, denom, guide_b = mean_i[..., None], denom[..., None], guide[..., None]
    else:
        guide_b = guide
    # In place where the arithmetic allows (the same operations in the same
    # order): at most four image-sized arrays alive instead of seven.
    mean_p = box_mean(src, radius)
    a = box_mean(src * guide_b, radius)
    a -= mean_i * mean_p  # the covariance of guide and source
    a /= denom
    b = mean_p
    b -= a * mean_i
    out = box_mean(a, radius)
    del a
    out *= guide_b
    out += box_mean(b, radius)
    return out


def _guided_color(
    src: NDArray[np.float32], guide: NDArray[np.float32], radius: int, eps: float
) -> NDArray[np.float32]:
    """Guided filter of grey ``src`` (M, N) by a 3-channel guide (M, N, 3); no checks."""
    mean_i = box_mean(guide, radius)  # (M, N, 3)
    mean_p = box_mean(src, radius)
    cov_ip = box_mean(guide * src[..., None], radius) - mean_i * mean_p[..., None]
    # Covariance of the guide: six distinct entries of a symmetric 3x3 matrix.
    sigma = np.empty((*src.shape, 3, 3), dtype=FLOAT)
    for i in range(3):
        for j in range(i, 3):
            cij = box_mean(guide[..., i] * guide[..., j], radius) - mean_i[..., i] * mean_i[..., j]
            sigma[..., i, j] = cij
            sigma[..., j, i] = cij
    sigma += FLOAT(eps) * np.eye(3, dtype=FLOAT)
    a = np.linalg.solve(sigma, cov_ip[..., None])[..., 0].astype(FLOAT, copy=False)
    b = mean_p - np.einsum("...c,...c->...", a, mean_i)
    return np.einsum("...c,...c->...", box_mean(a, radius), guide) + box_mean(b, radius)


def guided_filter(
    image: NDArray,
    guide: NDArray,
    *,
    radius: int = 8,
    eps: float = 1e-2,
    channel_axis: int | None = None,
) -> NDArray[np.float32]:
    """Edge-preserving smoothing of ``image`` steered by the edges of ``guide``.

    The output is locally a linear function of the guide, ``q = a * I + b``,
    with ``a`` and ``b`` fitted by least squares in every window and averaged,
    so it follows the guide's edges while smoothing elsewhere.

    Parameters
    ----------
    image : (M, N[, C]) ndarray
        Image to filter; channels are filtered independently.
    guide : (M, N[, 3]) ndarray
        Guidance image. A grey guide may steer a colour ``image``; a colour
        guide (channels on ``channel_axis``) uses the full colour model of the
        paper, with ``image`` grey or colour.
    radius : int
        Window radius in pixels (window side ``2 * radius + 1``).
    eps : float
        Regularisation, in squared intensity units: edges whose variance in
        the window is well above ``eps`` are kept, weaker ones smoothed.
    channel_axis : int or None
        Colour axis of ``image`` and of a colour ``guide``; ``None`` for grey.

    Returns
    -------
    (M, N[, C]) ndarray of float32
        The filtered image in the layout of ``image`` (not clipped).

    Raises
    ------
    InputError
        If the shapes do not match, ``radius`` is negative or ``eps`` is not positive.

    References
    ----------
    .. [1] K. He, J. Sun and X. Tang, "Guided Image Filtering", IEEE TPAMI 35(6),
       pp. 1397-1409, 2013. :DOI:`10.1109/TPAMI.2012.213`

    Examples
    --------
    >>> import numpy as np
    >>> step = np.repeat([[0.0] * 8 + [1.0] * 8], 16, axis=0).astype(np.float32)
    >>> noisy = step + np.random.default_rng(0).normal(0, 0.05, step.shape).astype(np.float32)
    >>> out = guided_filter(noisy, step, radius=2, eps=1e-3)
    >>> bool(abs(out - step).max() < abs(noisy - step).max())
    True
    """
    if int(radius) != radius or radius < 0:
        raise InputError(f"radius must be a non-negative integer; got {radius}")
    if not eps > 0:
        raise InputError(f"eps must be positive; got {eps}")
    src = as_float_image(move_channels_last(np.asarray(image), channel_axis, stack=False))
    ndim = np.ndim(image)
    if np.ndim(guide) == 3:
        if channel_axis is None:
            raise InputError("a 3-D guide needs channel_axis to say where its colour is")
        gd = as_float_image(
            move_channels_last(np.asarray(guide), channel_axis, stack=False), name="guide"
        )
    else:
        gd = as_float_image(guide, name="guide")
    if gd.shape[:2] != src.shape[:2] or gd.ndim not in (2, 3):
        raise InputError(
            f"guide must be (M, N) or (M, N, 3) with the image's spatial shape "
            f"{src.shape[:2]}; got {gd.shape}"
        )
    if src.ndim not in (2, 3):
        raise InputError(f"image must be 2-D or 3-D with channel_axis; got shape {np.shape(image)}")
    radius = int(radius)
    if gd.ndim == 2:
        out = _guided_grey(src, gd, radius, eps)
    elif gd.shape[-1] == 1:
        out = _guided_grey(src, gd[..., 0], radius, eps)
    elif gd.shape[-1] == 3:
        if src.ndim == 2:
            out = _guided_color(src, gd, radius, eps)
        else:
            out = np.stack(
                [_guided_color(src[..., c], gd, radius, eps) for c in range(src.shape[-1])], axis=-1
            )
    else:
        raise InputError(f"a colour guide must have 3 channels; got {gd.shape[-1]}")
    out = out.astype(FLOAT, copy=False)
    if channel_axis is not None and out.ndim == 3:
        out = np.moveaxis(out, -1, channel_axis % ndim)
    return out


def halo(*, radius: int = 8) -> int:
    """Pixels the guided filter looks beyond a tile (two chained box filters)."""
    return 2 * int(radius)


__all__ = ["box_mean", "guided_filter", "halo"]
