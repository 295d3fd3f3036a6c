"""Running the GACN decision network on a grey stack, tile by tile, with or without torch.

Two backends compute the same scores (up to float rounding, about 1e-4 of
their spread; see ``tests/nn/test_gacn_opencv.py``):

* ``"opencv"`` (:class:`DnnGACN`): the shipped weights, exported to ONNX by
  ``scripts/export_gacn_onnx.py``, run by OpenCV's dnn module, which allfocus
  depends on anyway. The network is cut in two graphs: the per-frame
  features (the grey frame and its projected dense features) and the
  decision path (relative log activity to a score). What lies between them,
  the spatial frequency over the activity windows and each frame's
  comparison with the best other frame, is a few array operations, done
  here as :class:`allfocus.nn.archs.gacn.GACN` does them in torch. It needs
  no torch (importing torch took about 1.5 s of a 2.5 s command on a pair),
  but OpenCV 5: the 4.x releases cannot parse the graphs
  (:class:`UnreadableGraphError`; ``backend="auto"`` then runs torch).
* ``"torch"`` (``allfocus.nn.infer.TorchScorer``, the ``learned`` extra):
  also any ``.pt`` file that ``scripts/train_gacn.py`` wrote.

The network's own boundary filter (``refine="network"``, ``GACN.refine``)
is a guided filter: :meth:`DnnGACN.boundary_weights` does it with OpenCV's
box filter.

Both give :func:`decision_scores` what :class:`Scorer` lists: the sizes that
set halos and tiles, and ``score_stack(luma)``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from allfocus._core.errors import ConfigError
from allfocus._core.validate import as_float_image

__all__ = [
    "DnnGACN",
    "Scorer",
    "UnreadableGraphError",
    "decision_scores",
    "dnn_weights",
    "float_luma",
    "peak_bytes_per_pixel",
    "tile_count",
    "tile_size",
]

#: Where the shipped weights lie (``allfocus/nn/weights``), found without
#: importing :mod:`allfocus.nn`, which needs torch.
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "nn" / "weights"
#: Bytes that inference may hold at its peak for one tile (sets the tile side for many frames).
_TILE_BUDGET = 384 * 2**20


class Scorer(Protocol):
    """What :func:`decision_scores` runs: a GACN on either backend."""

    receptive_radius: int
    activity_size: int
    feature_channels: int

    def score_stack(self, luma: NDArray[np.float32]) -> NDArray[np.float32]:
        """Scores (S, M, N) of one grey stack (S, M, N), float32 in [0, 1]."""
        ...

    def boundary_weights(self, initial: NDArray[np.float32], luma: NDArray) -> NDArray[np.float32]:
        """The network's boundary guided filter on decision weights (S, M, N)."""
        ...


def float_luma(luma: NDArray) -> NDArray[np.float32]:
    """Grey frames as float32 in [0, 1], contiguous: float32 as they are, uint16 over
    65535 (:func:`allfocus._core.validate.as_float_image`).

    :func:`allfocus.fusion.gacn.fuse_gacn_passes` keeps a large stack's luma
    as uint16 (2 bytes a pixel, exact for 8- and 16-bit grey images) and converts
    it a tile or a frame at a time.
    """
    return np.ascontiguousarray(as_float_image(luma, name="luma"))


def peak_bytes_per_pixel(num_frames: int, model: Scorer) -> int:
    """Estimated peak bytes per pixel of scoring a tile of ``num_frames`` frames.

    Both backends score frame by frame: they keep the log activities of
    every frame (plus the scores) and one frame's features and decision-path
    maps at a time; the constant covers the latter. Measured peaks for
    ``gacn_v3`` (one thread, tiles of 400 px, 2, 5 and 16 frames): torch about
    1,240 bytes per pixel plus 165 per frame, OpenCV's dnn about 1,160-1,470
    plus 151 (it keeps every layer's output of both graphs, sized for the
    largest input seen), within some 15 % from run to run.
    """
    return 4 * (int(num_frames) * (model.activity_size + 2) + 12 * model.feature_channels)


