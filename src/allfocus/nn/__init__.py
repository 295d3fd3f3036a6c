"""Learned fusion (optional extra ``allfocus[learned]``: torch, pyyaml).

Nothing outside :mod:`allfocus.nn` imports torch; importing this package
without torch raises :class:`~allfocus._core.errors.MissingDependencyError`
with the install hint.
"""

from __future__ import annotations

from allfocus._core.errors import missing_dependency

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise missing_dependency("torch", "learned") from exc

from allfocus.nn.models import create_model, list_models
from allfocus.nn.weights import WEIGHTS, WeightSpec, load_weights

__all__ = ["WEIGHTS", "WeightSpec", "create_model", "list_models", "load_weights"]
