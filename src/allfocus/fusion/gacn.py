"""GACN-style learned decision map.

A small network trained here (:mod:`allfocus.nn.archs.gacn`) scores every
frame against the best of the others; the per-pixel winner is cleaned of tiny
regions and blended along decision edges by the same guided filter as
:func:`allfocus.fusion.depthmap.fuse_depthmap` (``refine="depthmap"``), or by
the network's own boundary guided filter (``refine="network"``). Decisions use
luma; all colour channels are fused. The defocus model of ``depthmap``
(occlusion rims un-mixed, surfaces between focus planes sharpened) then runs
on the network's depth map, as it does on depthmap's. The shipped weights
run on OpenCV's dnn module (their ONNX export, :mod:`allfocus.fusion._gacn_net`),
so the method needs no torch; a ``.pt`` file of one's own and
``backend="torch"`` need the optional extra ``allfocus[learned]`` and raise
``MissingDependencyError`` without it.
"""

from __future__ import annotations

import functools
import importlib.util
import warnings
from collections.abc import Callable, Iterable, Iterator

import cv2
import numpy as np
from numpy.typing import NDArray

from allfocus._core.errors import ConfigError, InputError, missing_dependency
from allfocus._core.types import FusionResult
from allfocus._core.validate import FLOAT, as_float_image, to_dtype
from allfocus.fusion import FUSION_METHODS
from allfocus.fusion._common import (
    argmax_frames,
    blend,
    check_int,
    check_positive,
    finish,
    prepare,
    select,
    select_each,
    subframe_depth,
)
from allfocus.fusion._gacn_net import (
    DnnGACN,
    UnreadableGraphError,
    decision_scores,
    dnn_weights,
    float_luma,
    tile_count,
)
from allfocus.fusion.depthmap import blend_along_edges, remove_small_regions, restore_detail

__all__ = [
    "BACKENDS",
    "DEFAULT_SCALES",
    "DEFAULT_WEIGHTS",
    "MEASURE_REACH",
    "MEASURE_WEIGHT",
    "PAIR_WEIGHTS",
    "PICK_AGREEMENT",
    "STACK_WEIGHTS",
    "add_focus_measure",
    "fuse_gacn",
    "fuse_gacn_passes",
    "halo",
    "local_agreement",
    "octave_scores",
    "pick_by_measure",
    "resolve_weights",
    "typical_spread",
]

#: The weights ``fuse_gacn`` uses unless told otherwise: ``"auto"`` picks
#: :data:`PAIR_WEIGHTS` for two frames and :data:`STACK_WEIGHTS` for more.
DEFAULT_WEIGHTS = "auto"
#: Trained on pairs only; best on pairs (Q^AB/F, docs/benchmarks.md).
PAIR_WEIGHTS = "gacn_v1"
#: Fine-tuned from ``gacn_v1`` on whole stacks too (via ``gacn_v2``); better
#: from three frames on.
STACK_WEIGHTS = "gacn_v4"
#: Weight of the log classical focus measure added to the network's logits
#: (:func:`add_focus_measure`), in units of the median spread of the
#: network's scores over the frames (:func:`typical_spread`); chosen on
#: synthetic scenes no benchmark uses (docs/gacn.md, "The classical measure in the logits").
MEASURE_WEIGHT = 0.3
#: Frames either side of the network's winner among which the classical
#: measure then takes the sharpest, where they show the winner's structure
#: (stacks of three frames or more): the network places the depth, the 3 x 3
#: measure the edge. On slanted printed surfaces it gains about 4 dB at 5
#: frames; the structure check keeps it out of flat areas and off the bright
#: spots of out-of-focus cells (docs/gacn.md, "The measure picks among
#: neighbouring frames").
MEASURE_REACH = 1
#: The classical measure added: ``fuse_depthmap``'s default, whose 3 x 3
#: window follows occlusion edges and thin parts to the pixel.
_MEASURE, _MEASURE_WINDOW = "multiscale_laplacian", 3
#: Least correlation of a neighbour's 5 x 5 window with the winner's for the
#: neighbour to compete in the measure pick (:func:`pick_by_measure`). Values
#: from 0.7 to 0.9 gave the same on the synthetic scenes it was chosen on;
#: 0.9, the highest of them, moves the fewest labels on real stacks
#: (docs/gacn.md, "The measure picks among neighbouring frames").
PICK_AGREEMENT = 0.9
_AGREEMENT_RADIUS = 2
#: Floor under the measure before its log: where every frame's measure is
#: below it (flat, noise-free areas) the network decides alone.
_MEASURE_FLOOR = 1e-4


def resolve_weights(weights: str, num_frames: int) -> str:
    """The weights ``fuse_gacn`` loads for ``weights`` and a stack of ``num_frames``.

    Examples
    --------
    >>> resolve_weights("auto", 2), resolve_weights("auto", 5), resolve_weights("gacn_v1", 5)
    ('gacn_v1', 'gacn_v4', 'gacn_v1')
    """
    if weights != "auto":
        return weights
    return PAIR_WEIGHTS if num_frames <= 2 else STACK_WEIGHTS