def tile_size(num_frames: int, tile: int, model: Scorer) -> int:
    """Tile side for ``num_frames`` frames: ``tile``, smaller where one tile would not fit."""
    fit = int(math.sqrt(_TILE_BUDGET / peak_bytes_per_pixel(num_frames, model)))
    return max(64, min(int(tile), fit))


def tile_count(
    model: Scorer,
    num_frames: int,
    rows: int,
    cols: int,
    *,
    tile: int = 512,
    halo: int | None = None,
) -> int:
    """Tiles :func:`decision_scores` cuts a ``rows`` x ``cols`` stack into (1: one pass)."""
    halo = model.receptive_radius if halo is None else int(halo)
    side = tile_size(num_frames, tile, model)
    if rows <= side + 2 * halo and cols <= side + 2 * halo:
        return 1
    return math.ceil(rows / side) * math.ceil(cols / side)


def decision_scores(
    model: Scorer,
    luma: NDArray,
    *,
    tile: int = 512,
    halo: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    dtype: type = np.float32,
) -> NDArray:
    """Per-frame decision scores (logits over frames) of a grey stack.

    Parameters
    ----------
    model : Scorer
        :class:`DnnGACN` or ``allfocus.nn.infer.TorchScorer``.
    luma : (S, M, N) ndarray of float32 or uint16
        Grey frames in [0, 1] (uint16: over 65535, see :func:`float_luma`).
    tile : int
        Largest tile side; images up to ``tile + 2 * halo`` are processed whole.
    halo : int, optional
        Overlap added around each tile; defaults to the model's receptive radius.
    progress : callable, optional
        ``progress(done, total)`` after each tile, when the image is tiled.
    dtype : numpy dtype
        Of the result: float16 halves what a large stack's scores hold.

    Returns
    -------
    (S, M, N) ndarray of ``dtype``
        Tiled and whole-image results agree up to float rounding wherever the
        halo covers the receptive field, except that the channel
        squeeze-excitation pools over each tile: on the 32-frame keyboard
        stack 5.7 % of the winning frames differ from one whole-image pass,
        nearly all near-ties (median score margin 0.075 against 0.56).
    """
    num, rows, cols = luma.shape
    halo = model.receptive_radius if halo is None else int(halo)
    side = tile_size(num, tile, model)
    if tile_count(model, num, rows, cols, tile=tile, halo=halo) == 1:
        return model.score_stack(float_luma(luma)).astype(dtype, copy=False)
    out = np.empty(luma.shape, dtype=dtype)
    starts = [(y, x) for y in range(0, rows, side) for x in range(0, cols, side)]
    for done, (y, x) in enumerate(starts, 1):
        y0, x0 = max(0, y - halo), max(0, x - halo)
        y1, x1 = min(rows, y + side + halo), min(cols, x + side + halo)
        part = model.score_stack(float_luma(luma[:, y0:y1, x0:x1]))
        ye, xe = min(rows, y + side), min(cols, x + side)
        out[:, y:ye, x:xe] = part[:, y - y0 : ye - y0, x - x0 : xe - x0]
        if progress is not None:
            progress(done, len(starts))
    return out


# -- OpenCV dnn backend ------------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class UnreadableGraphError(ConfigError):
    """This OpenCV's dnn module cannot read the exported graphs (older releases
    lack operators they use); ``backend="auto"`` then runs torch."""


def _first_line(exc: Exception) -> str:
    """The line of an OpenCV error that names what failed (its node, where it says)."""
    lines = [line.strip(" >\t") for line in str(exc).splitlines()]
    lines = [line for line in lines if line]
    named = [line for line in lines if "Node" in line]
    return (named or lines or [type(exc).__name__])[0]


def dnn_weights(name: str) -> Path | None:
    """The record (``<name>.dnn.json``) of ``name``'s ONNX export, or ``None`` without one."""
    path = WEIGHTS_DIR / f"{name}.dnn.json"
    return path if path.is_file() else None


