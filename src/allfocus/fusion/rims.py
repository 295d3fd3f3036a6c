"""Un-mixing the occlusion rim: the background hidden under a near object's blur.

Where a near object stands in front of a far background, every frame focused
on the background shows the object's rim blurred over it: the background
pixels next to the object are a mix of their own (sharp) colour and the
object's spread colour. No frame holds them clean, so a method that copies
each pixel from one frame leaves either that glow (a halo) or, taking the
near frame, a blurred background. On allfocus's synthetic stacks this band,
about 6 % of the pixels, holds 45 % of the remaining error of ``depthmap``
at 5 frames and 86 % at 10.

The mix is known well enough to be undone. In the frame ``k`` focused on a
background pixel, the objects nearer than it are seen through a disc blur
``B_r`` of radius ``r`` growing with their distance in focus steps, so

    frame_k = B_r(mask * near) + (1 - B_r(mask)) * background

and the background follows as ``(frame_k - B_r(mask * near)) / (1 - B_r(mask))``,
with ``mask`` and ``near`` (the near objects' outline and sharp colours) taken
from the depth map and the fused image. Where ``B_r(mask)`` comes close to 1
the background is hidden and the fused pixel is kept.

What has to be estimated from the stack itself:

* the blur added by one focus step (fitted by blurring each frame's sharp
  regions until they match the next frame there); a stack whose blur does
  not grow with the frame step (shuffled frames, frames not in focus order)
  fails the fit and is left as fused;
* which end of the stack is near: at a depth edge, the frame focused on the
  near side shows the edge sharp (the near object covers the background),
  the frame focused on the far side shows it spread; with no clear vote the
  stack is left as fused;
* the object's true outline: a decision map draws the near side one to three
  pixels too wide (next to a sharp edge the near frame scores higher even on
  the background). Each such pixel is tested against the near frame, where a
  background pixel shows the un-mixed background blurred by the known
  radius, and moves to the background when it matches.

The model checks itself, since a real stack need not follow it (lenses are
not ideal discs, and a surface outside the focus range gives a depth map of
noise whose label edges are no occlusions): an occluder must appear in the
frame being un-mixed as its own frame blurred by the fitted radius; each
un-mixed rim (a connected part) must predict the neighbouring frames with at
most 0.7 times the error of the selected pixels; and when fewer than a
quarter of the candidate rim pixels pass, the stack is left as fused. On the
real stacks and Lytro pairs at hand nothing has passed yet
(``benchmarks/bench_defocus_model.py``); without these checks the rims of a
real circuit-board stack were painted with blotches.

Hand-written because no library models occlusion defocus; the blur is
OpenCV's ``filter2D`` with the disc point-spread function of
:func:`allfocus.restore.psf.disc_psf`, the same model as
:mod:`allfocus.synth`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from allfocus._core.validate import FLOAT
from allfocus.restore.psf import disc_psf

FrameSource = Callable[[int], NDArray[np.float32]]

#: Bins of defocus (in focus steps) that share one blur radius.
_BIN = 0.5
#: Fraction of the background that must show through for it to be un-mixed;
#: the un-mixed value is faded in between this and twice it.
_VISIBLE = 0.2
#: Least vote (of -1..1) for deciding which end of the stack is near: the
#: summed vote of pairs and triples.
_MIN_VOTE = 0.15
#: The same for the counted vote from four frames on (10 synthetic stacks of 5
#: and 10 frames: 0.36-0.65 on both methods' depth maps; real stacks: -0.29 to
#: 0.18, and none of them is un-mixed).
_MIN_SHARE = 0.25
#: Blur per focus step (pixels) below which the rim is too thin to matter.
_MIN_STEP = 0.5
#: An un-mixed pixel is kept where it predicts a neighbouring frame with at
#: most this fraction of the error of the selected pixel.
_BETTER = 0.7
#: Least mean prediction error (of [0, 1] values, summed over the neighbours
#: checked) of the selected pixels of a rim: below it there is no glow to undo.
_GLOW = 0.01
#: Mean absolute difference (of [0, 1] values) between a near frame and the
#: un-mixed background blurred as that frame would show it, above which a
#: pixel labelled far beside a nearer region is taken for the near object's
#: own edge (5- and 10-frame synthetic stacks: +0.02 to +0.08 dB for depthmap,
#: +0.05 to +0.27 dB for gacn; 0.04 lowered both).
_FOREIGN = 0.15
#: Mean absolute difference (of [0, 1] values) between a near frame and the
#: un-mixed background blurred as that frame would show it, under which a
#: near-side pixel is taken for blurred background and moves to the far side.
#: Six synthetic scenes no benchmark uses, depthmap, against 0.03 (one-off):
#: +0.36 dB at 5 frames and +0.81 dB at 10 with 0.07, +0.27 and +0.60 with
#: 0.05; 0.1 moved too much on bench_fusion's 10-frame stacks.
_OUTLINE = 0.07
#: Least fraction of candidate rim pixels that must pass the check for the
#: model to be trusted on a stack (synthetic stacks: about half; a real
#: circuit-board stack whose depth map is noisy: 4 %).
_MIN_ACCEPTED = 0.25
#: Candidate pixels after which a pass stops when fewer than half the needed
#: share has passed (saves most of the time on stacks the model refuses).
_EARLY_CANDIDATES = 50_000
#: Largest ratio between the blur steps fitted for neighbouring frame pairs;
#: beyond it the frames are taken not to be in focus order.
_MAX_STEP_RATIO = 2.5


@dataclass(frozen=True)
class RimModel:
    """How the stack's blur grows with focus distance.

    Attributes
    ----------
    step : float
        Disc blur radius (pixels) added by one focus step.
    near_first : bool
        True when frame 0 is focused nearest.
    vote : float
        Strength of the near/far decision in [-1, 1] (positive: frame 0 near).
    """

    step: float
    near_first: bool
    vote: float


def _blur(image: NDArray[np.float32], radius: float) -> NDArray[np.float32]:
    """Disc blur; discs of radius 3 and more at half resolution (16 times less
    work, and such a blur leaves nothing at the frequencies halving drops).

    Any number of channels: OpenCV's area resize takes at most 4, so more
    (an RGBA image with a cover channel, in :func:`_spread`) go 4 at a time.
    """
    if radius < 0.25:
        return image.copy()
    if image.ndim == 3 and image.shape[2] > 4:
        parts = [image[..., c : c + 4] for c in range(0, image.shape[2], 4)]
        return np.concatenate([_blur(part, radius).reshape(part.shape) for part in parts], axis=-1)
    if radius < 3.0 or min(image.shape[:2]) < 16:
        return cv2.filter2D(image, -1, disc_psf(radius), borderType=cv2.BORDER_REFLECT)
    h, w = image.shape[:2]
    half = cv2.resize(image, ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)
    half = cv2.filter2D(half, -1, disc_psf(radius / 2), borderType=cv2.BORDER_REFLECT)
    out = cv2.resize(half, (w, h), interpolation=cv2.INTER_LINEAR)
    return out.reshape(image.shape)


def _grey(frame: NDArray[np.float32]) -> NDArray[np.float32]:
    return frame.mean(axis=-1, dtype=FLOAT) if frame.ndim == 3 else frame


class Frames:
    """Frame ``k`` of a stack on request, with each frame's grey version kept.

    The grey frames are asked for many times by the rim and between-plane
    steps; keeping them costs a third of a colour stack.
    """

    def __init__(self, source: FrameSource | NDArray | Frames) -> None:
        self._greys: dict[int, NDArray[np.float32]]
        self._index: Callable[[int], int] = int
        if isinstance(source, Frames):
            self._source: FrameSource = source._source
            self._greys = source._greys
            self._index = source._index
            return
        if isinstance(source, np.ndarray):
            array = source
            self._source = lambda k: array[k]
        else:
            self._source = source
        self._greys = {}

    def reversed(self, num: int) -> Frames:
        """The same ``num`` frames in the opposite order (sharing the cache)."""
        view = Frames(self)
        view._index = lambda k: self._index(num - 1 - int(k))
        return view

    def __call__(self, k: int) -> NDArray[np.float32]:
        return self._source(self._index(k))

    def grey(self, k: int) -> NDArray[np.float32]:
        index = self._index(k)
        if index not in self._greys:
            self._greys[index] = np.ascontiguousarray(_grey(self._source(index)), dtype=FLOAT)
        return self._greys[index]


def fit_blur_step(
    frames: FrameSource | NDArray | Frames, num: int, depth: NDArray[np.float32], *, margin: int = 8
) -> float | None:
    """Median blur radius of one focus step, or None when no step can be fitted
    or the steps of neighbouring pairs differ by more than 2.5 times (frames
    out of focus order).

    For each pair of neighbouring frames the regions sharp in one (depth
    within 0.3 of its index, shrunk by ``margin`` pixels away from depth
    edges) are blurred by discs of growing radius until they best match the
    other frame. Those regions are only nearly sharp: a pixel ``d`` steps
    from its frame toward the other one is blurred by ``d`` steps in its
    frame and ``1 - d`` in the other, and blurs add by their variances, so
    the disc that matches is ``step * sqrt(1 - 2 d)``. The radius found is
    divided by that factor at the regions' median ``d`` (from the sub-frame
    ``depth``); without it the pairs' steps scattered from 1.0 to 2.1 px on
    stacks rendered with 1.5 px.
    """
    frames = Frames(frames)
    radii = np.arange(0.0, 8.01, 0.25)
    kernel = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
    cores = []
    for k in range(num):
        core = cv2.erode((np.abs(depth - k) < 0.3).astype(np.uint8), kernel).astype(bool)
        cores.append(core if core.sum() >= 300 else None)
    steps = []
    for a in range(num - 1):
        if cores[a] is None and cores[a + 1] is None:
            continue
        ga, gb = frames.grey(a), frames.grey(a + 1)
        errors = np.zeros(len(radii))
        toward, pixels = 0.0, 0
        for src, dst, own, sign in ((ga, gb, a, 1.0), (gb, ga, a + 1, -1.0)):
            core = cores[own]
            if core is None:
                continue
            for i, radius in enumerate(radii):
                diff = _blur(src, radius)[core] - dst[core]
                errors[i] += float(np.dot(diff, diff))
            count = int(core.sum())
            toward += sign * float(np.median(depth[core] - own)) * count
            pixels += count
        factor = np.sqrt(max(1.0 - 2.0 * toward / pixels, 0.2))
        steps.append(float(radii[int(errors.argmin())]) / factor)
    steps = [s for s in steps if s > 0]
    if not steps or max(steps) > _MAX_STEP_RATIO * min(steps):
        return None
    return float(np.median(steps))


def _edge_contrast(
    frames: Frames, labels: NDArray[np.intp], gap: int, band: int = 3
) -> NDArray[np.float32]:
    """Gradient of the lower-index frame minus that of the higher one, per label edge.

    One value per pixel next to a label at least ``gap`` frames away: the
    largest gradient within ``band`` pixels in the frame of the lower label,
    minus the same in the frame of the higher label.
    """
    square = np.ones((3, 3), np.uint8)
    lab = labels.astype(np.float32)
    higher = cv2.dilate(lab, square).astype(np.intp)
    lower = cv2.erode(lab, square).astype(np.intp)
    rows, cols, lo, hi = [], [], [], []
    for mask, small, large in (
        (higher >= labels + gap, labels, higher),
        (lower <= labels - gap, lower, labels),
    ):
        r, c = np.nonzero(mask)
        rows.append(r)
        cols.append(c)
        lo.append(small[r, c])
        hi.append(large[r, c])
    rows_a, cols_a = np.concatenate(rows), np.concatenate(cols)
    lo_a, hi_a = np.concatenate(lo), np.concatenate(hi)
    grad_lo = np.zeros(rows_a.size, FLOAT)
    grad_hi = np.zeros(rows_a.size, FLOAT)
    square_band = np.ones((2 * band + 1, 2 * band + 1), np.uint8)
    for k in np.union1d(lo_a, hi_a):
        grey = frames.grey(int(k))
        grad = cv2.dilate(
            cv2.magnitude(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)),
            square_band,
        )
        sel = lo_a == k
        grad_lo[sel] = grad[rows_a[sel], cols_a[sel]]
        sel = hi_a == k
        grad_hi[sel] = grad[rows_a[sel], cols_a[sel]]
    return grad_lo - grad_hi


def _edge_share(diff: NDArray[np.float32]) -> float:
    """Share of edges voting for the low end minus share voting for the high end."""
    if diff.size == 0:
        return 0.0
    return float(np.count_nonzero(diff > 0) - np.count_nonzero(diff < 0)) / diff.size


def _near_vote(frames: Frames, num: int, labels: NDArray[np.intp]) -> float:
    """Vote in [-1, 1]: positive when low frame indices are near.

    Along each edge of the label map the frame of the near side shows the
    edge sharp and the frame of the far side shows it spread, so the largest
    gradient near the edge is compared between the two frames
    (:func:`_edge_contrast`).

    From four frames on only edges that skip a frame count (where there are
    any): a step to the next frame is mostly a slanted surface, not an
    occlusion, and such steps diluted the vote. Each edge pixel then casts
    one vote (:func:`_edge_share`): summed gradient differences let a few
    edges beside strong far-side texture outweigh the rest (a 5-frame
    synthetic stack: 0.10 summed, 0.42 counted, on the ``gacn`` depth map).
    Under four frames the summed differences are kept: on pairs they are the
    clearer statistic (synthetic pairs: 0.45-0.82 summed, 0.19-0.48 counted).
    """
    if num < 4:
        diff = _edge_contrast(frames, labels, 1)
        total = float(np.abs(diff).sum())
        return float(diff.sum()) / total if total > 0 else 0.0
    diff = _edge_contrast(frames, labels, 2)
    if diff.size == 0:
        diff = _edge_contrast(frames, labels, 1)
    return _edge_share(diff)


def estimate_rim_model(
    frames: FrameSource | NDArray | Frames,
    num: int,
    depth: NDArray[np.float32],
    *,
    step: float | None = None,
    vote_labels: NDArray[np.integer] | None = None,
) -> RimModel | None:
    """Blur per focus step and near end of a stack, or None when they are unclear.

    Parameters
    ----------
    frames : (S, M, N[, C]) ndarray, callable or Frames
        The stack, or ``frames(k)`` giving frame ``k`` as float32, colour last.
    num : int
        Number of frames.
    depth : (M, N) ndarray
        Sub-frame depth map (frame index) of the fusion.
    step : float, optional
        Blur per focus step when already fitted (:func:`fit_blur_step`).
    vote_labels : (M, N) ndarray of int, optional
        Frame labels whose edges vote for the near end; ``depth`` rounded
        when not given. The vote compares the frames' gradients within 3 px
        of each label edge, so it wants edges that lie where a classical
        focus measure puts them (on the blurred rim, just outside a near
        object): ``fuse_gacn`` passes that measure's labels, as its own
        edges hug the outlines and let the far frame's sharp texture into
        the band.

    Returns
    -------
    RimModel or None
        None when the blur does not grow measurably from one frame to the
        next (fewer than 0.5 pixels per step, frames not in focus order) or
        the near end cannot be told.
    """
    frames = Frames(frames)
    if step is None:
        step = fit_blur_step(frames, num, depth)
    if step is None or step < _MIN_STEP:
        return None
    labels = np.rint(depth) if vote_labels is None else vote_labels
    vote = _near_vote(frames, num, np.asarray(labels).astype(np.intp))
    if abs(vote) < (_MIN_SHARE if num >= 4 else _MIN_VOTE):
        return None
    return RimModel(step=step, near_first=vote > 0, vote=vote)


def _spread(
    fused: NDArray[np.float32],
    occluders: NDArray[np.bool_],
    offset: NDArray[np.float32],
    step: float,
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Coverage and colour of ``occluders`` seen ``offset`` focus steps out of focus.

    Pixels are grouped in bins of half a step, each blurred by its disc;
    returns ``B(mask)`` summed over bins and ``B(mask * fused)`` likewise.
    Each bin is blurred within its bounding box grown by the disc (outside
    it the blur of the bin is zero), which is most of the speed.
    """
    rows_all, cols_all = np.nonzero(occluders)
    bins = np.floor(offset[rows_all, cols_all] / _BIN).astype(np.intp)
    cover = np.zeros(offset.shape, FLOAT)
    spread = np.zeros(fused.shape, FLOAT)
    height, width = offset.shape
    for b in np.unique(bins):
        sel = bins == b
        rows, cols = rows_all[sel], cols_all[sel]
        radius = step * (b + 0.5) * _BIN
        margin = int(np.ceil(radius)) + 4
        r0, r1 = max(0, rows.min() - margin), min(height, rows.max() + margin + 1)
        c0, c1 = max(0, cols.min() - margin), min(width, cols.max() + margin + 1)
        both = np.zeros((r1 - r0, c1 - c0, fused.shape[-1] + 1), FLOAT)
        both[rows - r0, cols - c0, 0] = 1.0
        both[rows - r0, cols - c0, 1:] = fused[rows, cols]
        blurred = _blur(both, radius).reshape(both.shape)
        cover[r0:r1, c0:c1] += blurred[..., 0]
        spread[r0:r1, c0:c1] += blurred[..., 1:]
    return cover, spread


