"""Coarse-to-fine inverse-compositional Gauss-Newton image registration.

The Lucas-Kanade / Baker-Matthews inverse-compositional algorithm [1]_ on a
set of sample points (the strongest template gradients), with

* a per-iteration gain and offset fit, as in ECC [2]_, so exposure changes do
  not bias the geometry;
* Huber weights (iteratively reweighted least squares), so occlusion rims and
  detail that is in focus in only one of the two frames pull less.

Images are band-passed luminance: a small Gaussian removes noise and the
finest detail (which defocus changes most between frames) and subtracting a
wide Gaussian removes illumination gradients and vignetting. A symmetric
defocus blur lowers the contrast of a structure without moving it, so the
optimum stays (nearly) where the geometry is.

References
----------
.. [1] S. Baker and I. Matthews, "Lucas-Kanade 20 years on: a unifying
       framework", IJCV 56(3), 2004.
.. [2] G. Evangelidis and E. Psarakis, "Parametric image alignment using
       enhanced correlation coefficient maximization", IEEE TPAMI 30(10), 2008.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from allfocus.align._models import MotionModel

#: Gaussian sigma (level pixels) of the noise/detail filter.
SMOOTH_SIGMA = 1.0
#: Gaussian sigma (level pixels) of the illumination filter that is subtracted.
BACKGROUND_SIGMA = 12.0
#: Most sample points used at one level (strongest gradients first).
MAX_POINTS = 100_000
#: Huber threshold, in robust standard deviations of the residual.
HUBER = 1.0


def band_pass(lum: NDArray[np.float32]) -> NDArray[np.float32]:
    """Band-passed, contrast-normalised luminance used for registration."""
    fine = cv2.GaussianBlur(lum, (0, 0), SMOOTH_SIGMA, borderType=cv2.BORDER_REFLECT)
    coarse = cv2.GaussianBlur(lum, (0, 0), BACKGROUND_SIGMA, borderType=cv2.BORDER_REFLECT)
    out = fine - coarse
    std = float(out.std())
    return out / std if std > 0 else out


def pyramid(lum: NDArray[np.float32], levels: int) -> list[NDArray[np.float32]]:
    """Luminance pyramid (finest first); ``pyrDown`` keeps pixel ``i`` at ``2 i``."""
    out = [lum]
    for _ in range(levels - 1):
        out.append(cv2.pyrDown(out[-1], borderType=cv2.BORDER_REFLECT))
    return out


def scale_matrix(factor: float) -> NDArray[np.float64]:
    """Map level pixels to pixels ``factor`` times finer (pyrDown convention)."""
    return np.diag([factor, factor, 1.0])


def to_level(m: NDArray, level: int) -> NDArray[np.float64]:
    """Express a full-resolution pixel map at pyramid ``level``."""
    s = scale_matrix(2.0**level)
    return np.linalg.inv(s) @ m @ s


def from_level(m: NDArray, level: int) -> NDArray[np.float64]:
    """Express a pixel map at pyramid ``level`` at full resolution."""
    s = scale_matrix(2.0**level)
    return s @ m @ np.linalg.inv(s)


def normaliser(shape: tuple[int, int]) -> NDArray[np.float64]:
    """Map pixels to centred coordinates in units of half the longer side."""
    h, w = shape
    half = max(h, w) / 2.0
    return np.array(
        [[1 / half, 0, -(w - 1) / 2 / half], [0, 1 / half, -(h - 1) / 2 / half], [0, 0, 1]]
    )


@dataclass
class Template:
    """A reference image prepared for repeated inverse-compositional fits."""

    image: NDArray[np.float32]
    xs: NDArray[np.float32]
    ys: NDArray[np.float32]
    values: NDArray[np.float32]
    gx: NDArray[np.float32]
    gy: NDArray[np.float32]
    norm: NDArray[np.float64]

    def __post_init__(self) -> None:
        self._sd: dict[str, NDArray[np.float32]] = {}

    @classmethod
    def build(cls, image: NDArray[np.float32], *, max_points: int | None = None) -> Template:
        """Select sample points (strongest gradients) of a band-passed image."""
        h, w = image.shape
        max_points = int(MAX_POINTS if max_points is None else max_points)
        border = cv2.BORDER_REFLECT
        gx = cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=3, scale=1 / 8, borderType=border)
        gy = cv2.Sobel(image, cv2.CV_32F, 0, 1, ksize=3, scale=1 / 8, borderType=border)
        margin = 2
        inner = (slice(margin, h - margin), slice(margin, w - margin))
        mag = (gx[inner] ** 2 + gy[inner] ** 2).ravel()
        if mag.size > max_points:
            idx = np.argpartition(mag, mag.size - max_points)[-max_points:]
        else:
            idx = np.arange(mag.size)
        iw = w - 2 * margin
        rows = idx // iw + margin
        cols = idx % iw + margin
        return cls(
            image=image,
            xs=cols.astype(np.float32),
            ys=rows.astype(np.float32),
            values=image[rows, cols],
            gx=gx[rows, cols],
            gy=gy[rows, cols],
            norm=normaliser((h, w)),
        )

    def steepest_descent(self, model: MotionModel) -> NDArray[np.float32]:
        """Cached (n, P) steepest-descent images of ``model`` at the sample points."""
        if model.name not in self._sd:
            n = self.norm
            half = np.float32(1.0 / n[0, 0])
            u = self.xs * np.float32(n[0, 0]) + np.float32(n[0, 2])
            v = self.ys * np.float32(n[1, 1]) + np.float32(n[1, 2])
            sd = model.steepest_descent(self.gx * half, self.gy * half, u, v)
            self._sd[model.name] = np.ascontiguousarray(sd.T)
        return self._sd[model.name]


@dataclass
class Fit:
    """Outcome of one registration: map, correlation and overlap."""

    matrix: NDArray[np.float64]  # template pixel -> image pixel
    rho: float  # correlation of template and warped image on the overlap (NaN: failed)
    overlap: float  # fraction of sample points that fell inside the image
    iterations: int


def sample(
    image: NDArray[np.float32], matrix: NDArray, xs: NDArray, ys: NDArray
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """Values of ``image`` at ``matrix @ (xs, ys, 1)`` and whether they are inside."""
    h, w = image.shape
    m = matrix.astype(np.float32)
    px = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
    py = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
    if matrix[2, 0] != 0 or matrix[2, 1] != 0:
        pz = m[2, 0] * xs + m[2, 1] * ys + m[2, 2]
        px /= pz
        py /= pz
    inside = (px >= 0) & (px <= w - 1) & (py >= 0) & (py <= h - 1)
    # remap wants maps narrower than 32767 columns: lay the points out in rows.
    n = px.size
    cols = min(n, 4096)
    rows = -(-n // cols)
    pad = rows * cols - n
    mx = np.pad(px, (0, pad)).reshape(rows, cols)
    my = np.pad(py, (0, pad)).reshape(rows, cols)
    vals = cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return vals.ravel()[:n], inside


def correlation(tpl: Template, image: NDArray[np.float32], matrix: NDArray) -> float:
    """Correlation of ``tpl`` and ``image(matrix x)`` on the sample points inside."""
    vals, inside = sample(image, np.asarray(matrix, dtype=np.float64), tpl.xs, tpl.ys)
    if np.count_nonzero(inside) < 16:
        return float("nan")
    t = tpl.values[inside]
    v = vals[inside]
    t = t - t.mean()
    v = v - v.mean()
    denom = float(np.sqrt(float(t @ t) * float(v @ v)))
    return float(t @ v) / denom if denom > 0 else float("nan")


_CORNERS = np.array([[-1, 1, -1, 1], [-1, -1, 1, 1], [1, 1, 1, 1]], dtype=np.float64)


def fit(
    tpl: Template,
    image: NDArray[np.float32],
    model: MotionModel,
    init: NDArray,
    *,
    max_iter: int = 30,
    tol: float = 1e-3,
) -> Fit:
    """Robust inverse-compositional Gauss-Newton fit of ``model`` at one level.

    Finds ``W`` (template pixel -> image pixel) so that ``image(W x)`` matches
    ``tpl(x)`` up to gain and offset, starting from ``init``. Stops when an
    update moves no frame corner by more than ``tol`` level pixels.
    """
    sd = tpl.steepest_descent(model)
    norm, inv_norm = tpl.norm, np.linalg.inv(tpl.norm)
    w_n = norm @ np.asarray(init, dtype=np.float64) @ inv_norm
    half = 1.0 / norm[0, 0]
    num = tpl.values.size
    rho, overlap, it = float("nan"), 0.0, 0
    for it in range(1, max_iter + 1):  # noqa: B007
        vals, inside = sample(image, inv_norm @ w_n @ norm, tpl.xs, tpl.ys)
        count = int(np.count_nonzero(inside))
        overlap = count / num
        if count < 8 * model.num_params:
            rho = float("nan")
            break
        all_in = count == num
        t = tpl.values if all_in else tpl.values[inside]
        iv = vals if all_in else vals[inside]
        tc = t - t.mean()
        ic = iv - iv.mean()
        t_norm = float(np.sqrt(tc @ tc))
        i_norm = float(np.sqrt(ic @ ic))
        if i_norm == 0 or t_norm == 0:
            rho = float("nan")
            break
        rho = float(tc @ ic) / (t_norm * i_norm)
        err = ic * np.float32(t_norm / i_norm) - tc
        mag = np.abs(err)
        cut = np.float32(HUBER * 1.2533 * float(mag.mean()))  # mean |e| -> sigma
        weights = np.minimum(np.float32(1.0), cut / np.maximum(mag, np.float32(1e-12)))
        sdv = sd if all_in else np.compress(inside, sd, axis=1)
        # The gradient needs float64 sums (it vanishes at the optimum); the
        # Hessian only shapes the step, float32 is ample.
        b = np.einsum("ip,p->i", sdv, weights * err, dtype=np.float64)
        hess = ((sdv * weights) @ sdv.T).astype(np.float64)
        try:
            dp = np.linalg.solve(hess, b)
        except np.linalg.LinAlgError:
            rho = float("nan")
            break
        dw = model.matrix(dp)
        w_n = w_n @ np.linalg.inv(dw)
        w_n /= w_n[2, 2]
        moved = dw @ _CORNERS
        moved = moved[:2] / moved[2]
        if np.abs(moved - _CORNERS[:2]).max() * half < tol:
            break
    return Fit(inv_norm @ w_n @ norm, rho, overlap, it)