_REFINE = ("depthmap", "network", "soft", "none")
#: What runs the network: ``"opencv"`` (the shipped weights' ONNX export on
#: OpenCV's dnn module, no torch), ``"torch"`` (the ``learned`` extra: any
#: ``.pt`` file), or ``"auto"``: OpenCV where it can.
#: Both give the same scores up to float rounding (``allfocus.fusion._gacn_net``).
BACKENDS = ("auto", "opencv", "torch")
#: Smallest side of a coarser octave that ``scales`` still scores.
_MIN_SCALE_SIDE = 32
#: Octaves whose scores ``fuse_gacn`` averages: full size, a half and a
#: quarter. The network sees about 27 px around a pixel; on real stacks whose
#: detail is coarser than that and whose pixels are noisy (a 20 MP microscope
#: stack, a circuit board) the full-size scores alone took blurred frames for
#: sharp ones in textured regions, because fine noise is all that differs
#: there (docs/gacn.md, "Coarser octaves").
DEFAULT_SCALES = 3
#: Receptive radius of the shipped network (features 4, window 10, decision path ~13).
_NETWORK_REACH = 32


def _softmax(scores: NDArray[np.float32]) -> NDArray[np.float32]:
    e = (scores - scores.max(axis=0, keepdims=True)).astype(FLOAT, copy=False)
    np.exp(e, out=e)
    e /= e.sum(axis=0, keepdims=True)
    return e


def _top_probability(scores: NDArray[np.float32]) -> NDArray[np.float32]:
    """``_softmax(scores).max(axis=0)``, one frame at a time: 1 / sum_k exp(s_k - max)."""
    top = scores.max(axis=0).astype(FLOAT, copy=False)
    total = np.zeros(top.shape, FLOAT)
    term = np.empty(top.shape, FLOAT)
    for level in scores:
        np.subtract(level, top, out=term)
        total += np.exp(term, out=term)
    del term
    return np.divide(FLOAT(1.0), total, out=total)


def _area(frame: NDArray[np.float32], height: int, width: int) -> NDArray[np.float32]:
    """``frame`` shrunk to ``height`` x ``width`` by area averaging.

    Exactly twice smaller, each pixel is the mean of its 2 x 2 block, summed
    in a fixed order: the same value wherever the block lies in the frame
    or in a part of it (OpenCV's ``INTER_AREA`` rounds differently in its
    vector and scalar paths, which depend on the column). Other sizes go to
    ``INTER_AREA``.
    """
    if frame.shape != (2 * height, 2 * width):
        return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    top = frame[0::2, 0::2] + frame[0::2, 1::2]
    top += frame[1::2, 0::2]
    top += frame[1::2, 1::2]
    top *= FLOAT(0.25)
    return top


def _shrink(stack: NDArray, height: int, width: int) -> NDArray:
    """Every frame of a grey stack shrunk to ``height`` x ``width`` by area averaging
    (:func:`_area`), in the stack's dtype."""
    dtype = stack.dtype
    return np.stack([to_dtype(_area(float_luma(f), height, width), dtype) for f in stack])


class _Shrunk:
    """A grey stack shrunk exactly twice (area averaging), a region at a time.

    ``stack[:, y0:y1, x0:x1]`` shrinks the rows and columns of ``base`` under
    the region only. Area averaging by exactly 2 is the mean of each 2 x 2
    block (:func:`_area`), so a region's values are those of the whole stack
    shrunk; the network's pass over a large octave, tile by tile, then needs
    no shrunk copy of every frame (half a byte per pixel and frame of the
    full size, for uint16 luma). ``base`` is an array or another ``_Shrunk``
    with sides twice ``height`` and ``width``.
    """

    def __init__(self, base: NDArray | _Shrunk, height: int, width: int) -> None:
        if base.shape[1:] != (2 * height, 2 * width):
            raise ValueError(f"{base.shape[1:]} is not twice {(height, width)}")
        self.base = base
        self.dtype = base.dtype
        self.shape = (base.shape[0], height, width)

    def __getitem__(self, key: tuple[slice, slice, slice]) -> NDArray:
        frames, ys, xs = key
        y0, y1, _ = ys.indices(self.shape[1])
        x0, x1, _ = xs.indices(self.shape[2])
        part = self.base[frames, 2 * y0 : 2 * y1, 2 * x0 : 2 * x1]
        return _shrink(part, y1 - y0, x1 - x0)


