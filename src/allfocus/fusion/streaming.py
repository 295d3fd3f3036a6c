"""Streaming fusion: fold the frames of a stack into a running state, one at a time.

A focus stack of 300 frames of 45 megapixels does not fit in memory, and it
does not need to: the decision-map and pyramid methods only ever compare a
new frame with the best one seen so far. :func:`fuse_streaming` reads the
frames from any iterable (for example :func:`allfocus.io.iter_frames`, which
decodes the next file on a second thread while this one is folded in) and
keeps a state whose size is a small constant times one frame, whatever the
number of frames.

Per frame the work is split into bands of rows that run on a thread pool
(OpenCV and NumPy release the GIL), so both cores of a small machine are
used and each band's temporaries stay in cache.

State, per pixel (``depthmap``)
    the best focus score, its frame index, the frame's pixel values (in the
    input's dtype, so 3 bytes for 8-bit RGB), the scores of the frames just
    before and after it (for the sub-frame parabola of the depth map), the
    lowest score (for the confidence map), and two *neighbour slots*: the
    index and pixel values of frames that are the best at a pixel within
    reach of the edge-refining guided filter, kept while they still are.
    The slots supply the other frames blended along a decision edge.

State, per pyramid level (``pyramid``)
    the largest local band energy and the coefficient that had it, plus the
    sum of the low-pass residuals.

Methods whose weights need every frame at once (``guided``: each frame's
weights are filtered with that frame as the guide after the argmax of all of
them is known) are not available here; use :func:`allfocus.fusion.fuse`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from allfocus._core.errors import InputError
from allfocus._core.types import FusionResult
from allfocus._core.validate import (
    FLOAT,
    as_float_image,
    dtype_range,
    luminance,
    move_channels_last,
)
from allfocus.filters.guided import box_mean
from allfocus.filters.pyramid import collapse_laplacian_pyramid, laplacian_pyramid, max_levels
from allfocus.focus.measures import FOCUS_MEASURES, Workspace, focus_into
from allfocus.focus.measures import halo as _measure_halo
from allfocus.fusion import FUSION_METHODS
from allfocus.fusion._common import check_int, check_positive, take_nearest_large

log = logging.getLogger(__name__)

#: Fusion methods :func:`fuse_streaming` can run.
STREAMING_METHODS: tuple[str, ...] = ("depthmap", "pyramid")

_BORDER = cv2.BORDER_REFLECT  # as filters.guided
_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=FLOAT)  # as _core.validate.luminance
_BAND = 128  # most rows per band
_BAND_PIXELS = 1 << 18  # pixels per band (fewer rows for wide frames): temporaries stay small
_LUMA_ROWS = 16  # rows of a colour frame converted to float at a time (in cache)
_LABEL_BAND = 256  # rows per band of the small-region labelling
_MEASURE_BAND = 256  # the focus measure's halo is recomputed per band: longer bands
_GRID = 8  # band windows start on multiples of this (the pyramid grid of multiscale measures)
_EMPTY = np.uint16(np.iinfo(np.uint16).max)  # an empty neighbour slot
MAX_FRAMES = int(_EMPTY) - 1
"""Most frames :func:`fuse_streaming` accepts (frame indices are stored as uint16)."""


def default_threads() -> int:
    """Threads for per-frame work: the CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


_OPENCV_LOCK = threading.Lock()
_opencv_users = 0  # fuse_streaming calls running with OpenCV's threads off
_opencv_threads = 0  # OpenCV's thread count before the first of them


@contextmanager
def _opencv_serial() -> Iterator[None]:
    """Run OpenCV's functions on the calling thread while in this block.

    The bands of a frame already run on a thread per CPU; OpenCV splitting
    each call over its own threads as well makes them wait and spin on the
    same cores (a fifth of the CPU time for 24 MP frames). Each pixel is
    computed the same either way. The setting is per process: it is
    restored when the last of concurrent calls ends.
    """
    global _opencv_users, _opencv_threads
    with _OPENCV_LOCK:
        if _opencv_users == 0:
            _opencv_threads = cv2.getNumThreads()
            cv2.setNumThreads(0)
        _opencv_users += 1
    try:
        yield
    finally:
        with _OPENCV_LOCK:
            _opencv_users -= 1
            if _opencv_users == 0:
                cv2.setNumThreads(_opencv_threads)


def luma_rows(part: NDArray, *, color: bool, work: Workspace, name: str) -> NDArray[np.float32]:
    """Luma of frame rows ``part``, as ``luminance(as_float_image(part))`` computes it.

    Unsigned frames are scaled and weighted a few rows at a time into
    ``work``'s arrays, so no float32 copy of the colour rows is made. The
    result is ``work``'s array "luma" (or "values" for grey frames): it is
    overwritten by the next call with the same workspace. ``name`` names the
    frame in the error for NaN, inf or negative values.
    """
    if part.dtype.kind != "u":  # floats are checked for NaN, signed ints for negatives
        values = as_float_image(part, name=name)
    elif color and part.shape[-1] >= 3:
        # scaled and weighted a few rows at a time, in cache
        luma = work("luma", part.shape[:2])
        scale = FLOAT(dtype_range(part.dtype))
        step = _LUMA_ROWS
        chunk = work("values", (step, *part.shape[1:]))
        for r in range(0, part.shape[0], step):
            rgb = part[r : r + step]
            values = np.divide(rgb, scale, out=chunk[: len(rgb)], dtype=FLOAT)
            np.matmul(values[..., :3], _LUMA_WEIGHTS, out=luma[r : r + step])
        return luma
    else:
        values = work("values", part.shape)
        np.divide(part, FLOAT(dtype_range(part.dtype)), out=values, dtype=FLOAT)
    if not color:
        return np.ascontiguousarray(values)
    luma = work("luma", part.shape[:2])
    if values.shape[-1] == 1:
        np.copyto(luma, values[..., 0])
    else:
        np.matmul(values[..., :3], _LUMA_WEIGHTS, out=luma)
    return luma


