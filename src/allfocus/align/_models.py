"""Motion models: parameterisation and Jacobians for Gauss-Newton registration.

Each model is a group of 3x3 matrices acting on normalised coordinates
``u = (x - cx) / L``, ``v = (y - cy) / L`` (``L`` half the longer side), which
keeps the parameters of similar size and the normal equations well
conditioned. Parameters ``p = 0`` give the identity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from allfocus._core.registry import Registry


@dataclass(frozen=True)
class MotionModel:
    """A motion model: its name, number of parameters and rank among models."""

    name: str
    num_params: int
    rank: int

    def steepest_descent(
        self, gx: NDArray, gy: NDArray, u: NDArray, v: NDArray
    ) -> NDArray[np.float32]:
        """(P, n) images ``grad(T) . dW/dp`` at ``p = 0`` for points ``(u, v)``."""
        if self.name == "translation":
            cols = (gx, gy)
        elif self.name == "similarity":
            cols = (gx * u + gy * v, gy * u - gx * v, gx, gy)
        elif self.name == "affine":
            cols = (gx * u, gx * v, gx, gy * u, gy * v, gy)
        else:
            r = gx * u + gy * v
            cols = (gx * u, gx * v, gx, gy * u, gy * v, gy, -u * r, -v * r)
        return np.stack(cols, axis=1).astype(np.float32, copy=False)

    def matrix(self, p: NDArray) -> NDArray[np.float64]:
        """3x3 matrix of parameters ``p`` (normalised coordinates)."""
        m = np.eye(3)
        if self.name == "translation":
            m[0, 2], m[1, 2] = p
        elif self.name == "similarity":
            a, b, tx, ty = p
            m[:2] = [[1 + a, -b, tx], [b, 1 + a, ty]]
        elif self.name == "affine":
            m[:2] = [[1 + p[0], p[1], p[2]], [p[3], 1 + p[4], p[5]]]
        else:
            m[:] = [[1 + p[0], p[1], p[2]], [p[3], 1 + p[4], p[5]], [p[6], p[7], 1.0]]
        return m

    def project(self, m: NDArray) -> NDArray[np.float64]:
        """Closest matrix of this model to ``m`` (least squares on the linear part)."""
        m = np.asarray(m, dtype=np.float64) / m[2, 2]
        out = np.eye(3)
        if self.name == "homography":
            return m.copy()
        out[:2, 2] = m[:2, 2]
        if self.name == "affine":
            out[:2, :2] = m[:2, :2]
        elif self.name == "similarity":
            a = 0.5 * (m[0, 0] + m[1, 1])
            b = 0.5 * (m[1, 0] - m[0, 1])
            out[:2, :2] = [[a, -b], [b, a]]
        return out


MOTION_MODELS: Registry = Registry("alignment model")

for _rank, (_name, _n, _help) in enumerate(
    (
        ("translation", 2, "shift only (stage drift)"),
        ("similarity", 4, "shift, rotation and scale (handheld shake, focus breathing)"),
        ("affine", 6, "similarity plus shear and anisotropic scale"),
        ("homography", 8, "affine plus perspective (camera tilt)"),
    )
):
    MOTION_MODELS.register(_name, help=_help)(MotionModel(_name, _n, _rank))