def _gradient_energy(features: NDArray[np.float32]) -> NDArray[np.float32]:
    """Squared differences to the left and upper neighbour, per channel (C, M, N); 0 on the
    first row and column (``allfocus.nn.ops.gradient_energy``)."""
    dx = np.zeros_like(features)
    dy = np.zeros_like(features)
    np.subtract(features[:, :, 1:], features[:, :, :-1], out=dx[:, :, 1:])
    np.subtract(features[:, 1:, :], features[:, :-1, :], out=dy[:, 1:, :])
    dx *= dx
    dy *= dy
    dx += dy
    return dx


def _box_mean(planes: NDArray[np.float32], radius: int) -> NDArray[np.float32]:
    """Mean over a ``2 * radius + 1`` square of every plane, borders reflected
    (``allfocus.nn.ops.box_mean``: replicated where the plane is too small to reflect).

    Not :func:`allfocus.filters.guided.box_mean`: that one reflects the edge
    pixel too (``cv2.BORDER_REFLECT``), torch's reflection does not, and the
    two backends must agree at the borders (the same holds for
    :func:`_guided_filter`)."""
    if radius == 0:
        return planes
    size = 2 * radius + 1
    rows, cols = planes.shape[1:]
    border = cv2.BORDER_REFLECT_101 if radius < rows and radius < cols else cv2.BORDER_REPLICATE
    out = np.empty_like(planes)
    for plane, dst in zip(planes, out, strict=True):
        cv2.boxFilter(plane, -1, (size, size), dst=dst, normalize=True, borderType=border)
    return out