def row_bands(rows: int, size: int = _BAND) -> list[tuple[int, int]]:
    """Split ``rows`` into ``[start, stop)`` bands of ``size`` rows (the last may be shorter)."""
    return [(r, min(r + size, rows)) for r in range(0, rows, size)]


def band_rows(cols: int) -> int:
    """Rows per band for frames ``cols`` wide: about ``_BAND_PIXELS`` pixels, 16 to ``_BAND``.

    Examples
    --------
    >>> band_rows(64), band_rows(3000), band_rows(6000)
    (128, 80, 40)
    """
    rows = _BAND_PIXELS // max(int(cols), 1)
    return int(min(_BAND, max(16, rows - rows % 8)))


def band_window(start: int, stop: int, halo: int, rows: int, grid: int = 1) -> tuple[int, int]:
    """Rows a band needs to be computed exactly: ``halo`` either side, clipped to the image.

    The window starts on a multiple of ``grid`` so that pyramids built on it
    sample the same pixels as a pyramid of the whole image.
    """
    lo = max(0, start - halo)
    lo -= lo % grid
    return lo, min(rows, stop + halo)


def _run(pool: Executor, func: Callable[[tuple[int, int]], None], bands: list) -> None:
    for _ in pool.map(func, bands):  # consume to re-raise worker exceptions
        pass


def _clip_rows(array: NDArray[np.float32], band: tuple[int, int]) -> None:
    """Clip rows ``band`` of ``array`` to [0, 1] in place (as fusion._common.finish)."""
    rows = array[band[0] : band[1]]
    np.clip(rows, 0.0, 1.0, out=rows)


def _store_dtype(dtype: np.dtype) -> np.dtype:
    """Dtype the chosen pixel values are kept in: integers natively (lossless), else float32."""
    return np.dtype(dtype) if np.dtype(dtype).kind in "ui" else np.dtype(FLOAT)


class _FrameCheck:
    """Validate frames as they arrive: same shape, dtype and layout as the first."""

    def __init__(self, channel_axis: int | None) -> None:
        self.channel_axis = channel_axis
        self.shape: tuple[int, ...] | None = None
        self.dtype: np.dtype | None = None

    def __call__(self, frame: Any, index: int) -> NDArray:
        arr = np.asarray(frame)
        expected = 2 if self.channel_axis is None else 3
        if arr.ndim != expected:
            hint = (
                " (pass channel_axis=-1 for colour frames)"
                if self.channel_axis is None and arr.ndim == 3
                else ""
            )
            raise InputError(
                f"frame {index} must have {expected} dimensions "
                f"({'M, N' if expected == 2 else 'M, N, C'}) with channel_axis="
                f"{self.channel_axis}; got shape {arr.shape}{hint}"
            )
        arr = move_channels_last(arr, self.channel_axis, stack=False)
        if arr.dtype.kind not in "uifb":
            raise InputError(
                f"frame {index} has dtype {arr.dtype}; expected an integer or floating image"
            )
        if arr.dtype == bool:
            arr = arr.astype(np.uint8) * np.uint8(255)
        if self.shape is None:
            if arr.shape[0] < 2 or arr.shape[1] < 2:
                raise InputError(f"frames must be at least 2x2 pixels; got {arr.shape[:2]}")
            self.shape, self.dtype = arr.shape, arr.dtype
        elif arr.shape != self.shape:
            raise InputError(
                f"frame {index} has shape {arr.shape} (channels last) but frame 0 has "
                f"{self.shape}; all frames must have the same size and channels, "
                "crop or resize them first"
            )
        elif arr.dtype != self.dtype:
            raise InputError(
                f"frame {index} has dtype {arr.dtype} but frame 0 has {self.dtype}; convert "
                "the frames to one dtype (allfocus.io.iter_frames does this for files)"
            )
        return arr


# --------------------------------------------------------------------- depthmap


def _labels_near(labels: NDArray[np.uint16], reach: int) -> NDArray[np.uint32]:
    """Bit set of the labels (mod 32) found within ``reach`` pixels (a square) of each pixel."""
    bits = np.left_shift(np.uint32(1), labels & np.uint16(31), dtype=np.uint32)
    for axis in (1, 0):
        out = bits.copy()
        for shift in range(1, min(reach, bits.shape[axis] - 1) + 1):
            head: list[slice] = [slice(None), slice(None)]
            tail: list[slice] = [slice(None), slice(None)]
            head[axis], tail[axis] = slice(shift, None), slice(None, -shift)
            out[tuple(head)] |= bits[tuple(tail)]
            out[tuple(tail)] |= bits[tuple(head)]
        bits = out
    return bits


