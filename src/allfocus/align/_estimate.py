"""Estimate the map of every frame to the reference frame.

Neighbouring frames of a focus stack look alike (nearly the same focus), so
frame ``k`` is registered to its neighbour toward the reference and the maps
are composed. Each pair is registered coarse to fine on a band-passed
luminance pyramid: phase correlation gives the translation at a coarse level,
Gauss-Newton (:mod:`allfocus.align._lk`) fits the motion model from the
coarsest level down to at most 6 megapixels (full resolution for ordinary
frames, half resolution for 24 MP ones).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray

from allfocus._core.errors import InputError
from allfocus._core.validate import luminance
from allfocus.align import _lk
from allfocus.align._models import MOTION_MODELS, MotionModel

logger = logging.getLogger(__name__)

#: Pixels above which the finest fit runs at a coarser pyramid level.
REFINE_PIXELS = 6_000_000
#: Shortest side (pixels) of the coarsest pyramid level.
COARSE_SIDE = 40
#: Longest side of the level where phase correlation runs.
PHASE_SIDE = 256
#: Longest side of the level where "auto" compares models and failures are judged.
SELECT_SIDE = 512
#: Smallest correlation of two registered neighbours (same scene gives > 0.7,
#: unrelated scenes < 0.3 on band-passed luminance).
RHO_MIN = 0.4
#: Smallest fraction of a frame that must overlap its neighbour.
MIN_OVERLAP = 0.25
#: A pair counts as already aligned below these full-resolution motions (pixels) ...
ALIGNED_SHIFT = 0.05
ALIGNED_CORNERS = 0.1
#: ... or when its best similarity moves no corner by this much and explains so
#: little of the difference of the two frames that ``1 - rho`` keeps this
#: fraction of its value at the identity (defocus differences, not motion).
INSIGNIFICANT_CORNERS = 0.5
INSIGNIFICANT_GAIN = 0.9
#: "auto" takes a richer model when its fit moves a frame corner by more than
#: this many pixels and lowers the residual 1 - rho by at least this factor ...
MODEL_CORNERS = 0.5
MODEL_GAIN = 0.9
#: ... for at least this fraction of the frame pairs.
MODEL_VOTE = 0.5

Progress = Callable[[int, int], None] | None


@dataclass(frozen=True)
class Plan:
    """Pyramid levels used for a frame shape (0 = full resolution)."""

    shape: tuple[int, int]
    finest: int
    coarsest: int
    phase: int
    select: int

    @classmethod
    def for_shape(cls, shape: tuple[int, int]) -> Plan:
        """Levels for frames of ``shape``."""
        h, w = shape
        finest = 0
        while h * w / 4.0**finest > REFINE_PIXELS:
            finest += 1
        coarsest = finest
        while min(h, w) / 2.0 ** (coarsest + 1) >= COARSE_SIDE:
            coarsest += 1
        select = finest
        while max(h, w) / 2.0**select > SELECT_SIDE and select < coarsest:
            select += 1
        phase = select
        while max(h, w) / 2.0**phase > PHASE_SIDE and phase < coarsest:
            phase += 1
        return cls(shape, finest, coarsest, phase, select)


class FrameSource:
    """Band-passed pyramids of the stack's frames, built on demand (LRU cache)."""

    def __init__(self, stack: NDArray[np.float32], *, color: bool, plan: Plan) -> None:
        self.stack = stack
        self.color = color
        self.plan = plan
        self._cache: OrderedDict[int, dict] = OrderedDict()
        self.capacity = 3

    def _entry(self, k: int) -> dict:
        if k in self._cache:
            self._cache.move_to_end(k)
            return self._cache[k]
        lum = np.ascontiguousarray(luminance(self.stack[k], color=self.color), dtype=np.float32)
        levels = _lk.pyramid(lum, self.plan.coarsest + 1)
        entry = {"lum": {i: levels[i] for i in range(self.plan.finest, len(levels))}}
        entry["rep"], entry["tpl"] = {}, {}
        self._cache[k] = entry
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)
        return entry

    def rep(self, k: int, level: int) -> NDArray[np.float32]:
        """Band-passed luminance of frame ``k`` at ``level``."""
        entry = self._entry(k)
        if level not in entry["rep"]:
            entry["rep"][level] = _lk.band_pass(entry["lum"][level])
        return entry["rep"][level]

    def template(self, k: int, level: int) -> _lk.Template:
        """Frame ``k`` at ``level`` prepared as a registration template."""
        entry = self._entry(k)
        if level not in entry["tpl"]:
            entry["tpl"][level] = _lk.Template.build(self.rep(k, level))
        return entry["tpl"][level]