@dataclass
class DnnGACN:
    """A shipped GACN run by OpenCV's dnn module (no torch); see the module's docstring.

    Build it with :meth:`load`. Not thread-safe (one OpenCV net per instance):
    load one per thread.
    """

    name: str
    windows: tuple[int, ...]
    activity_eps: float
    receptive_radius: int
    activity_size: int
    feature_channels: int
    features: cv2.dnn.Net
    path: cv2.dnn.Net
    #: the boundary guided filter (``GACN.refine``): radius, eps, band radius, band limits
    boundary: tuple[int, float, int, float, float]

    @classmethod
    def load(cls, name: str) -> DnnGACN:
        """The export of the registered weights ``name``; ConfigError if there is none."""
        record_path = dnn_weights(name)
        if record_path is None:
            raise ConfigError(
                f"no ONNX export of gacn weights {name!r} in {WEIGHTS_DIR.name}/: run "
                "scripts/export_gacn_onnx.py, or use backend='torch'"
            )
        record = json.loads(record_path.read_text())
        nets = {}
        for part in ("features", "path"):
            file = WEIGHTS_DIR / record["files"][part]
            if _sha256(file) != record["sha256"][part]:
                raise ConfigError(
                    f"{file.name} does not match its record {record_path.name}: re-run "
                    "scripts/export_gacn_onnx.py"
                )
            try:
                nets[part] = cv2.dnn.readNetFromONNX(str(file))
            except cv2.error as exc:
                raise UnreadableGraphError(
                    f"OpenCV {cv2.__version__} cannot read {file.name} ({_first_line(exc)}): "
                    "upgrade opencv-python-headless, or install allfocus[learned] to run "
                    "the network with torch"
                ) from None
        return cls(
            name=name,
            windows=tuple(int(w) for w in record["windows"]),
            activity_eps=float(record["activity_eps"]),
            receptive_radius=int(record["receptive_radius"]),
            activity_size=int(record["activity_size"]),
            feature_channels=int(record["feature_channels"]),
            features=nets["features"],
            path=nets["path"],
            boundary=(
                int(record["boundary_radius"]),
                float(record["boundary_eps"]),
                int(record["band_radius"]),
                float(record["band_low"]),
                float(record["band_high"]),
            ),
        )

    def activity(self, frame: NDArray[np.float32]) -> NDArray[np.float32]:
        """Log multi-scale activity (A, M, N) of one grey frame (``GACN.activity``)."""
        self.features.setInput(frame[None, None])
        energy = _gradient_energy(self.features.forward()[0])
        maps = np.concatenate([_box_mean(energy, r) for r in self.windows])
        maps += np.float32(self.activity_eps)
        return np.log(maps, out=maps)

    def _score(self, rel: NDArray[np.float32]) -> NDArray[np.float32]:
        """``g(rel) - g(-rel)`` for one frame's relative activity ``rel`` (1, A, M, N),
        which is negated in place (``GACN.decide``).

        The two halves run one after the other: a batch of both held twice the
        graph's maps (about 0.8 KB a pixel more) and was no faster.
        """
        self.path.setInput(rel)
        up = self.path.forward()[0, 0].copy()
        np.negative(rel, out=rel)
        self.path.setInput(rel)
        up -= self.path.forward()[0, 0]
        return up

    def score_stack(self, luma: NDArray[np.float32]) -> NDArray[np.float32]:
        """Scores (S, M, N) of one grey stack (``GACN.scores_frame_by_frame``).

        Each frame's activity is compared with the largest among the *other*
        frames: the largest of all, or the second largest for the frame that
        holds the largest (a tie leaves both equal, as the torch code does).
        """
        num = luma.shape[0]
        if num < 2:
            raise ValueError(f"score_stack needs 2 or more frames; got {num}")
        first = self.activity(luma[0])
        acts = np.empty((num, *first.shape), dtype=np.float32)
        acts[0] = first
        del first
        for k in range(1, num):
            acts[k] = self.activity(luma[k])
        out = np.empty(luma.shape, dtype=np.float32)
        rel = np.empty((1, *acts.shape[1:]), dtype=np.float32)
        if num == 2:
            np.subtract(acts[0], acts[1], out=rel[0])
            out[0] = self._score(rel)
            np.negative(out[0], out=out[1])
            return out
        best = acts[0].copy()
        second = np.full_like(best, -np.inf)
        for act in acts[1:]:
            np.maximum(second, np.minimum(best, act), out=second)
            np.maximum(best, act, out=best)
        for k, act in enumerate(acts):
            np.copyto(rel[0], best)
            np.copyto(rel[0], second, where=act == best)  # the largest among the others
            np.subtract(act, rel[0], out=rel[0])
            out[k] = self._score(rel)
        return out

    def boundary_weights(self, initial: NDArray[np.float32], luma: NDArray) -> NDArray[np.float32]:
        """The network's boundary guided filter on decision weights (S, M, N)
        (``GACN.refine``): the weights guided-filtered by the frame mix they
        give, only where their box blur lies strictly inside the band limits for
        some frame; elsewhere as they are. Returns weights summing to one."""
        radius, eps, band_radius, low, high = self.boundary
        frames = float_luma(luma)
        guide = np.einsum("kmn,kmn->mn", initial, frames)[None]
        filtered = _guided_filter(guide, initial, radius, eps)
        blurred = _box_mean(initial, band_radius)
        band = ((blurred > low) & (blurred < high)).any(axis=0)
        mixed = np.where(band, filtered, initial)
        np.maximum(mixed, 0.0, out=mixed)
        total = np.maximum(mixed.sum(axis=0), np.float32(1e-6))
        return (mixed / total).astype(np.float32, copy=False)


def _guided_filter(
    guide: NDArray[np.float32], src: NDArray[np.float32], radius: int, eps: float
) -> NDArray[np.float32]:
    """Guided filter of every plane of ``src`` (S, M, N) steered by one grey ``guide``
    (1, M, N), He, Sun and Tang 2013 (``allfocus.nn.ops.guided_filter``)."""
    mean_i = _box_mean(guide, radius)
    var_i = np.maximum(_box_mean(guide * guide, radius) - mean_i * mean_i, 0.0)
    mean_p = _box_mean(src, radius)
    cov = _box_mean(guide * src, radius) - mean_i * mean_p
    a = cov / (var_i + np.float32(eps))
    b = mean_p - a * mean_i
    return _box_mean(a, radius) * guide + _box_mean(b, radius)