def _has(bitset: NDArray[np.uint32], labels: NDArray[np.uint16]) -> NDArray[np.bool_]:
    """Whether each pixel's label (mod 32) is in its ``bitset``."""
    bit = np.left_shift(np.uint32(1), labels & np.uint16(31), dtype=np.uint32)
    return np.bitwise_and(bitset, bit, out=bit).astype(bool)


class _Nearby:
    """Which labels occur within ``reach`` of each pixel of a band (the neighbourhood test).

    ``labels`` covers the band's rows with ``offset`` rows above it. An index
    equal to the largest or smallest label within reach (a grey dilation and
    erosion) is present; one outside their range is not; only those in
    between (where three or more frames meet) need a closer look: pixel by
    pixel when they are few, else through a bit set of the labels (mod 32)
    within reach, in which a frame 32 (or 64...) apart from a present one
    also reads as present.
    """

    def __init__(
        self, labels: NDArray[np.uint16], offset: int, rows: int, reach: int, kernel: NDArray
    ) -> None:
        self.labels, self.offset, self.rows, self.reach = labels, offset, rows, reach
        crop = slice(offset, offset + rows)
        self.top = cv2.dilate(labels, kernel)[crop]
        self.bottom = cv2.erode(labels, kernel)[crop]
        self._bits: NDArray[np.uint32] | None = None
        self._padded: NDArray[np.uint16] | None = None

    def has(self, index: NDArray[np.uint16]) -> NDArray[np.bool_]:
        """Whether each pixel's ``index`` occurs within reach (``_EMPTY`` never does)."""
        found = (index == self.top) | (index == self.bottom)
        between = (index > self.bottom) & (index < self.top)
        count = int(np.count_nonzero(between))
        if not count:
            return found
        if count > between.size // 32:
            if self._bits is None:
                self._bits = _labels_near(self.labels, self.reach)[
                    self.offset : self.offset + self.rows
                ]
            found |= between & _has(self._bits, index)
            return found
        if self._padded is None:
            r = self.reach
            self._padded = cv2.copyMakeBorder(self.labels, r, r, r, r, cv2.BORDER_REPLICATE)
        width = self._padded.shape[1]
        flat = self._padded.ravel()
        # flat indices (np.nonzero of a 2-D array is several times slower)
        at = np.flatnonzero(between)
        rows = at // between.shape[1]
        want = index.ravel()[at]
        base = at + rows * (2 * self.reach) + (self.offset + self.reach) * width + self.reach
        hit = np.zeros(want.shape, dtype=bool)
        for dy in range(-self.reach, self.reach + 1):
            for dx in range(-self.reach, self.reach + 1):
                hit |= flat[base + (dy * width + dx)] == want
        found.ravel()[at] = hit
        return found


def _mask(array: NDArray[np.bool_]) -> NDArray[np.uint8]:
    """A boolean array as the uint8 mask OpenCV takes (no copy when contiguous)."""
    return np.ascontiguousarray(array).view(np.uint8)


def clean_labels(
    labels: NDArray[np.integer],
    *,
    min_size: int,
    pool: Executor | None = None,
    scratch: tuple[NDArray[np.float32], NDArray[np.int32]] | None = None,
) -> NDArray[np.uint16]:
    """:func:`allfocus.fusion.depthmap.remove_small_regions`, several times faster.

    The same regions are found (4-connected pixels of one label smaller than
    ``min_size``), in one pass for all labels (:func:`skimage.measure.label`)
    instead of one pass per label, and each of their pixels takes the label
    of the nearest pixel of a large enough region
    (:func:`allfocus.fusion._common.take_nearest_large`, as in memory).

    The regions are labelled in bands of rows with ``min_size - 1`` rows of
    context either side, on ``pool`` when given: a region of fewer than
    ``min_size`` pixels spans fewer rows than that, so a band sees every
    small region that touches it whole, and a region cut by the band's
    window is at least ``min_size`` pixels inside it. The result is the
    same as labelling the whole map at once.

    Parameters
    ----------
    labels : (M, N) ndarray of int
        Frame indices, below 65535.
    min_size : int
        Smallest region kept, in pixels.
    pool : concurrent.futures.Executor, optional
        Runs the bands (scikit-image releases the GIL); in this thread if
        not given.
    scratch : (float32 array, int32 array), optional
        Contiguous arrays of the map's shape that the distance transform
        may write into (its distances and nearest pixels); fresh ones if
        not given.

    Returns
    -------
    (M, N) ndarray of uint16
    """
    from skimage.measure import label as connected

    labels = np.asarray(labels).astype(np.uint16, copy=False)
    if min_size <= 1:
        return labels
    rows = labels.shape[0]
    small = np.empty(labels.shape, dtype=bool)

    def band(rng: tuple[int, int]) -> None:
        r0, r1 = rng
        lo, hi = band_window(r0, r1, min_size - 1, rows)
        regions = connected(labels[lo:hi], connectivity=1, background=int(_EMPTY))
        sizes = np.bincount(regions.ravel())
        small[r0:r1] = (sizes < min_size)[regions[r0 - lo : r1 - lo]]

    bands = row_bands(rows, _LABEL_BAND)
    if pool is None:
        for rng in bands:
            band(rng)
    else:
        _run(pool, band, bands)
    if not small.any() or small.all():
        return labels
    return take_nearest_large(labels, small, scratch=scratch)