def octave_scores(
    model,
    luma: NDArray[np.float32],
    *,
    scales: int = DEFAULT_SCALES,
    tile: int = 512,
    progress: Callable[[int, int], None] | None = None,
    dtype: type = np.float32,
) -> NDArray:
    """The network's scores (S, M, N) of a grey stack, averaged over ``scales`` octaves.

    Octave ``s`` scores the stack shrunk ``2**s`` times (area averaging),
    brought back to full size (bilinear) before the mean of the logits;
    octaves under 32 px are skipped. ``model`` is a GACN on either backend
    (:class:`allfocus.fusion._gacn_net.Scorer`). ``luma`` is
    float32 in [0, 1] or uint16 (:func:`allfocus.fusion._gacn_net.float_luma`); the
    scores are of ``dtype`` (float16 for a stack read twice).

    ``progress(done, total)`` counts the network passes of all octaves (a
    tile each, or one for an octave scored whole), and is called only when
    the full size is cut into tiles: small stacks report nothing.
    """
    num, rows, cols = luma.shape
    shapes = [(rows, cols)]
    while len(shapes) < scales:
        height, width = shapes[-1][0] // 2, shapes[-1][1] // 2
        if min(height, width) < _MIN_SCALE_SIDE:
            break
        shapes.append((height, width))
    counts = [tile_count(model, num, r, c, tile=tile) for r, c in shapes]
    if progress is None or counts[0] == 1:
        report = [None] * len(shapes)
    else:
        everything = sum(counts)
        report = [
            functools.partial(_report_from, progress, sum(counts[:i]), everything)
            for i in range(len(shapes))
        ]
    total = decision_scores(model, luma, tile=tile, progress=report[0], dtype=dtype)
    small: NDArray | _Shrunk = luma
    for (height, width), count, reporter in zip(shapes[1:], counts[1:], report[1:], strict=True):
        # (uint16 luma stays uint16, and its scores take ``dtype``, in every octave)
        if count > 1 and small.shape[1:] == (2 * height, 2 * width):
            # Tiled: each tile's shrunk luma from the larger octave's under it
            # (the same values), not a shrunk copy of the whole stack.
            small = _Shrunk(small, height, width)
        else:
            small = _shrink(small[:, :, :], height, width)
        coarse = decision_scores(model, small, tile=tile, progress=reporter, dtype=dtype)
        for k, level in enumerate(coarse):
            up = cv2.resize(
                level.astype(FLOAT, copy=False), (cols, rows), interpolation=cv2.INTER_LINEAR
            )
            np.add(total[k], up, out=total[k], casting="unsafe")  # summed in float32
        del coarse, up  # not held beside the next octave's stack
        if reporter is not None and count == 1:  # scored whole: one pass, not reported
            reporter(1, 1)
    if len(shapes) > 1:
        total /= len(shapes)
    return total


def typical_spread(scores: NDArray, *, stride: int = 4) -> float:
    """Median over pixels of the spread of the frames' scores (highest minus lowest).

    The scale of a network's logits depends on its weights and on the
    number of frames (on synthetic stacks `gacn_v1` spreads its scores by
    some 70 on a pair and 33 among ten frames, `gacn_v3` by 17 and 9), so
    the classical measure is weighed in this unit. The winner's lead over
    the runner-up would not do: between two focus planes the two nearest
    frames tie, and at ten frames its median is near 0. From every
    ``stride``-th row and column.

    >>> import numpy as np
    >>> typical_spread(np.stack([np.zeros((8, 8)), np.ones((8, 8)), np.full((8, 8), 2.0)]))
    2.0
    """
    sample = np.asarray(scores[:, ::stride, ::stride], dtype=FLOAT)
    return float(np.median(sample.max(axis=0) - sample.min(axis=0)))


def _measure_labels(luma: NDArray, min_region: int) -> NDArray[np.intp]:
    """``fuse_depthmap``'s decision labels (its measure's winner, small regions
    cleaned), frame by frame: one frame's measure at a time, not the volume."""
    from allfocus.focus.measures import Workspace, focus_into

    work = Workspace()
    value = np.empty(luma.shape[1:], dtype=FLOAT)  # argmax_frames is done with it each time
    measures = (
        focus_into(
            _MEASURE,
            np.ascontiguousarray(as_float_image(frame, name="luma")),
            window=_MEASURE_WINDOW,
            out=value,
            work=work,
        )
        for frame in luma
    )
    return remove_small_regions(argmax_frames(measures), min_size=min_region)


def add_focus_measure(scores: NDArray, luma: NDArray, *, weight: float) -> NDArray:
    """Add ``weight * log(measure + floor)`` of every frame to its scores, in place.

    ``fuse_gacn`` passes ``measure_weight`` times :func:`typical_spread` of
    the scores as ``weight``.

    ``measure`` is ``fuse_depthmap``'s classical focus measure (the
    multi-scale sum-modified Laplacian, 3 x 3 window). The network sees 27 px
    around a pixel and rounds off what is smaller: the tips and thin parts of
    near objects, the last pixels before an occlusion edge. The 3 x 3
    measure sees those; the network's logits carry the decision where the
    measure is ambiguous (noise, texture-less areas, the bright spot of an
    out-of-focus cell). On synthetic stacks the sum is ahead of both
    (docs/gacn.md).

    Computed frame by frame in bands of rows (with the measure's halo, on
    its pyramid grid: the same values as the whole frame at once), so it
    needs no full-size array beyond ``scores`` (float32 or float16, added
    in float32) and ``luma`` (float32 in [0, 1] or uint16).

    Examples
    --------
    >>> import numpy as np
    >>> luma = np.random.default_rng(0).random((2, 40, 40)).astype(np.float32)
    >>> luma[1] = 0.5  # flat: no detail
    >>> scores = add_focus_measure(np.zeros((2, 40, 40), np.float32), luma, weight=1.0)
    >>> bool((scores[0] > scores[1]).all())
    True
    """
    from allfocus.focus.measures import Workspace, focus_into
    from allfocus.focus.measures import halo as measure_halo
    from allfocus.fusion.streaming import _GRID, band_rows, band_window, row_bands

    weight = FLOAT(weight)
    num, rows, cols = luma.shape
    reach = measure_halo(measure=_MEASURE, window=_MEASURE_WINDOW)
    work = Workspace()
    part = np.empty((band_rows(cols), cols), dtype=FLOAT)
    for k in range(num):
        for r0, r1 in row_bands(rows, len(part)):
            lo, hi = band_window(r0, r1, reach, rows, _GRID)
            image = np.ascontiguousarray(as_float_image(luma[k, lo:hi], name="luma"))
            out = focus_into(
                _MEASURE,
                image,
                window=_MEASURE_WINDOW,
                out=part[: r1 - r0],
                work=work,
                rows=slice(r0 - lo, r1 - lo),
            )
            out += FLOAT(_MEASURE_FLOOR)
            np.log(out, out=out)
            out *= weight
            np.add(scores[k, r0:r1], out, out=scores[k, r0:r1], casting="unsafe")
    return scores