@dataclass
class PairFit:
    """Maps (target pixel -> moving pixel, full resolution) of one frame pair."""

    target: int
    moving: int
    matrices: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    rhos: dict[str, float] = field(default_factory=dict)


def _corner_motion(a: NDArray, b: NDArray, shape: tuple[int, int]) -> float:
    """Largest distance between the frame corners mapped by ``a`` and by ``b``."""
    h, w = shape
    c = np.array([[0, w - 1, 0, w - 1], [0, 0, h - 1, h - 1], [1, 1, 1, 1]], dtype=np.float64)
    pa, pb = a @ c, b @ c
    pa, pb = pa[:2] / pa[2], pb[:2] / pb[2]
    return float(np.sqrt(((pa - pb) ** 2).sum(axis=0)).max())


def _frame_quad(shape: tuple[int, int]) -> NDArray[np.float64]:
    h, w = shape
    return np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float64)


def check_matrix(matrix: NDArray, shape: tuple[int, int]) -> str | None:
    """Why a target->moving map is unusable (degenerate, too little overlap), or None."""
    m = np.asarray(matrix, dtype=np.float64)
    if not np.isfinite(m).all() or abs(m[2, 2]) < 1e-12:
        return "registration diverged (non-finite transform)"
    m = m / m[2, 2]
    det = float(np.linalg.det(m[:2, :2]))
    if not 0.25 < det < 4.0:
        return f"degenerate transform (area scale {det:.3g})"
    quad = _frame_quad(shape)
    hom = np.c_[quad, np.ones(4)] @ m.T
    if (hom[:, 2] <= 0).any():
        return "degenerate transform (frame folds behind the camera)"
    mapped = (hom[:, :2] / hom[:, 2:]).astype(np.float32)
    if not cv2.isContourConvex(mapped.reshape(-1, 1, 2)):
        return "degenerate transform (frame is folded)"
    area, _ = cv2.intersectConvexConvex(quad.astype(np.float32), mapped)
    frac = float(area) / float((shape[0] - 1) * (shape[1] - 1))
    if frac < MIN_OVERLAP:
        return f"too little overlap with its neighbour ({100 * frac:.0f} % of the frame)"
    return None


def phase_shift(
    a: NDArray[np.float32], b: NDArray[np.float32]
) -> tuple[NDArray[np.float64], float]:
    """Translation ``d`` with ``b(x + d) ~ a(x)`` by windowed phase correlation."""
    window = cv2.createHanningWindow((a.shape[1], a.shape[0]), cv2.CV_32F)
    # OpenCV 5 applies the window to its inputs in place: pass copies.
    (dx, dy), response = cv2.phaseCorrelate(a.copy(), b.copy(), window)
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]]), float(response)


def _to_uint8(image: NDArray[np.float32]) -> NDArray[np.uint8]:
    scaled = np.clip(image * (255 / 6.0) + 127.5, 0, 255)
    return scaled.astype(np.uint8)


def feature_map(a: NDArray[np.float32], b: NDArray[np.float32]) -> NDArray[np.float64] | None:
    """Similarity ``b <- a`` from SIFT matches and RANSAC, or None when too few match."""
    sift = cv2.SIFT_create(nfeatures=2000)
    ka, da = sift.detectAndCompute(_to_uint8(a), None)
    kb, db = sift.detectAndCompute(_to_uint8(b), None)
    if da is None or db is None or len(ka) < 8 or len(kb) < 8:
        return None
    matches = cv2.BFMatcher(cv2.NORM_L2).knnMatch(da, db, k=2)
    good = [m[0] for m in matches if len(m) == 2 and m[0].distance < 0.75 * m[1].distance]
    if len(good) < 8:
        return None
    pa = np.float32([ka[m.queryIdx].pt for m in good])
    pb = np.float32([kb[m.trainIdx].pt for m in good])
    m, inliers = cv2.estimateAffinePartial2D(pa, pb, method=cv2.RANSAC, ransacReprojThreshold=2.0)
    if m is None or inliers is None or int(inliers.sum()) < 8:
        return None
    return np.vstack([m, [0.0, 0.0, 1.0]])