class _DepthmapStream:
    """Running state of :func:`allfocus.fusion.depthmap.fuse_depthmap`."""

    def __init__(
        self,
        *,
        measure: str = "multiscale_laplacian",
        window: int = 3,
        min_region: int = 4,
        refine_radius: int = 1,
        refine_eps: float = 1e-2,
    ) -> None:
        self.window = check_int("window", window, minimum=1)
        self.min_region = check_int("min_region", min_region, minimum=0)
        self.radius = check_int("refine_radius", refine_radius, minimum=0)
        self.eps = check_positive("refine_eps", refine_eps)
        FOCUS_MEASURES.get(measure)  # unknown names raise, listing the valid ones
        self.measure = measure
        self.halo = _measure_halo(measure=measure, window=self.window)
        # How far a frame that wins a pixel is remembered around it: the
        # guided filter's reach (two chained boxes), or one pixel for the
        # small-region cleanup when there is no refinement.
        self.reach = max(2 * self.radius, 1 if self.min_region > 1 else 0)

    def start(self, frame: NDArray) -> None:
        rows, cols = frame.shape[:2]
        plane = (rows, cols)
        self.rows, self.color = rows, frame.ndim == 3
        self.store = _store_dtype(frame.dtype)
        self.bands = row_bands(rows, band_rows(cols))
        self.measure_bands = row_bands(rows, _MEASURE_BAND)
        # The best, the previous frame's and this frame's scores in one block:
        # at the end it holds the distance transform of the cleanup and then
        # the fused colour image (fresh memory would cost a page fault per 4 KiB).
        self._planes = np.empty((3, *plane), dtype=FLOAT)
        self.best, self.last, self.score = self._planes
        self.worst = np.empty(plane, dtype=FLOAT)
        self.prev = np.zeros(plane, dtype=FLOAT)  # score of frame label - 1
        self.next = np.zeros(plane, dtype=FLOAT)  # score of frame label + 1
        self.win = np.zeros(plane, dtype=bool)
        self.label = np.zeros(plane, dtype=np.uint16)
        self._scratch = threading.local()
        self.value = np.empty(frame.shape, dtype=self.store)
        if self.reach:
            # Two neighbour slots: index and pixel values of frames chosen nearby.
            # (set to _EMPTY by the first frame's bands, on the thread pool)
            self.slots = [np.empty(plane, dtype=np.uint16) for _ in range(2)]
            self.slot_values = [np.zeros(frame.shape, dtype=self.store) for _ in range(2)]
            side = 2 * self.reach + 1
            self.kernel = np.ones((side, side), dtype=np.uint8)

    def _stored(self, frame: NDArray, rows: slice) -> NDArray:
        part = frame[rows]
        if part.dtype == self.store:
            return np.ascontiguousarray(part)
        return as_float_image(part, name="frame")

    def _slots(self, k: int, r0: int, r1: int, stored: NDArray) -> None:
        """Keep in the neighbour slots two frames chosen near each pixel, other than its own.

        Run for a band before its winners are written. A slot stays while its
        frame is still chosen somewhere within ``reach`` (after this frame's
        wins); a freed slot takes frame ``k`` where ``k`` won nearby, or the
        pixel's previous frame where ``k`` took the pixel itself and the
        previous frame is still chosen nearby. Presence is tested on labels
        modulo 32, so with more than 32 frames a slot may outstay its frame
        where a frame 32 (or 64, ...) apart is chosen nearby.
        """
        rows = slice(r0, r1)
        win, label = self.win[rows], self.label[rows]
        lo, hi = band_window(r0, r1, self.reach, self.rows)
        # Labels after this frame (all earlier labels are below k). Other
        # bands may be writing theirs, but only ever k where win is set, so
        # this reads the same either way.
        after = np.maximum(self.label[lo:hi], self.win[lo:hi].view(np.uint8) * np.uint16(k))
        nearby = _Nearby(after, r0 - lo, r1 - r0, self.reach, self.kernel)
        own = after[r0 - lo : r1 - lo]
        grown = cv2.dilate(self.win[lo:hi].view(np.uint8), self.kernel)[r0 - lo : r1 - lo]
        near = grown.view(bool) & ~win  # frame k won within reach, not here
        # frame k took this pixel and the pixel's previous frame is still near
        # (np.where with a scalar is slow: the label where won, else _EMPTY)
        kept = win & nearby.has(np.maximum(label, (~win).view(np.uint8) * _EMPTY))
        old_value = self.value[rows]
        for slot, values in zip(self.slots, self.slot_values, strict=True):
            index = slot[rows]
            free = (index == own) | ~nearby.has(index)
            np.maximum(index, free.view(np.uint8) * _EMPTY, out=index)
            take = free & near
            np.minimum(index, _EMPTY - take.view(np.uint8) * np.uint16(_EMPTY - k), out=index)
            cv2.copyTo(stored, _mask(take), values[rows])
            near &= ~take
            take = free & kept
            cv2.copyTo(label, _mask(take), index)
            cv2.copyTo(old_value, _mask(take), values[rows])
            kept &= ~take

    def _work(self) -> Workspace:
        """This thread's scratch arrays, reused from band to band and frame to frame."""
        work = getattr(self._scratch, "work", None)
        if work is None:
            work = self._scratch.work = Workspace()
        return work

    def add(self, frame: NDArray, k: int, pool: Executor) -> None:
        first = k == 0

        def measure(band: tuple[int, int]) -> None:
            r0, r1 = band
            lo, hi = band_window(r0, r1, self.halo, self.rows, _GRID)
            work = self._work()
            luma = luma_rows(frame[lo:hi], color=self.color, work=work, name=f"frame {k}")
            score = focus_into(
                self.measure,
                luma,
                window=self.window,
                out=self.score[r0:r1],
                work=work,
                rows=slice(r0 - lo, r1 - lo),
            )
            if first:
                self.best[r0:r1] = score
                self.worst[r0:r1] = score
                self.value[r0:r1] = self._stored(frame, slice(r0, r1))
                for slot in getattr(self, "slots", ()):
                    slot[r0:r1] = _EMPTY
            else:
                np.greater(score, self.best[r0:r1], out=self.win[r0:r1])

        def update(band: tuple[int, int]) -> None:
            r0, r1 = band
            rows = slice(r0, r1)
            score, label = self.score[rows], self.label[rows]
            cv2.copyTo(score, _mask(label == k - 1), self.next[rows])
            np.minimum(self.worst[rows], score, out=self.worst[rows])
            # Where frame k wins nowhere within reach of the band nothing else
            # changes: no label, and so no neighbour slot either.
            lo, hi = band_window(r0, r1, self.reach, self.rows)
            if not self.win[lo:hi].any():
                return
            stored = self._stored(frame, rows)
            if self.reach:
                self._slots(k, r0, r1, stored)
            win = _mask(self.win[rows])
            cv2.copyTo(self.last[rows], win, self.prev[rows])
            np.maximum(self.best[rows], score, out=self.best[rows])
            np.maximum(label, win * np.uint16(k), out=label)
            cv2.copyTo(stored, win, self.value[rows])

        _run(pool, measure, self.measure_bands)
        # The measure's scratch arrays served every band of the frame; let
        # them go before the update (memory stays what one band needs).
        self._scratch = threading.local()
        if not first:
            _run(pool, update, self.bands)
        self.last, self.score = self.score, self.last

    def finish(self, num: int, pool: Executor) -> tuple[NDArray, NDArray, NDArray]:
        del self.last, self.score, self.win
        raw = self.label
        floor = FLOAT(1e-2) * FLOAT(self.best.mean()) + FLOAT(1e-12)
        # The maps are written over the score buffers they are computed from
        # (fresh arrays would cost a page fault per 4 KiB).
        depth, confidence = self.next, self.worst

        def maps(band: tuple[int, int]) -> None:
            # As fusion._common.contrast_confidence and subframe_depth, by bands
            # (np.where with a scalar is slow: masks and cv2.copyTo instead).
            rows = slice(*band)
            best, worst = self.best[rows], self.worst[rows]
            idx = raw[rows].astype(FLOAT)  # exact: frame indices are below 2**16
            f0, f1, f2 = self.prev[rows], best, self.next[rows]
            curv = f0 - 2.0 * f1 + f2
            inner = (idx > 0) & (idx < num - 1) & (curv < 0)
            safe = np.full(curv.shape, -1.0, dtype=FLOAT)
            cv2.copyTo(curv, _mask(inner), safe)
            offset = np.subtract(f0, f2, out=curv)
            offset *= FLOAT(0.5)
            offset /= safe
            offset *= inner  # 0 (or -0) outside, where safe is -1 and offset finite
            np.clip(offset, -0.5, 0.5, out=offset)
            # float32 sums of two float32 values: as rounding the float64 sum
            np.add(idx, offset, out=depth[rows])
            total = np.add(best, worst, out=safe)
            total += floor
            np.divide(np.subtract(best, worst, out=offset), total, out=confidence[rows])
            np.clip(confidence[rows], 0.0, 1.0, out=confidence[rows])

        _run(pool, maps, self.bands)
        del self.best, self.worst, self.prev, self.next
        planes = self._planes
        del self._planes

        labels = clean_labels(
            raw,
            min_size=self.min_region,
            pool=pool,
            scratch=(planes[1], planes[2].view(np.int32)),
        )
        # flat indices: np.nonzero of a 2-D array is several times slower
        merged = np.flatnonzero(labels != raw)
        if merged.size:
            plane = raw.size

            def flat(array: NDArray) -> NDArray:
                return array.reshape(plane, -1) if array.ndim == 3 else array.reshape(plane)

            new = flat(labels)[merged]
            flat(depth)[merged] = new
            missing = merged.size
            if self.reach:
                # A pixel of a merged small region takes its new frame's values
                # from a neighbour slot; the two swap so that the chosen frame
                # stays first.
                found = np.zeros(merged.size, dtype=bool)
                own, own_values = flat(raw), flat(self.value)
                for slot, values in zip(self.slots, self.slot_values, strict=True):
                    hit = ~found & (flat(slot)[merged] == new)
                    at = merged[hit]
                    index, values = flat(slot), flat(values)
                    index[at], own[at] = own[at], index[at]
                    values[at], own_values[at] = own_values[at], values[at]
                    found |= hit
                missing -= int(np.count_nonzero(found))
            if missing:
                log.debug("%d merged pixels keep their own frame's values", missing)
        del merged

        if self.radius == 0:
            image = as_float_image(self.value)  # the state itself when float32: not needed again
            _run(pool, lambda band: _clip_rows(image, band), self.bands)
            return image, depth, confidence
        if self.color and self.value.shape[-1] == 3:
            image = planes.reshape(self.value.shape)  # the block of score planes, reused
        else:
            del planes
            image = np.empty(self.value.shape, dtype=FLOAT)
        _run(pool, lambda band: self._refine(band, labels, raw, image), self.bands)
        return image, depth, confidence

    def _refine(
        self,
        band: tuple[int, int],
        labels: NDArray[np.uint16],
        own: NDArray[np.uint16],
        image: NDArray[np.float32],
    ) -> None:
        """Blend, in rows ``band``, each pixel's candidate frames by guided-filter weights.

        As :func:`allfocus.fusion.depthmap.fuse_depthmap`: the weight of frame
        ``k`` is the guided filter of the indicator of ``labels == k`` steered
        by the fused luma (the guide's statistics computed once for all
        frames), evaluated on the bounding box of the frame's pixels (it is
        zero farther out) and kept for the frames each pixel holds: its own
        and its two neighbour slots. Pixels with one frame all around keep
        their own values (their weight is exactly one).
        """
        r0, r1 = band
        radius, color = self.radius, self.color
        lo, hi = band_window(r0, r1, 2 * radius, self.rows)
        near = labels[lo:hi]
        rows = slice(r0, r1)
        work = self._work()
        # Every array of the band lives in this thread's workspace (fresh
        # arrays would cost a page fault per 4 KiB, band after band).
        values = self._float(self.value[lo:hi], work, "window")
        own_value = values[r0 - lo : r1 - lo]
        fused = image[rows]
        if (near == near[0, 0]).all():
            np.clip(own_value, 0.0, 1.0, out=fused)
            return
        candidates = [own[rows], *(slot[rows] for slot in self.slots)]
        if not color:
            guide = values
        elif values.shape[-1] == 1:
            guide = work("guide", near.shape)
            np.copyto(guide, values[..., 0])
        else:
            guide = np.matmul(values[..., :3], _LUMA_WEIGHTS, out=work("guide", near.shape))
        size = (2 * radius + 1, 2 * radius + 1)

        def box(src: NDArray, dst: NDArray) -> NDArray:
            return cv2.boxFilter(src, -1, size, dst=dst, normalize=True, borderType=_BORDER)

        # the guide's statistics, as filters.guided._guided_grey
        mean_i = box(guide, work("mean_i", near.shape))
        square = np.multiply(guide, guide, out=work("square", near.shape))
        denom = box(square, work("denom", near.shape))  # the guide's variance, then
        denom -= np.multiply(mean_i, mean_i, out=square)
        np.maximum(denom, 0.0, out=denom)
        denom += FLOAT(self.eps)
        weights = [work(f"weight{i}", candidates[0].shape) for i in range(len(candidates))]
        for weight in weights:
            weight.fill(0.0)
        margin = 3 * radius
        height, width = near.shape
        scratch = [work(f"scratch{i}", near.shape) for i in range(4)]

        for k in np.unique(near):
            found = near == k
            x, y, w, h = cv2.boundingRect(found.view(np.uint8))
            a, b = max(0, y - margin), min(height, y + h + margin)
            c, d = max(0, x - margin), min(width, x + w + margin)
            top, bottom = max(a, r0 - lo), min(b, r1 - lo)
            if top >= bottom:
                continue
            win = (slice(a, b), slice(c, d))
            s0, s1, s2, s3 = (buf[win] for buf in scratch)
            # the guided filter of the indicator, as filters.guided._guided_grey
            np.copyto(s0, found[win])  # indicator as float
            mean_p = box(s0, s1)
            box(np.multiply(s0, guide[win], out=s2), s3)
            cov = np.subtract(s3, np.multiply(mean_i[win], mean_p, out=s2), out=s3)
            slope = np.divide(cov, denom[win], out=s3)
            offset = np.subtract(mean_p, np.multiply(slope, mean_i[win], out=s2), out=s2)
            weight = box(slope, s0)
            np.multiply(weight, guide[win], out=weight)
            weight += box(offset, s1)
            np.maximum(weight, 0.0, out=weight)
            part = weight[top - a : bottom - a]
            out = (slice(top - (r0 - lo), bottom - (r0 - lo)), slice(c, d))
            for index, target in zip(candidates, weights, strict=True):
                cv2.copyTo(part, _mask(index[out] == k), target[out])
        total = np.add(weights[0], weights[1], out=scratch[0][: r1 - r0])
        total += weights[2]
        np.multiply(own_value, weights[0][..., None] if color else weights[0], out=fused)
        for slot_values, weight in zip(self.slot_values, weights[1:], strict=True):
            term = self._float(slot_values[rows], work, "term")
            term = np.multiply(
                term, weight[..., None] if color else weight, out=work("term", term.shape)
            )
            fused += term
        blended = total > 0
        np.maximum(total, FLOAT(1e-6), out=total)
        fused /= total[..., None] if color else total
        cv2.copyTo(own_value, _mask(~blended), fused)
        np.clip(fused, 0.0, 1.0, out=fused)  # as fusion._common.finish, while in cache

    def _float(self, part: NDArray, work: Workspace, name: str) -> NDArray[np.float32]:
        """Stored pixel values as float32 in [0, 1], as ``as_float_image(part)`` gives them."""
        if part.dtype.kind not in "ui":
            return part  # float32, checked when the frame came in
        out = work(name, part.shape)
        return np.divide(part, FLOAT(dtype_range(part.dtype)), out=out, dtype=FLOAT)