def local_agreement(a: NDArray[np.float32], b: NDArray[np.float32]) -> NDArray[np.float32]:
    """Normalised cross-correlation of two frames in each pixel's 5 x 5 window, in [-1, 1].

    Near 1 where both frames show the same structure, whatever the blur and
    contrast of each; near 0 where they differ or where only noise is left
    (flat areas); 0 where either window is perfectly flat.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a = rng.random((16, 16), dtype=np.float32)
    >>> float(local_agreement(a, 0.5 * a + 0.2)[8, 8]) > 0.99  # same structure
    True
    >>> b = rng.random((16, 16), dtype=np.float32)
    >>> abs(float(local_agreement(a, b).mean())) < 0.2  # unrelated
    True
    """
    from allfocus.filters.guided import box_mean, guide_statistics

    r = _AGREEMENT_RADIUS
    # Window means and variances (clamped at 0: rounding can leave a flat
    # window's variance slightly below it).
    mean_a, var_a = guide_statistics(a, r, 0.0)
    mean_b, var_b = guide_statistics(b, r, 0.0)
    cov = box_mean(a * b, r) - mean_a * mean_b
    norm = np.sqrt(var_a * var_b)
    out = np.zeros_like(cov)
    # Products below float32's rounding of the means are flat windows.
    np.divide(cov, norm, out=out, where=norm > 1e-6)
    return out


def pick_by_measure(
    labels: NDArray, luma: NDArray, *, reach: int, agreement: float = PICK_AGREEMENT
) -> NDArray:
    """Each pixel's frame with the largest classical focus measure among ``labels``
    and the ``reach`` frames either side of it that show the same structure there;
    ``labels`` itself (not a copy) for ``reach`` 0 or stacks of fewer than three
    frames.

    A neighbour competes only where its 5 x 5 window correlates with the
    winner's by at least ``agreement`` (:func:`local_agreement`): at an edge
    that both frames show, one more sharply. In flat areas the measure is
    noise, and the largest of several noisy measures picks the frame whose
    pixel strays furthest from its neighbours; at an out-of-focus cell's
    bright spot the neighbour shows another structure than the winner. In
    both the network's winner stays. ``agreement`` -1 lets every neighbour
    compete (the pick without the check).

    ``fuse_depthmap``'s measure. Computed in bands of rows, frame by frame
    (with the measure's and the correlation's halo: the same values as whole
    frames), so it needs no full-size array beyond ``labels``, ``luma`` and
    the result. Ties keep the lower frame, as
    :func:`~allfocus.fusion._common.argmax_frames` does. ``luma`` is
    float32 in [0, 1] or uint16.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> edge = np.repeat(np.repeat([[0.2, 0.8] * 6], 24, axis=0), 2, axis=1)  # bars
    >>> luma = np.stack([edge * 0.5 + 0.25, edge, rng.random((24, 24))]).astype(np.float32)
    >>> labels = np.zeros((24, 24), int)  # the network chose the low-contrast copy
    >>> int(pick_by_measure(labels, luma, reach=1)[12, 12])  # frame 1: same bars, sharper
    1
    >>> labels[:] = 1  # frame 2 is sharper noise, not the bars: frame 1 stays
    >>> int(pick_by_measure(labels, luma, reach=1)[12, 12])
    1
    >>> int(pick_by_measure(labels, luma, reach=1, agreement=-1)[12, 12])  # unchecked
    2
    """
    from allfocus.focus.measures import Workspace
    from allfocus.fusion.streaming import _GRID, band_rows, band_window, row_bands

    num, rows, cols = luma.shape
    if reach == 0 or num < 3:
        return labels
    halo = _pick_halo()
    work = Workspace()
    picked = labels.copy()
    for r0, r1 in row_bands(rows, band_rows(cols)):
        lo, hi = band_window(r0, r1, halo, rows, _GRID)
        _pick_band(
            labels[r0:r1],
            picked[r0:r1],
            luma[:, lo:hi],
            slice(r0 - lo, r1 - lo),
            reach,
            agreement,
            work,
        )
    return picked


def _pick_halo() -> int:
    """Rows the measure pick reads beyond a pixel: the classical measure's and the
    correlation window's reach (:func:`pick_by_measure`, :func:`halo`)."""
    from allfocus.focus.measures import halo as measure_halo

    return max(measure_halo(measure=_MEASURE, window=_MEASURE_WINDOW), _AGREEMENT_RADIUS)