def _fit_levels(
    src: FrameSource,
    pair: tuple[int, int],
    model: MotionModel,
    matrix: NDArray,
    levels: range,
) -> tuple[NDArray[np.float64], float]:
    """Fit ``model`` at ``levels`` (coarse to fine); full-resolution map and last rho."""
    target, moving = pair
    rho = float("nan")
    for level in levels:
        finest = level == src.plan.finest
        result = _lk.fit(
            src.template(target, level),
            src.rep(moving, level),
            model,
            _lk.to_level(matrix, level),
            max_iter=20 if finest else 30,
            tol=1e-3 if finest else 1e-2,
        )
        matrix = _lk.from_level(result.matrix, level)
        rho = result.rho
    return matrix, rho


def _initial_maps(src: FrameSource, target: int, moving: int) -> Iterator[NDArray[np.float64]]:
    """Starting maps to try, most likely first (computed lazily)."""
    level = src.plan.phase
    shift, _ = phase_shift(src.rep(target, level), src.rep(moving, level))
    yield _lk.from_level(shift, level)
    yield np.eye(3)
    feat = feature_map(src.rep(target, level), src.rep(moving, level))
    if feat is not None:
        yield _lk.from_level(feat, level)


def register_coarse(
    src: FrameSource, target: int, moving: int, models: list[MotionModel]
) -> PairFit | str:
    """Register ``moving`` to ``target`` down to the select level for each of ``models``.

    Returns the fits, or why the pair cannot be registered.
    """
    plan = src.plan
    base = models[0] if models[0].name == "translation" else MOTION_MODELS.get("similarity")
    coarse_levels = range(plan.coarsest, plan.select - 1, -1)
    best_reason, best_rho = "registration failed", -np.inf
    for init in _initial_maps(src, target, moving):
        matrix, rho = _fit_levels(src, (target, moving), base, init, coarse_levels)
        reason = check_matrix(matrix, plan.shape)
        if reason is None and not rho >= RHO_MIN:
            reason = f"low correlation with frame {target} ({rho:.2f} < {RHO_MIN})"
        if reason is None:
            break
        if np.isfinite(rho) and rho > best_rho:
            best_reason, best_rho = reason, rho
    else:
        return best_reason
    fit = PairFit(target, moving, {base.name: matrix}, {base.name: rho})
    # Richer models start from the best simpler fit, at the select level only.
    current = matrix
    for name in ("affine", "homography"):
        wanted = MOTION_MODELS.get(name)
        if wanted.rank > max(m.rank for m in models):
            break
        select = range(plan.select, plan.select - 1, -1)
        current, r = _fit_levels(src, (target, moving), wanted, current, select)
        if check_matrix(current, plan.shape) is not None:
            break
        fit.matrices[name], fit.rhos[name] = current, r
    return fit


def choose_model(fits: list[PairFit], shape: tuple[int, int]) -> str:
    """Pick the model for "auto": a richer one only where it clearly fits better.

    A richer model wins over the current choice when, for at least
    ``MODEL_VOTE`` of the frame pairs, its fit moves a frame corner by more
    than ``MODEL_CORNERS`` pixels from the current one and lowers the residual
    ``1 - rho`` by the factor ``MODEL_GAIN``.
    """
    chosen = "similarity"
    for richer in ("affine", "homography"):
        votes = []
        for f in fits:
            if richer not in f.matrices or chosen not in f.matrices:
                votes.append(False)
                continue
            moved = _corner_motion(f.matrices[chosen], f.matrices[richer], shape)
            gain = (1.0 - f.rhos[richer]) / max(1.0 - f.rhos[chosen], 1e-12)
            votes.append(moved > MODEL_CORNERS and gain < MODEL_GAIN)
        if votes and np.mean(votes) >= MODEL_VOTE:
            chosen = richer
    return chosen


