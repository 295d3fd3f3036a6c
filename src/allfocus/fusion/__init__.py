"""Multi-focus fusion methods behind one registry.

Every method has the signature ``method(stack, *, channel_axis=None, **params)
-> FusionResult`` and treats all frames alike. Use :func:`fuse` to call one by
name and :func:`list_methods` to see what is available.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from allfocus._core.registry import Registry
from allfocus._core.types import FusionResult
from allfocus._core.validate import spanning_sensor_range

FUSION_METHODS: Registry = Registry("fusion method")

# Explicit imports fill the registry (no folder scanning).
from allfocus.fusion import depthmap, gacn, guided, pyramid  # noqa: E402, F401

# gacn is always listed: it imports torch only when called and raises
# MissingDependencyError (naming the pip extra) where torch is absent.

#: The default method; chosen from measurements in docs/benchmarks.md.
DEFAULT_METHOD = "depthmap"


def list_methods() -> list[str]:
    """Names of the registered fusion methods."""
    return FUSION_METHODS.names()


def fuse(
    stack: NDArray,
    *,
    method: str = DEFAULT_METHOD,
    channel_axis: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    **params: Any,
) -> FusionResult:
    """Fuse a focus stack into one all-in-focus image.

    Parameters
    ----------
    stack : (S, M, N[, C]) ndarray
        Frames on axis 0, any dtype (integers are scaled to [0, 1] by their
        type's range; data of fewer bits than the type, such as 12-bit camera
        data in 16-bit files, is fused spanning [0, 1] and returned in the
        type's scale).
    method : str
        Registered method name; see :func:`list_methods`.
    channel_axis : int or None
        Axis of the colour channels in ``stack``; ``None`` for grey.
    progress : callable, optional
        ``progress(done, total)`` for methods that report their progress
        (``gacn``: the tiles of its network pass); the others ignore it.
    **params
        Method-specific keyword options.

    Returns
    -------
    FusionResult
        Fused image, depth map and confidence map.
    """
    func = FUSION_METHODS.get(method)
    if progress is not None and "progress" in inspect.signature(func).parameters:
        params["progress"] = progress
    # Data of a sensor with fewer bits than its type (12-bit camera data in 16-bit
    # files) filled a sixteenth of [0, 1], where the methods' filters and thresholds,
    # made for images that span it, lost 2 dB on 5-frame stacks: fused spanning it,
    # given back in the type's scale.
    spanning, back = spanning_sensor_range(stack)
    result = func(spanning, channel_axis=channel_axis, **params)
    if back != 1.0:
        result.image *= np.float32(back)
    return result


__all__ = ["DEFAULT_METHOD", "FUSION_METHODS", "FusionResult", "fuse", "list_methods"]