def _pick_band(
    here: NDArray, out: NDArray, luma: NDArray, inner: slice, reach: int, agreement: float, work
) -> None:
    """:func:`pick_by_measure` on one band: ``here`` its labels, ``out`` where the
    picks go, ``luma`` the frames' rows with the halo, ``inner`` the band's rows in them."""
    from allfocus.focus.measures import focus_into

    num = luma.shape[0]
    value = np.empty(here.shape, dtype=FLOAT)
    best = np.full(here.shape, -np.inf, dtype=FLOAT)
    frames: dict[int, NDArray[np.float32]] = {}  # at most 2 reach + 1 held
    agreements: dict[tuple[int, int], NDArray[np.bool_]] = {}  # symmetric: once a pair

    def frame(k: int) -> NDArray[np.float32]:
        if k not in frames:
            frames[k] = np.ascontiguousarray(as_float_image(luma[k], name="luma"))
        return frames[k]

    for k in range(num):
        for gone in [j for j in frames if j < k - reach]:
            del frames[gone]
        for gone in [pair for pair in agreements if pair[0] < k - reach]:
            del agreements[gone]
        near = np.abs(here - k) <= reach
        if not near.any():
            continue
        if agreement > -1:
            # Competing here: the winner itself, and neighbours that agree with it.
            allowed = here == k
            for w in range(max(0, k - reach), min(num, k + reach + 1)):
                won = here == w
                if w != k and won.any():
                    pair = (min(k, w), max(k, w))
                    if pair not in agreements:
                        agree = local_agreement(frame(k), frame(w))[inner]
                        agreements[pair] = agree >= agreement
                    allowed |= won & agreements[pair]
            near &= allowed
        focus_into(_MEASURE, frame(k), window=_MEASURE_WINDOW, out=value, work=work, rows=inner)
        better = near & (value > best)
        out[better] = k
        best[better] = value[better]


def _report_from(
    progress: Callable[[int, int], None], before: int, everything: int, done: int, _: int
) -> None:
    """``progress`` of one octave's passes, counted on from the octaves before it."""
    progress(before + done, everything)


