"""Multi-focus fusion methods behind one registry.

Every method has the signature ``method(stack, *, channel_axis=None, **params)
-> FusionResult`` and treats all frames alike. Use :func:`fuse` to call one by
name and :func:`list_methods` to see what is available.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from numpy.typing import NDArray

from allfocus._core.registry import Registry
from allfocus._core.types import FusionResult

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
        Frames on axis 0, any dtype (integers are scaled to [0, 1]).
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
    return func(stack, channel_axis=channel_axis, **params)


__all__ = ["DEFAULT_METHOD", "FUSION_METHODS", "FusionResult", "fuse", "list_methods"]