# ---------------------------------------------------------------------- pyramid


class _PyramidStream:
    """Running state of :func:`allfocus.fusion.pyramid.fuse_pyramid` (no consistency vote)."""

    def __init__(
        self,
        *,
        levels: int | None = None,
        energy_radius: int = 1,
        consistency_radius: int = 0,
    ) -> None:
        self.levels = levels
        self.energy_radius = check_int("energy_radius", energy_radius, minimum=0)
        consistency_radius = check_int("consistency_radius", consistency_radius, minimum=0)
        if consistency_radius:
            raise InputError(
                f"consistency_radius={consistency_radius} needs every frame's choice map at "
                "once; streaming pyramid fusion supports only consistency_radius=0 (use "
                "allfocus.fusion.fuse for the majority vote)"
            )

    def start(self, frame: NDArray) -> None:
        shape = frame.shape[:2]
        top = max_levels(shape, min_size=1)
        levels = max_levels(shape, min_size=8) if self.levels is None else self.levels
        levels = check_int("levels", levels, minimum=1)
        if levels > top:
            raise InputError(f"levels={levels} is too many for frames of {shape}; at most {top}")
        self.levels, self.color = levels, frame.ndim == 3
        self.best: list[NDArray[np.float32]] = []
        self.coef: list[NDArray[np.float32]] = []
        self.residual: NDArray[np.float32] | None = None

    def add(self, frame: NDArray, k: int, pool: Executor) -> None:
        values = as_float_image(frame, name=f"frame {k}")
        luma = np.ascontiguousarray(luminance(values, color=self.color), dtype=FLOAT)
        bands = laplacian_pyramid(luma, levels=self.levels)[:-1]
        del luma
        pyramid = laplacian_pyramid(values, levels=self.levels)
        del values
        if k == 0:
            self.residual = pyramid[-1].copy()
        else:
            self.residual += pyramid[-1]

        def level(lev: int) -> None:
            band, coef = bands[lev], pyramid[lev]
            energy = box_mean(band * band, self.energy_radius)
            if k == 0:
                self.best.append(energy)
                self.coef.append(coef)
                if lev == 0:
                    self.label = np.zeros(energy.shape, dtype=np.uint16)
                    self.worst, self.last = energy.copy(), energy.copy()
                    self.prev, self.next = np.zeros_like(energy), np.zeros_like(energy)
                return
            win = energy > self.best[lev]
            if lev == 0:
                np.copyto(self.next, energy, where=self.label == k - 1)
                np.copyto(self.prev, self.last, where=win)
                np.copyto(self.label, np.uint16(k), where=win)
                np.minimum(self.worst, energy, out=self.worst)
                self.last = energy
            np.copyto(self.best[lev], energy, where=win)
            if coef.ndim > win.ndim:
                win = win[..., None]
            np.copyto(self.coef[lev], coef, where=win)

        if k == 0:  # lists are built in level order
            for lev in range(len(bands)):
                level(lev)
        else:
            _run(pool, level, list(range(len(bands))))

    def finish(self, num: int, pool: Executor) -> tuple[NDArray, NDArray, NDArray]:
        fused = [*self.coef, np.asarray(self.residual) / FLOAT(num)]
        image = collapse_laplacian_pyramid(fused)
        if not self.color and image.ndim == 3:
            image = image[..., 0]
        if not self.best:  # a one-level pyramid is just the average
            plane = image.shape[:2]
            depth = np.full(plane, (num - 1) / 2, dtype=FLOAT)
            return _clipped(image), depth, np.zeros(plane, dtype=FLOAT)
        best, worst = self.best[0], self.worst
        floor = FLOAT(1e-2) * FLOAT(best.mean()) + FLOAT(1e-12)
        confidence = ((best - worst) / (best + worst + floor)).astype(FLOAT)
        idx = self.label.astype(np.intp)
        curv = self.prev - 2.0 * best + self.next
        inner = (idx > 0) & (idx < num - 1) & (curv < 0)
        safe = np.where(inner, curv, -1.0)
        offset = np.where(inner, 0.5 * (self.prev - self.next) / safe, 0.0)
        depth = (idx + np.clip(offset, -0.5, 0.5)).astype(FLOAT)
        return _clipped(image), depth, _clipped(confidence)


