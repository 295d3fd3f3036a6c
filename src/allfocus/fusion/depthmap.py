"""Depth-map (decision-map) fusion: pick for every pixel the frame where it is sharpest.

The map is the per-pixel argmax of a focus measure over frames, cleaned of
tiny isolated regions and refined with a guided filter steered by the fused
image, so frames are blended only in narrow bands along decision edges and the
edges follow the image's own edges.

Occlusion edges: where a defocused near object's rim spreads over the
background in far-focused frames, a focus window wider than a few pixels lets
the sharp object edge or the background texture leak across the edge, which
puts the glowing rim onto the background or blurred background into the
object. The default measure therefore decides with a 3 x 3 window at pixel
scale (the rim's smooth ramp carries little second-derivative energy, so a
background pixel only takes the far frame where its own texture outweighs
the rim) and adds the same measure from two coarser pyramid levels, which
keeps the decision stable on noisy or oversampled images. Measured on
synthetic stacks (``tests/fusion/test_fusion_quality.py``), windows of 5 to 9
cost 0.3 to 1 dB overall and more in a 6-pixel band around occlusion edges,
and a single-scale 3 x 3 measure loses up to 3 dB on noisy 2x-oversampled
frames.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import MappingProxyType

import cv2
import numpy as np
from numpy.typing import NDArray

from allfocus._core.types import FusionResult
from allfocus._core.validate import FLOAT, as_float_image
from allfocus.filters.guided import _guided_grey, guide_statistics
from allfocus.focus.measures import FOCUS_MEASURES
from allfocus.focus.measures import halo as _measure_halo
from allfocus.fusion import FUSION_METHODS
from allfocus.fusion._common import (
    argmax_frames,
    check_int,
    check_positive,
    contrast_confidence,
    finish,
    prepare,
    select,
    subframe_depth,
    take_nearest_large,
)

#: Options of :func:`fuse_depthmap` that turn its defocus model off, leaving
#: the plain decision map (what streamed and tiled fusion compute).
DEFOCUS_MODEL_OFF = MappingProxyType({"unmix_rims": False, "sharpen_between": False})
#: Fusion methods that take those options (the model runs on their depth map).
DEFOCUS_MODEL_METHODS = ("depthmap", "gacn")


def remove_small_regions(labels: NDArray[np.integer], *, min_size: int) -> NDArray[np.intp]:
    """Relabel connected regions smaller than ``min_size`` pixels from their surroundings.

    Every pixel of a too-small region (4-connected, one label) takes the label
    of the nearest pixel that lies in a large enough region, so the result is
    independent of how labels are numbered.

    Parameters
    ----------
    labels : (M, N) ndarray of int
        Non-negative label map (frame indices).
    min_size : int
        Smallest region kept, in pixels; 0 or 1 keeps all.

    Returns
    -------
    (M, N) ndarray of intp

    Examples
    --------
    >>> import numpy as np
    >>> lab = np.zeros((5, 5), int)
    >>> lab[2, 2] = 3
    >>> int(remove_small_regions(lab, min_size=2).max())
    0
    """
    labels = np.asarray(labels).astype(np.intp, copy=False)
    if min_size <= 1:
        return labels
    small = np.zeros(labels.shape, dtype=bool)
    # The labels present, without np.unique's sorted copy of the map.
    for value in np.flatnonzero(np.bincount(labels.ravel())):
        _, comp, stats, _ = cv2.connectedComponentsWithStats(
            (labels == value).view(np.uint8), connectivity=4
        )
        is_tiny = stats[:, cv2.CC_STAT_AREA] < min_size
        is_tiny[0] = False  # the background of this label's mask
        if is_tiny.any():
            small |= is_tiny[comp]
        del comp
    if not small.any() or small.all():
        return labels
    return take_nearest_large(labels, small)


def focus_volume(luma: NDArray[np.float32], *, measure: str, window: int) -> NDArray[np.float32]:
    """(S, M, N) focus measure ``measure`` of every frame of a grey stack."""
    func = FOCUS_MEASURES.get(measure)
    out = np.empty(luma.shape, dtype=FLOAT)
    for k, frame in enumerate(luma):
        out[k] = func(frame, window=window)
    return out


@FUSION_METHODS.register("depthmap", help="focus-measure decision map, cleaned and edge-refined")
def fuse_depthmap(
    stack: NDArray,
    *,
    channel_axis: int | None = None,
    measure: str = "multiscale_laplacian",
    window: int = 3,
    min_region: int = 4,
    refine_radius: int = 1,
    refine_eps: float = 1e-2,
    unmix_rims: bool = True,
    sharpen_between: bool = True,
) -> FusionResult:
    """All-in-focus image from the per-pixel sharpest frame (decision map).

    Parameters
    ----------
    stack : (S, M, N[, C]) ndarray
        Focus stack, frames on axis 0 (any order), any dtype.
    channel_axis : int or None
        Colour axis of ``stack``; ``None`` for grey. Decisions are made on
        luma and applied to all channels.
    measure : str
        Focus measure from :data:`allfocus.focus.FOCUS_MEASURES`.
    window : int
        Odd side of the focus-measure window. Small windows keep occlusion
        edges clean; larger ones resist noise.
    min_region : int
        Decision regions smaller than this many pixels take their
        neighbours' frame (0 keeps everything).
    refine_radius : int
        Radius of the guided filter that turns the hard decision map into
        blending weights along decision edges (0 = hard selection).
    refine_eps : float
        Guided-filter regularisation (squared intensity); smaller values make
        transitions follow weaker image edges.
    unmix_rims : bool
        Restore the background under near objects' blurred rims
        (:func:`allfocus.fusion.rims.unmix_rims`), which no frame holds
        clean. Needs the frames in focus order (either direction); a stack
        whose blur does not grow with the frame step is left as selected.
    sharpen_between : bool
        Deconvolve the blur left where a surface lies between two focus
        planes (:func:`allfocus.fusion.between.sharpen_between_planes`),
        with the same fitted blur per focus step.

    Returns
    -------
    FusionResult
        ``image`` in the input's channel layout; ``depth`` the frame index
        with sub-frame (parabola) interpolation of the focus measure (with
        the defocus model on, also inward from the first and last frame, and
        as the model corrects it); ``confidence`` the normalised contrast of
        the focus measure over frames.

    Raises
    ------
    InputError
        For a malformed stack or out-of-range options.

    See Also
    --------
    allfocus.fusion.pyramid.fuse_pyramid : multiresolution coefficient selection.
    allfocus.fusion.guided.fuse_guided : guided-filter weighted fusion.

    Notes
    -----
    Frames are treated alike: the map is an argmax, cleaning works on
    regions of equal labels and the refinement filters each frame's
    indicator map, so with ``unmix_rims=False`` permuting the frames
    permutes the depth map and leaves the image unchanged (up to exact
    ties). Rim un-mixing needs to know which frames neighbour each other in
    focus, so it takes the frames in the given order; reversing the order
    gives the same image.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.ndimage import gaussian_filter
    >>> sharp = np.random.default_rng(0).random((48, 48)).astype(np.float32)
    >>> left, right = sharp.copy(), sharp.copy()
    >>> left[:, 24:] = gaussian_filter(sharp, 2)[:, 24:]
    >>> right[:, :24] = gaussian_filter(sharp, 2)[:, :24]
    >>> res = fuse_depthmap(np.stack([left, right]))
    >>> float(np.abs(res.image - sharp)[4:-4, 4:20].max()) < 1e-6
    True
    >>> float(res.depth[24, 4]), float(res.depth[24, 40])
    (0.0, 1.0)
    """
    window = check_int("window", window, minimum=1)
    min_region = check_int("min_region", min_region, minimum=0)
    refine_radius = check_int("refine_radius", refine_radius, minimum=0)
    refine_eps = check_positive("refine_eps", refine_eps)
    FOCUS_MEASURES.get(measure)
    frames, luma = prepare(stack, channel_axis)

    scores = focus_volume(luma, measure=measure, window=window)
    labels = remove_small_regions(argmax_frames(scores), min_size=min_region)
    confidence = contrast_confidence(scores)
    # The defocus model needs the end frames refined too (see subframe_depth).
    depth = subframe_depth(scores, labels, ends=unmix_rims or sharpen_between)
    del scores

    if refine_radius == 0:
        image = select(frames, labels)
    else:
        image = blend_along_edges(frames, luma, labels, refine_radius, refine_eps)
    if unmix_rims or sharpen_between:
        image, depth = restore_detail(
            frames, image, depth, unmix_rims=unmix_rims, sharpen_between=sharpen_between
        )
    return finish(image, depth, confidence, channel_axis=channel_axis, stack_ndim=frames.ndim)


def blend_along_edges(
    frames: NDArray | Iterable[NDArray],
    luma: NDArray,
    labels: NDArray[np.integer],
    radius: int,
    eps: float,
) -> NDArray[np.float32]:
    """Each pixel's labelled frame, blended with its neighbours' along label edges.

    Every frame's indicator map is smoothed by a guided filter (guide: the
    selected luma), clipped at zero and normalised over the frames; the
    frames are summed one at a time, so no (S, M, N) weight array is held.
    ``frames`` may be any iterable of the frames (M, N[, C]), read one at a
    time, float32 or in any dtype :func:`allfocus._core.validate.as_float_image`
    reads (converted a window and a channel at a time), and ``luma``
    (S, M, N) float32 in [0, 1] or uint16
    (``allfocus.fusion.gacn.fuse_gacn_passes``), or the guide itself (M, N):
    the luma already selected by ``labels``, so that a caller reading the
    frames a second time need not hold every frame's luma meanwhile.
    """
    selected = luma if luma.ndim == labels.ndim else select(luma, labels)
    guide = as_float_image(selected, name="luma")
    del selected
    # The guide's statistics are the same for every frame: computed once.
    mean_i, denom = guide_statistics(guide, radius, eps)
    # A frame's weight is zero beyond 2 * radius of its pixels, so each is
    # filtered and added only in a window around them.
    margin = 3 * int(radius)
    rows, cols = labels.shape
    image: NDArray[np.float32] | None = None
    total = np.zeros(labels.shape, dtype=FLOAT)
    for k, frame in enumerate(frames):
        color = frame.ndim == 3
        if image is None:
            image = np.zeros(frame.shape, dtype=FLOAT)
        mask = labels == k
        if not mask.any():
            continue
        x, y, w, h = cv2.boundingRect(mask.view(np.uint8))
        win = (
            slice(max(0, y - margin), min(rows, y + h + margin)),
            slice(max(0, x - margin), min(cols, x + w + margin)),
        )
        weight = _guided_grey(
            mask[win].astype(FLOAT), guide[win], radius, eps, stats=(mean_i[win], denom[win])
        )
        np.maximum(weight, 0.0, out=weight)
        # Channel by channel: a weighted copy of the whole window would be
        # the largest temporary of the blend (12 bytes per pixel for colour).
        # Frames of another dtype are converted here, a window and a channel
        # at a time (float32 frames, checked by the caller, as they are).
        target, source = image[win], frame[win]
        if color:
            for c in range(frame.shape[2]):
                target[..., c] += _float32(source[..., c], k) * weight
        else:
            target += _float32(source, k) * weight
        total[win] += weight
    if image is None:
        raise ValueError("blend_along_edges needs at least one frame")
    floor = np.maximum(total, FLOAT(1e-6))
    image /= floor[..., None] if image.ndim == 3 else floor
    return image


def _float32(values: NDArray, k: int) -> NDArray[np.float32]:
    """Part of frame ``k`` as float32 in [0, 1]: as it is when it is float32."""
    return values if values.dtype == FLOAT else as_float_image(values, name=f"frame {k}")


def restore_detail(
    frames: NDArray[np.float32],
    image: NDArray[np.float32],
    depth: NDArray[np.float32],
    *,
    unmix_rims: bool,
    sharpen_between: bool,
    vote_labels: NDArray[np.integer] | None = None,
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Rim un-mixing and between-plane sharpening of a decision-map fusion.

    ``image`` is the fused image and ``depth`` its sub-frame depth map (frame
    index per pixel) from any decision-map method; returns both, restored.
    ``vote_labels``: the labels whose edges decide which end of the stack is
    near (:func:`allfocus.fusion.rims.estimate_rim_model`; ``depth`` rounded
    by default).
    """
    from allfocus.fusion.between import BLEND_STEP, blend_between_planes, sharpen_between_planes
    from allfocus.fusion.rims import Frames, estimate_rim_model, fit_blur_step
    from allfocus.fusion.rims import unmix_rims as _unmix

    num = frames.shape[0]
    source = Frames(frames)
    depth = np.asarray(depth, dtype=FLOAT)
    step = fit_blur_step(source, num, depth)
    if step is None:
        return image, depth
    image = np.clip(image, 0.0, 1.0)
    if sharpen_between and step <= BLEND_STEP:
        image = blend_between_planes(source, num, image, depth)
    if unmix_rims:
        model = estimate_rim_model(source, num, depth, step=step, vote_labels=vote_labels)
        if model is not None:
            image, depth, _ = _unmix(source, num, image, depth, model=model)
    if sharpen_between:
        image = sharpen_between_planes(source, num, image, depth, step)
    return image, depth


def halo(
    *,
    measure: str = "multiscale_laplacian",
    window: int = 3,
    min_region: int = 4,
    refine_radius: int = 1,
    refine_eps: float = 1e-2,
    unmix_rims: bool = True,
    sharpen_between: bool = True,
) -> int:
    """Pixels :func:`fuse_depthmap` looks beyond a tile with these options.

    The focus window, the guided filter (two chained box filters) and the
    region cleaning (a region cut by a tile edge can look small for up to
    ``min_region`` pixels) add up. Tiled fusion does not un-mix rims (each
    tile would fit its own blur model), so ``unmix_rims`` and ``sharpen_between`` add nothing.

    Examples
    --------
    >>> halo()
    26
    """
    del refine_eps, unmix_rims, sharpen_between  # no effect on the reach
    reach = _measure_halo(measure=measure, window=window)
    return reach + 2 * int(refine_radius) + int(min_region)