@FUSION_METHODS.register("gacn", help="learned GACN-style decision map (trained weights included)")
def fuse_gacn(
    stack: NDArray,
    *,
    channel_axis: int | None = None,
    weights: str = DEFAULT_WEIGHTS,
    refine: str = "depthmap",
    min_region: int = 4,
    refine_radius: int = 1,
    refine_eps: float = 1e-2,
    tile: int = 512,
    scales: int = DEFAULT_SCALES,
    measure_weight: float = MEASURE_WEIGHT,
    measure_reach: int = MEASURE_REACH,
    backend: str = "auto",
    unmix_rims: bool = True,
    sharpen_between: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> FusionResult:
    """All-in-focus image from a learned, frame-symmetric decision map.

    Parameters
    ----------
    stack : (S, M, N[, C]) ndarray
        Focus stack, frames on axis 0 (any order, any number >= 2), any dtype.
    channel_axis : int or None
        Colour axis of ``stack``; ``None`` for grey.
    weights : str
        ``"auto"`` (``gacn_v1`` for two frames, ``gacn_v4`` for more: see
        :func:`resolve_weights`), a registered weight name (see
        :data:`allfocus.nn.WEIGHTS`) or the path of a ``.pt`` state_dict as
        ``scripts/train_gacn.py`` writes it (with a record of its
        architecture; files without one must have a shipped architecture).
    refine : {"depthmap", "network", "soft", "none"}
        How the decision becomes blending weights: the depthmap method's
        guided filter on the cleaned per-pixel winner (default), the
        network's boundary guided filter on its soft map (GACN's own
        output), the soft map as it is, or hard selection of the winner.
    min_region : int
        Decision regions smaller than this many pixels take their neighbours'
        frame (0 keeps everything).
    refine_radius, refine_eps : int, float
        Guided filter of ``refine="depthmap"`` (as in ``fuse_depthmap``).
    tile : int
        Largest tile side of the network pass; larger images are processed in
        overlapping tiles (halo = the network's receptive radius).
    scales : int
        Octaves whose scores are averaged: 1 is the stack as it is, each
        further one the stack shrunk twice more (area averaging), scored and
        brought back to full size. The default, 3 (full, half and quarter
        size), lets the network see detail coarser than its 27 px reach; it
        costs about a quarter more network time.
    measure_weight : float
        Weight of the log classical focus measure (``fuse_depthmap``'s 3 x 3
        multi-scale Laplacian) added to the network's logits before the
        winner is taken (:func:`add_focus_measure`), in units of the
        median spread of the network's scores over the frames on this stack
        (:func:`typical_spread`); 0 leaves the network alone. The measure
        keeps the tips, thin parts and edge pixels of near objects that the
        network's 27 px view rounds off.
    measure_reach : int
        In stacks of three frames or more, the frame finally taken at a
        pixel is the one with the largest classical measure among the
        winner of the scores and those of its ``measure_reach`` neighbours on
        either side in stack order that show the same structure there
        (:func:`pick_by_measure`). Where the depth changes slowly (a slanted
        label, a circuit board) the network's regional view places the
        change from one frame to the next a few pixels off, which costs
        sharp edges; 1 (default) lets the measure place it (about 4 dB on
        synthetic labels at 5 frames). Flat areas and out-of-focus cells'
        bright spots, where the neighbour does not show the winner's
        structure, keep the winner. 0 keeps the winner everywhere. Pairs
        keep the winner (a neighbour would be any frame).
    unmix_rims, sharpen_between : bool
        The defocus model of :func:`allfocus.fusion.depthmap.fuse_depthmap`,
        applied to this method's depth map (see there and ``docs/methods.md``);
        its near end is voted on ``fuse_depthmap``'s decision labels.
    backend : {"auto", "opencv", "torch"}
        What runs the network (:data:`BACKENDS`): OpenCV's dnn module on the
        shipped weights' ONNX export (no torch), or torch (the ``learned``
        extra; also any ``.pt`` file). ``"auto"`` takes
        OpenCV where it can. The two give the same scores up to float
        rounding.
    progress : callable, optional
        ``progress(done, total)`` after each tile of the network pass (large
        images only; the pass is most of the method's time).

    Returns
    -------
    FusionResult
        ``depth``: the winning frame with sub-frame interpolation (a parabola
        through the network's scores of the winner and its neighbours);
        ``confidence``: the winner's probability rescaled so that a tie of
        all frames is 0.

    Raises
    ------
    InputError
        For a malformed stack or invalid options.
    MissingDependencyError
        If the network needs torch (see ``backend``) and it is not installed.

    Notes
    -----
    Every frame is scored against the largest activity among the *other*
    frames, so the decision is symmetric in the frames (no reference frame,
    no order dependence), unlike GACN's comparison of each frame with the
    first one. See ``docs/gacn.md``. :func:`fuse_gacn_passes` fuses stacks
    too large for memory, reading the frames twice.
    """
    options = _check_options(
        refine, min_region, refine_radius, refine_eps, tile, scales, measure_weight, measure_reach
    )
    min_region, refine_radius, refine_eps, tile, scales, measure_weight, measure_reach = options
    frames, luma = prepare(stack, channel_axis)
    model = _load_model(weights, frames.shape[0], backend)
    labels, depth, confidence, probs = _decide(
        model,
        luma,
        refine=refine,
        min_region=min_region,
        tile=tile,
        scales=scales,
        measure_weight=measure_weight,
        measure_reach=measure_reach,
        ends=unmix_rims or sharpen_between,
        progress=progress,
    )
    if refine != "network":
        model = None  # OpenCV's nets keep every layer's output: freed before the blend
    image = _combine(
        frames, model, luma, labels, probs, refine=refine, radius=refine_radius, eps=refine_eps
    )
    if unmix_rims or sharpen_between:
        # The near end is voted on the classical measure's label edges, which
        # lie on the blurred rims; the network's hug the outlines (see
        # allfocus.fusion.rims.estimate_rim_model).
        image, depth = restore_detail(
            frames,
            image,
            depth,
            unmix_rims=unmix_rims,
            sharpen_between=sharpen_between,
            vote_labels=_measure_labels(luma, min_region) if unmix_rims else None,
        )
    return finish(image, depth, confidence, channel_axis=channel_axis, stack_ndim=frames.ndim)


def _check_options(
    refine: str,
    min_region: int,
    refine_radius: int,
    refine_eps: float,
    tile: int,
    scales: int,
    measure_weight: float,
    measure_reach: int,
) -> tuple[int, int, float, int, int, float, int]:
    """Validated options shared by :func:`fuse_gacn` and :func:`fuse_gacn_passes`
    (``weights`` and ``backend``: :func:`_load_model`)."""
    if refine not in _REFINE:
        raise ConfigError(f"refine must be one of {', '.join(_REFINE)}; got {refine!r}")
    return (
        check_int("min_region", min_region, minimum=0),
        check_int("refine_radius", refine_radius, minimum=1),
        check_positive("refine_eps", refine_eps),
        check_int("tile", tile, minimum=64),
        check_int("scales", scales, minimum=1),
        check_positive("measure_weight", measure_weight, allow_zero=True),
        check_int("measure_reach", measure_reach, minimum=0),
    )


def _load_model(weights: str, num: int, backend: str):
    """The network for ``weights`` and a stack of ``num`` frames, on ``backend``
    (:data:`BACKENDS`): a :class:`~allfocus.fusion._gacn_net.Scorer`."""
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    if not isinstance(weights, str) or not weights:
        raise ConfigError(f"weights must be a weight name or a .pt path; got {weights!r}")
    name = resolve_weights(weights, num)
    if backend == "auto" and dnn_weights(name) is not None:
        try:
            return DnnGACN.load(name)
        except UnreadableGraphError as exc:
            # An older OpenCV: torch runs the same network where it is installed.
            if importlib.util.find_spec("torch") is None:
                raise
            warnings.warn(f"{exc}; running it with torch", RuntimeWarning, stacklevel=3)
        backend = "torch"
    if backend == "opencv":
        if name.endswith(".pt"):
            raise ConfigError(
                f"backend='opencv' runs the shipped weights only; {name!r} needs backend='torch' "
                "or 'auto' (the learned extra)"
            )
        return DnnGACN.load(name)
    try:
        from allfocus.nn import infer
    except ImportError as exc:
        raise missing_dependency("torch", "learned") from exc
    return infer.TorchScorer(infer.pretrained_gacn(name))


def _decide(
    model,
    luma: NDArray[np.float32],
    *,
    refine: str,
    min_region: int,
    tile: int,
    scales: int,
    measure_weight: float,
    measure_reach: int,
    ends: bool,
    progress: Callable[[int, int], None] | None,
    dtype: type = np.float32,
) -> tuple[NDArray[np.unsignedinteger], NDArray[np.float32], NDArray[np.float32], NDArray | None]:
    """Labels (the smallest unsigned dtype that holds them), sub-frame depth, confidence
    and (for the soft refinements) probabilities."""
    num = luma.shape[0]
    scores = octave_scores(model, luma, scales=scales, tile=tile, progress=progress, dtype=dtype)
    if measure_weight:
        add_focus_measure(scores, luma, weight=measure_weight * typical_spread(scores))
    labels = pick_by_measure(argmax_frames(scores), luma, reach=measure_reach)
    labels = remove_small_regions(labels, min_size=min_region)
    # The scores (logits), not the peaked probabilities, place the depth
    # between frames: on synthetic 10-frame stacks the median error is 0.19
    # frames against 0.24 from the probabilities. The defocus model needs the
    # end frames refined too (see subframe_depth).
    depth = subframe_depth(scores, labels, ends=ends)
    # From here on 1 byte a pixel (up to 256 frames) instead of 8.
    labels = labels.astype(np.min_scalar_type(num - 1))
    # Only the soft refinements need every frame's probability; the default
    # needs the winner's alone, which costs no (S, M, N) array.
    probs = _softmax(scores) if refine in ("soft", "network") else None
    top = probs.max(axis=0) if probs is not None else _top_probability(scores)
    del scores
    confidence = (top - 1.0 / num) / (1.0 - 1.0 / num)
    return labels, depth, confidence, probs


def _combine(
    frames: NDArray[np.float32] | Iterable[NDArray[np.float32]],
    model,
    luma: NDArray[np.float32],
    labels: NDArray[np.integer],
    probs: NDArray[np.float32] | None,
    *,
    refine: str,
    radius: int,
    eps: float,
) -> NDArray[np.float32]:
    """The fused image: ``frames`` (float32, channels last, any iterable) blended by ``refine``."""
    if refine == "none":
        return select_each(frames, labels)
    if refine == "soft":
        return blend(frames, probs)
    if refine == "network":
        return blend(frames, model.boundary_weights(probs, luma))
    return blend_along_edges(frames, luma, labels, radius, eps)


def fuse_gacn_passes(
    read_frames: Callable[[], Iterable[NDArray]],
    num_frames: int,
    *,
    channel_axis: int | None = None,
    weights: str = DEFAULT_WEIGHTS,
    refine: str = "depthmap",
    min_region: int = 4,
    refine_radius: int = 1,
    refine_eps: float = 1e-2,
    tile: int = 512,
    scales: int = DEFAULT_SCALES,
    measure_weight: float = MEASURE_WEIGHT,
    measure_reach: int = MEASURE_REACH,
    backend: str = "auto",
    progress: Callable[[str, int, int], None] | None = None,
) -> FusionResult:
    """:func:`fuse_gacn` of a stack read twice, a frame at a time, without the defocus model.

    For stacks that do not fit in memory as float32 colour frames. The first
    pass keeps every frame's luma (uint16, 2 bytes a pixel), from which the
    network decides (scores kept as float16); the second blends the frames,
    read again, into the image. Peak memory is about 4 bytes per pixel and
    frame plus a fixed part (the network's tile, full-size maps, a frame or
    two), against some 40 per pixel and frame for colour frames in memory.
    The result is that of ``fuse_gacn(stack, unmix_rims=False,
    sharpen_between=False)`` up to the rounding of luma and scores: near-ties
    between frames (about one pixel in 10,000) may go the other way, and the
    sub-frame depth may move by up to half a frame where the scores barely
    peak (texture-less areas). The defocus model needs every frame at once.

    Parameters
    ----------
    read_frames : callable
        Returns a fresh iterable of the ``num_frames`` frames (M, N[, C]), in
        stack order, the same frames each time (it is called twice).
    num_frames : int
        Frames ``read_frames`` gives (at least 2).
    channel_axis : int or None
        Colour axis of each frame (``-1`` or ``2`` for channels last, ``0``
        for channels first); ``None`` for grey.
    weights, refine, min_region, refine_radius, refine_eps, tile, scales, measure_weight
        As :func:`fuse_gacn`.
    measure_reach, backend
        As :func:`fuse_gacn`.
    progress : callable, optional
        ``progress(stage, done, total)`` with stages ``"luma"`` (first pass,
        per frame), ``"network"`` (per tile of large images) and ``"blend"``
        (second pass, per frame).

    Returns
    -------
    FusionResult
        As :func:`fuse_gacn`; the colour axis where the frames had it.

    Raises
    ------
    InputError
        For frames of different shapes, a count other than ``num_frames``,
        or invalid options.
    MissingDependencyError
        If the network needs torch (see ``backend``) and it is not installed.
    """
    options = _check_options(
        refine, min_region, refine_radius, refine_eps, tile, scales, measure_weight, measure_reach
    )
    min_region, refine_radius, refine_eps, tile, scales, measure_weight, measure_reach = options
    num = check_int("num_frames", num_frames, minimum=2)
    report = progress or (lambda stage, done, total: None)
    model = _load_model(weights, num, backend)
    luma = _first_pass(read_frames(), channel_axis, num, report)
    labels, depth, confidence, probs = _decide(
        model,
        luma,
        refine=refine,
        min_region=min_region,
        tile=tile,
        scales=scales,
        measure_weight=measure_weight,
        measure_reach=measure_reach,
        ends=False,
        progress=lambda done, total: report("network", done, total),
        dtype=np.float16,
    )
    shape = luma.shape[1:]
    if refine != "network":
        model = None  # OpenCV's nets keep every layer's output: freed before the blend
    if refine in ("depthmap", "none"):
        # From here these need at most the blend's guide, the selected luma:
        # every frame's luma (2 bytes a pixel each) goes before the second read.
        luma = select(luma, labels)
    # The blend along edges converts each frame to float a window and a
    # channel at a time (the same values): no float32 copy of a whole frame.
    frames = _checked_frames(
        read_frames(), channel_axis, num, shape=shape, report=report, as_float=refine != "depthmap"
    )
    image = _combine(
        frames, model, luma, labels, probs, refine=refine, radius=refine_radius, eps=refine_eps
    )
    # The frames' colour axis, counted in a stack of them.
    axis = None if channel_axis is None else channel_axis + 1 if channel_axis >= 0 else channel_axis
    return finish(image, depth, confidence, channel_axis=axis, stack_ndim=image.ndim + 1)


def _first_pass(
    frames: Iterable[NDArray],
    channel_axis: int | None,
    num: int,
    report: Callable[[str, int, int], None],
) -> NDArray[np.uint16]:
    """Every frame's luma as uint16 (exact for 8- and 16-bit grey frames), a band of
    rows at a time.

    With the scores as float16 the network's pass holds 4 bytes per pixel
    and frame instead of 8. The luma of each band is that of the frame's
    float32 copy (``luminance(as_float_image(frame))``), but no such copy of
    a whole colour frame (12 bytes a pixel) is made: those copies, freed
    frame after frame, left their memory in the heap the command keeps
    (1.15 GB of 2.76 resident when the network's pass began, at 30 frames of
    24 MP; docs/scaling.md).
    """
    from allfocus.focus.measures import Workspace
    from allfocus.fusion.streaming import band_rows, luma_rows, row_bands

    color = channel_axis is not None
    work = Workspace()
    luma: NDArray[np.uint16] | None = None
    # luma_rows checks a float or signed frame's values band by band, naming
    # the frame, so _checked_frames need not check (and copy) it whole first.
    checked = _checked_frames(frames, channel_axis, num, as_float=False, check_values=False)
    for k, frame in enumerate(checked):
        if luma is None:
            luma = np.empty((num, *frame.shape[:2]), dtype=np.uint16)
        for r0, r1 in row_bands(len(frame), band_rows(frame.shape[1])):
            part = luma_rows(frame[r0:r1], color=color, work=work, name=f"frame {k}")
            luma[k, r0:r1] = to_dtype(part, np.uint16)
        report("luma", k + 1, num)
    assert luma is not None  # _checked_frames gave num >= 2 frames
    return luma


def _checked_frames(
    frames: Iterable[NDArray],
    channel_axis: int | None,
    num: int,
    *,
    shape: tuple[int, ...] | None = None,
    report: Callable[[str, int, int], None] | None = None,
    as_float: bool = True,
    check_values: bool = True,
) -> Iterator[NDArray]:
    """Each frame channels last, checked like the frames of a stack: as float32 in
    [0, 1], or with ``as_float=False`` in its own dtype (a float frame is still
    checked for NaN and inf, a signed one for negative values, unless
    ``check_values=False``: the caller checks them)."""
    expected = 2 if channel_axis is None else 3
    count = 0
    for k, frame in enumerate(frames):
        if k >= num:
            raise InputError(f"read_frames gave more than num_frames={num} frames")
        arr = np.asarray(frame)
        if arr.ndim != expected:
            raise InputError(
                f"frame {k} must have {expected} dimensions with channel_axis={channel_axis}; "
                f"got shape {arr.shape}"
            )
        if channel_axis is not None:
            arr = np.moveaxis(arr, channel_axis, -1)
        if shape is None:
            shape = arr.shape[:2]
        elif arr.shape[:2] != tuple(shape):
            raise InputError(
                f"frame {k} is {arr.shape[1]}x{arr.shape[0]}, frame 0 {shape[1]}x{shape[0]}; "
                "all frames must have the same size"
            )
        if as_float:
            arr = as_float_image(arr, name=f"frame {k}")
        elif check_values and arr.dtype.kind != "u":
            as_float_image(arr, name=f"frame {k}")  # checks signed or float values only
        yield np.ascontiguousarray(arr)
        count = k + 1
        if report is not None:
            report("blend", count, num)
    if count != num:
        raise InputError(f"read_frames gave {count} frames; num_frames says {num}")


def halo(
    *,
    weights: str = DEFAULT_WEIGHTS,
    refine: str = "depthmap",
    min_region: int = 4,
    refine_radius: int = 1,
    refine_eps: float = 1e-2,
    tile: int = 512,
    scales: int = DEFAULT_SCALES,
    measure_weight: float = MEASURE_WEIGHT,
    measure_reach: int = MEASURE_REACH,
    backend: str = "auto",
    unmix_rims: bool = True,
    sharpen_between: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Pixels :func:`fuse_gacn` looks beyond a tile with these options.

    Examples
    --------
    >>> halo()
    138
    >>> halo(scales=1)
    38
    """
    # Whole-stack steps and reporting: no halo.
    del weights, refine_eps, tile, unmix_rims, sharpen_between, progress, backend
    boundary = 2 * 3 + 4 if refine == "network" else 2 * int(refine_radius)
    # The coarsest octave reaches 2**(scales - 1) times as far, and its
    # resampling (area down, bilinear up) a pixel of that octave more.
    factor = 2 ** (check_int("scales", scales, minimum=1) - 1)
    reach = _NETWORK_REACH * factor + (factor if factor > 1 else 0)
    if check_positive("measure_weight", measure_weight, allow_zero=True) or check_int(
        "measure_reach", measure_reach, minimum=0
    ):
        reach = max(reach, _pick_halo())
    return reach + boundary + int(min_region)