def _clipped(array: NDArray) -> NDArray[np.float32]:
    """``array`` clipped to [0, 1], float32 and contiguous (as fusion._common.finish)."""
    return np.ascontiguousarray(np.clip(array, 0.0, 1.0), dtype=FLOAT)


_STREAMS: dict[str, type] = {"depthmap": _DepthmapStream, "pyramid": _PyramidStream}


def fuse_streaming(
    frames: Iterable[NDArray],
    *,
    method: str = "depthmap",
    channel_axis: int | None = None,
    threads: int | None = None,
    progress: Callable[[int], None] | None = None,
    **params: Any,
) -> FusionResult:
    """Fuse frames read one at a time, in memory that does not grow with their number.

    Parameters
    ----------
    frames : iterable of (M, N[, C]) ndarray
        The frames in stack order, all of one shape and dtype (integers are
        scaled to [0, 1] by their range, floats used as they are). Any
        iterable: a list, a generator, :func:`allfocus.io.iter_frames`.
    method : str
        ``"depthmap"`` (default) or ``"pyramid"``; see
        :data:`STREAMING_METHODS`.
    channel_axis : int or None
        Axis of the colour channels *of each frame*; ``None`` for grey.
    threads : int or None
        Threads for the per-frame work; ``None`` uses every CPU this
        process may run on.
    progress : callable, optional
        Called as ``progress(done)`` after each frame is folded in.
    **params
        Options of the method, as for :func:`allfocus.fusion.fuse`.
        ``pyramid`` supports only ``consistency_radius=0`` (its default
        here), since the majority vote needs every frame's choices.

    Returns
    -------
    FusionResult
        As the in-memory method returns, float32, ``image`` in the frames'
        channel layout.

    Raises
    ------
    InputError
        For an unknown method or one that needs the whole stack
        (``guided``), bad options, fewer than two frames, or frames that
        differ in shape or dtype from the first.

    See Also
    --------
    allfocus.fusion.fuse : the in-memory methods.
    allfocus.io.iter_frames : read frames lazily from files.

    Notes
    -----
    Memory: for ``depthmap`` the state is 31 bytes per pixel plus the
    pixel values three times in the input dtype (the chosen frame's and two
    neighbour slots'): 40 bytes per pixel, about 1 GB, for 24-megapixel
    8-bit RGB frames, whatever their number; :func:`allfocus.io.iter_frames`
    adds two frames. ``pyramid`` keeps float32 coefficients, about
    ``4/3 * (4 + 4 C)`` bytes per pixel plus the depth state.

    ``depthmap`` computes what :func:`allfocus.fusion.depthmap.fuse_depthmap`
    computes with ``unmix_rims=False, sharpen_between=False`` (those steps
    need every frame again after the fusion; the options are ignored here): the
    same focus measure (in bands of rows with a halo, which
    gives the same values), argmax, small-region cleanup of the final map
    and guided refinement. It differs where the state no longer holds what
    the in-memory method uses. (1) The refinement blends, along each
    decision edge, every frame chosen within ``2 * refine_radius`` pixels;
    the state keeps a pixel's own frame and two neighbour frames (tested
    exactly while frames win and lose pixels, except that with more than 32
    frames two frames 32 apart can be confused), so where four or more
    frames meet one is left out. (2) A pixel of a merged small region takes
    its new frame from a neighbour slot, or keeps its own values when the
    frame is not there, and gets an integer depth; the nearest large region
    comes from OpenCV's exact distance transform, which may break ties
    between equally near pixels differently from SciPy's. On synthetic
    stacks (``tests/fusion/test_streaming.py``) the image's PSNR against the
    in-memory one is above 50 dB (typically 60 to 70), fewer than 1 % of the
    pixels (typically 0.05 to 0.3 %) differ by more than 1/255, the depth
    map agrees on 99 % of the pixels and the confidence map everywhere.
    With ``refine_radius=0, min_region=0`` the result is identical.

    ``pyramid`` equals :func:`allfocus.fusion.pyramid.fuse_pyramid` with
    ``consistency_radius=0`` up to float rounding (the residuals are summed
    and then divided by the number of frames).

    Examples
    --------
    >>> import numpy as np
    >>> from allfocus.fusion import fuse
    >>> from allfocus.synth import synthetic_stack
    >>> stack = synthetic_stack((64, 64), 4, rng=0).frames
    >>> streamed = fuse_streaming(iter(stack), channel_axis=-1)
    >>> from allfocus.fusion.depthmap import DEFOCUS_MODEL_OFF  # not done here
    >>> in_memory = fuse(stack, channel_axis=-1, **DEFOCUS_MODEL_OFF)
    >>> bool(np.abs(streamed.image - in_memory.image).mean() < 1e-3)
    True
    """
    if method not in _STREAMS:
        FUSION_METHODS.get(method)  # unknown names raise, listing the valid ones
        raise InputError(
            f"fusion method {method!r} needs the whole stack in memory; streaming fusion "
            f"supports {', '.join(STREAMING_METHODS)} (use allfocus.fusion.fuse for {method!r})"
        )
    if threads is not None:
        threads = check_int("threads", threads, minimum=1)
    # Rim un-mixing and between-plane sharpening need every frame again
    # after the fusion, which a stream cannot give.
    from allfocus.fusion.depthmap import DEFOCUS_MODEL_OFF

    for option in DEFOCUS_MODEL_OFF:
        params.pop(option, None)
    state = _STREAMS[method](**params)
    check = _FrameCheck(channel_axis)
    count = 0
    with _opencv_serial(), ThreadPoolExecutor(threads or default_threads()) as pool:
        for frame in frames:
            if count >= MAX_FRAMES:
                raise InputError(f"streaming fusion takes at most {MAX_FRAMES} frames")
            array = check(frame, count)
            if count == 0:
                state.start(array)
            state.add(array, count, pool)
            del array, frame  # let the frame's memory go before the next is read
            count += 1
            if progress is not None:
                progress(count)
        if count < 2:
            raise InputError(f"a focus stack needs at least 2 frames; got {count}")
        # float32, contiguous, image and confidence clipped to [0, 1] as
        # fusion._common.finish makes them (the depth map's state clips them
        # band by band, in place)
        image, depth, confidence = state.finish(count, pool)
    result = FusionResult(image=image, depth=depth, confidence=confidence)
    if channel_axis is not None:
        result.image = np.ascontiguousarray(np.moveaxis(result.image, -1, channel_axis))
    return result


__all__ = ["MAX_FRAMES", "STREAMING_METHODS", "fuse_streaming"]