def pair_is_aligned(src: FrameSource, target: int, moving: int) -> bool:
    """Cheap test at the select level: is there no motion worth correcting?

    True for a phase-correlation shift below ``ALIGNED_SHIFT`` and a
    similarity fit from the identity that moves no corner by
    ``ALIGNED_CORNERS``; also when the fit moves no corner by
    ``INSIGNIFICANT_CORNERS`` and barely lowers the residual (small, strongly
    defocused frames show sub-pixel apparent motion that no map explains).
    """
    level = src.plan.select
    tpl, image = src.template(target, level), src.rep(moving, level)
    shift, _ = phase_shift(tpl.image, image)
    phase_px = float(np.hypot(shift[0, 2], shift[1, 2])) * 2.0**level
    if phase_px >= INSIGNIFICANT_CORNERS:
        return False
    similarity = MOTION_MODELS.get("similarity")
    result = _lk.fit(tpl, image, similarity, np.eye(3), max_iter=10, tol=1e-3)
    moved = _corner_motion(_lk.from_level(result.matrix, level), np.eye(3), src.plan.shape)
    rho_fit = _lk.correlation(tpl, image, result.matrix)
    if not rho_fit >= RHO_MIN:
        return False
    if phase_px < ALIGNED_SHIFT and moved < ALIGNED_CORNERS:
        return True
    if moved >= INSIGNIFICANT_CORNERS:
        return False
    rho_id = _lk.correlation(tpl, image, np.eye(3))
    gain = (1.0 - rho_fit) / max(1.0 - rho_id, 1e-12)
    return bool(gain > INSIGNIFICANT_GAIN)


def link_order(num_frames: int, reference: int) -> list[int]:
    """Frames in registration order: outward from the reference on each side."""
    return [*range(reference - 1, -1, -1), *range(reference + 1, num_frames)]


def estimate(
    stack: NDArray[np.float32],
    *,
    color: bool,
    model: str,
    reference: int,
    progress: Progress = None,
    progress_total: int | None = None,
) -> tuple[NDArray[np.float64], str, dict[int, str]]:
    """Maps of every frame to ``reference``; see :func:`allfocus.align.estimate_transforms`."""
    num = stack.shape[0]
    shape = stack.shape[1:3]
    if min(shape) < 16:
        raise InputError(f"frames must be at least 16x16 pixels to be aligned; got {shape}")
    plan = Plan.for_shape(shape)
    src = FrameSource(stack, color=color, plan=plan)
    order = link_order(num, reference)
    steps = 2 * len(order)
    total = steps if progress_total is None else progress_total
    done = 0

    def tick(n: int = 1) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    transforms = np.full((num, 3, 3), np.nan)
    transforms[reference] = np.eye(3)
    if not order:
        tick(0)
        return transforms, "identity" if model == "auto" else model, {}

    if model == "auto" and all(
        pair_is_aligned(src, k + 1 if k < reference else k - 1, k) for k in order
    ):
        logger.debug("stack is already aligned; returning identity transforms")
        transforms[:] = np.eye(3)
        tick(steps)
        return transforms, "identity", {}

    if model == "auto":
        candidates = [MOTION_MODELS.get(n) for n in ("similarity", "affine", "homography")]
    else:
        candidates = [MOTION_MODELS.get(model)]
    dropped: dict[int, str] = {}
    fits: dict[int, PairFit] = {}
    for k in order:
        side = range(k + 1, reference + 1) if k < reference else range(k - 1, reference - 1, -1)
        target = next(t for t in side if t not in dropped)
        result = register_coarse(src, target, k, candidates)
        if isinstance(result, str):
            dropped[k] = result
            logger.info("frame %d cannot be aligned: %s", k, result)
        else:
            fits[k] = result
        tick()
    chosen = choose_model(list(fits.values()), shape) if model == "auto" else model
    final = MOTION_MODELS.get(chosen)
    fine_levels = range(plan.select - 1, plan.finest - 1, -1)
    for k in order:
        if k in fits:
            f = fits[k]
            start = next(
                f.matrices[n]
                for n in ("homography", "affine", "similarity", "translation")
                if n in f.matrices and MOTION_MODELS.get(n).rank <= final.rank
            )
            matrix, _ = _fit_levels(src, (f.target, k), final, start, fine_levels)
            reason = check_matrix(matrix, shape)
            if reason is not None:
                dropped[k] = reason
            else:
                transforms[k] = transforms[f.target] @ np.linalg.inv(matrix)
                transforms[k] /= transforms[k][2, 2]
                if not np.isfinite(transforms[k]).all():  # its target was dropped late
                    dropped[k] = f"its neighbour frame {f.target} could not be aligned"
        tick()
    for k in dropped:
        transforms[k] = np.nan
    return transforms, chosen, dict(sorted(dropped.items()))