def _as_colour(frame: NDArray[np.float32]) -> NDArray[np.float32]:
    return frame[..., None] if frame.ndim == 2 else frame


def _parts_explained(
    region: NDArray[np.bool_], baseline: NDArray[np.float32], model: NDArray[np.float32]
) -> NDArray[np.bool_]:
    """Pixels of the connected parts (8-connected) of ``region`` where the
    model's error, summed over the part, is at most ``_BETTER`` of the
    baseline's, and the baseline's mean error is over ``_GLOW`` (there is
    something to explain). A part is judged whole, so chance agreement of
    single pixels in noise does not pass."""
    count, parts = cv2.connectedComponents(region.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros(region.shape, bool)
    flat = parts.ravel()
    before = np.bincount(flat, weights=baseline.ravel(), minlength=count)
    after = np.bincount(flat, weights=model.ravel(), minlength=count)
    size = np.bincount(flat, minlength=count)
    good = (after < _BETTER * before) & (before > _GLOW * np.maximum(size, 1))
    good[0] = False
    return good[parts]


def _real_occluders(
    frames: Frames,
    k: int,
    depth: NDArray[np.float32],
    nearer: NDArray[np.bool_],
    step: float,
) -> NDArray[np.bool_]:
    """The parts of ``nearer`` that frame ``k`` shows as their own frame blurred.

    A near object that is sharp in its frame ``l`` appears in frame ``k``
    blurred by the disc of ``step * (k - l)``. Each connected part of the
    pixels labelled ``l`` is kept when that blur explains frame ``k`` there
    better than no blur does; where no frame was sharp (a surface outside
    the stack's focus range, whose labels are noise) it does not, and such
    "occluders" would spread invented rims around them.
    """
    label = np.rint(depth).astype(np.intp)
    grey_k = frames.grey(k)
    keep = np.zeros(nearer.shape, bool)
    for lab in np.unique(label[nearer]):
        grey_l = frames.grey(int(lab))
        blurred = _blur(grey_l, step * (k - lab))
        keep |= _parts_explained(
            nearer & (label == lab), np.abs(grey_k - grey_l), np.abs(grey_k - blurred)
        )
    return keep


def _unmix(
    frames: Frames,
    num: int,
    fused: NDArray[np.float32],
    depth: NDArray[np.float32],
    step: float,
) -> NDArray[np.float32] | None:
    """One un-mixing pass with depth in focus steps from the near end (0 = nearest).

    Each un-mixed pixel must also explain the neighbouring frames: the
    model with the un-mixed background must predict them (occluders and
    background blurred by their own radii there) better, in a 5 x 5
    neighbourhood, than the model with the selected pixel does.
    Where the depth map is wrong (noise labelled as depth edges, surfaces
    out of the stack's range) the un-mixed values explain nothing and are
    dropped. When fewer than ``_MIN_ACCEPTED`` of the candidate pixels pass,
    the model does not describe this stack (its blur is not a disc growing
    by one step per frame, or its depth edges are not occlusions) and None
    is returned: the stack is left as fused rather than touched where the
    check passed by chance.
    """
    out = fused.copy()
    nearest = np.clip(np.rint(depth), 0, num - 1).astype(np.intp)
    candidates = accepted = 0
    for k in range(1, num):
        own = nearest == k
        if not own.any():
            continue
        ahead = k - depth  # focus steps from frame k's plane to each pixel, + when nearer
        nearer = ahead > _BIN
        if not nearer.any():
            continue
        nearer = _real_occluders(frames, k, depth, nearer, step)
        if not nearer.any():
            continue
        cover, spread = _spread(fused, nearer, ahead, step)
        visible = 1.0 - cover
        weight = np.clip((visible - _VISIBLE) / _VISIBLE, 0.0, 1.0)
        weight *= own & (ahead <= _BIN) & (cover > 0.005)
        if not weight.any():
            continue
        frame = _as_colour(frames(k))
        background = (frame - spread) / np.maximum(visible, 1e-3)[..., None]
        np.clip(background, 0.0, 1.0, out=background)
        w = weight[..., None]
        guess = fused * (1.0 - w) + background * w
        plain_error = np.zeros(depth.shape, FLOAT)
        unmixed_error = np.zeros(depth.shape, FLOAT)
        for other in (k - 1, k + 1):
            if not 0 <= other < num:
                continue
            cover_o, spread_o = _spread(fused, nearer, np.abs(other - depth), step)
            seen = _as_colour(frames(other))
            radius = step * abs(other - k)
            for image, total in ((fused, plain_error), (guess, unmixed_error)):
                blurred = _blur(image, radius).reshape(image.shape)
                predicted = spread_o + (1.0 - cover_o)[..., None] * blurred
                total += cv2.blur(np.abs(seen - predicted).mean(axis=-1), (5, 5))
        # a rim part passes as a whole, and each of its pixels on its own
        explained = _parts_explained(weight > 0, plain_error, unmixed_error)
        w = w * (explained & (unmixed_error < plain_error))[..., None]
        candidates += int(np.count_nonzero(weight))
        accepted += int(np.count_nonzero(w))
        if candidates > _EARLY_CANDIDATES and accepted < 0.5 * _MIN_ACCEPTED * candidates:
            return None  # clearly not this model's stack: stop early
        out = out * (1.0 - w) + background * w
    if accepted < _MIN_ACCEPTED * candidates:
        return None
    np.clip(out, 0.0, 1.0, out=out)
    return out


def _outline(
    frames: Frames,
    num: int,
    unmixed: NDArray[np.float32],
    depth: NDArray[np.float32],
    step: float,
    *,
    threshold: float,
    reach: int = 7,
) -> NDArray[np.float32]:
    """Move near-side pixels that the near frame shows as blurred background.

    A pixel labelled ``a`` with a farther pixel within ``reach`` is tested:
    were it background, frame ``a`` would show the un-mixed background
    around it blurred by ``a``'s defocus of that background.
    """
    farthest = cv2.dilate(depth, np.ones((reach, reach), np.uint8))
    out = depth.copy()
    nearest = np.rint(depth).astype(np.intp)
    for a in range(num - 1):
        candidate = (nearest == a) & (farthest - depth > _BIN)
        if not candidate.any():
            continue
        gap = np.round((farthest - a) / _BIN) * _BIN
        frame = _as_colour(frames(a))
        behind = _behind(unmixed, depth, a)
        for g in np.unique(gap[candidate]):
            sel = candidate & (gap == g)
            cover, error = _background_error(frame, behind, step * g)
            move = sel & (error < threshold) & (cover > 0.05)
            out[move] = farthest[move]
    return _return_edges(frames, unmixed, depth, out, step)


def _behind(
    unmixed: NDArray[np.float32], depth: NDArray[np.float32], a: int
) -> NDArray[np.float32]:
    """Coverage and premultiplied colour of what lies behind frame ``a``'s plane."""
    behind = (depth > a + _BIN).astype(FLOAT)
    both = np.empty((*depth.shape, unmixed.shape[-1] + 1), FLOAT)
    both[..., 0] = behind
    np.multiply(unmixed, behind[..., None], out=both[..., 1:])
    return both


def _background_error(
    frame: NDArray[np.float32], behind: NDArray[np.float32], radius: float
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Coverage of the background blurred by ``radius``, and the mean absolute
    difference between ``frame`` and that blurred background."""
    blurred = _blur(behind, radius)
    cover = blurred[..., 0]
    seen = blurred[..., 1:] / np.maximum(cover, 1e-3)[..., None]
    return cover, np.abs(frame - seen).mean(axis=-1)


def _return_edges(
    frames: Frames,
    unmixed: NDArray[np.float32],
    depth: NDArray[np.float32],
    out: NDArray[np.float32],
    step: float,
) -> NDArray[np.float32]:
    """Give the near side back the pixels of its edge that were labelled far.

    The mirror of the outline step: a pixel labelled more than 1.5 steps
    farther than a neighbour (3 x 3) is tested in that neighbour's frame
    ``a``. Were it background, frame ``a`` would show the un-mixed background
    around it blurred by ``a``'s defocus; where frame ``a`` differs from that
    by over :data:`_FOREIGN`, the pixel is the near object's edge and takes
    the neighbour's depth. Decision maps of a learned method put 0.7-2.7 %
    of a 9 px band around depth edges on the far side this way (5-frame
    synthetic stacks), which the outline step alone never moves back.
    """
    nearest = cv2.erode(depth, np.ones((3, 3), np.uint8))
    candidate = (depth - nearest) > 1.0 + _BIN
    if not candidate.any():
        return out
    near_label = np.rint(nearest).astype(np.intp)
    for a in np.unique(near_label[candidate]):
        cand = candidate & (near_label == a)
        frame = _as_colour(frames(int(a)))
        behind = _behind(unmixed, depth, int(a))
        gap = np.round((depth - a) / _BIN) * _BIN
        for g in np.unique(gap[cand]):
            sel = cand & (gap == g)
            _, error = _background_error(frame, behind, step * g)
            move = sel & (error > _FOREIGN)
            out[move] = nearest[move]
    return out


def unmix_rims(
    frames: FrameSource | NDArray | Frames,
    num: int,
    image: NDArray[np.float32],
    depth: NDArray[np.float32],
    *,
    model: RimModel | None = None,
    iterations: int = 1,
    threshold: float = _OUTLINE,
) -> tuple[NDArray[np.float32], NDArray[np.float32], RimModel | None]:
    """Restore the background under near objects' blurred rims.

    Parameters
    ----------
    frames : (S, M, N[, C]) ndarray, callable or Frames
        The stack as float32 in [0, 1], colour last, in focus order (either
        direction), or ``frames(k)`` returning frame ``k``; each frame is
        requested several times (a checked pass per round, plus the fits).
    num : int
        Number of frames.
    image : (M, N[, C]) ndarray
        The fused image (colour last).
    depth : (M, N) ndarray
        Its sub-frame depth map (frame index).
    model : RimModel, optional
        Blur step and near end; estimated from the stack when not given.
    iterations : int
        Rounds of outline correction.
    threshold : float
        Mean absolute difference (of [0, 1] values) under which a near-side
        pixel is taken for blurred background (:data:`_OUTLINE`).

    Returns
    -------
    image : ndarray
        The un-mixed image, the input's shape, float32 in [0, 1].
    depth : ndarray
        The depth map with the corrected object outlines.
    model : RimModel or None
        The model used; None when the stack gave no clear one or the model
        failed its check on the stack, in which case ``image`` and ``depth``
        are returned unchanged.
    """
    source = Frames(frames)
    depth = np.asarray(depth, dtype=FLOAT)
    if model is None:
        model = estimate_rim_model(source, num, depth)
    if model is None:
        return image, depth, None
    if model.near_first:
        get, steps = source, depth
    else:
        get, steps = source.reversed(num), (num - 1) - depth
    fused = np.asarray(_as_colour(image), dtype=FLOAT)
    # Checked from the first pass: a stack the model does not describe costs
    # one pass, not the outline rounds as well.
    result = _unmix(get, num, fused, steps, model.step)
    if result is None:
        return image, depth, None
    for _ in range(iterations):
        outlined = _outline(get, num, result, steps, model.step, threshold=threshold)
        unmixed = _unmix(get, num, fused, outlined, model.step)
        if unmixed is None:
            break
        result, steps = unmixed, outlined
    new_depth = steps if model.near_first else (num - 1) - steps
    return result.reshape(image.shape), new_depth.astype(FLOAT), model


__all__ = ["FrameSource", "RimModel", "estimate_rim_model", "fit_blur_step", "unmix_rims"]
