"""Model registry: ``create_model(name, *, weights=None)`` builds a network by name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from allfocus._core.registry import Registry
from allfocus.nn.archs.deblur import DeblurNet
from allfocus.nn.archs.gacn import GACN
from allfocus.nn.weights import WeightSpec, get_weight_spec, load_weights

__all__ = ["MODELS", "create_model", "list_models"]

MODELS: Registry[Callable[..., nn.Module]] = Registry("model")


@MODELS.register("gacn", help="GACN-style decision network for multi-focus fusion (N frames)")
def gacn(**kwargs: Any) -> GACN:
    """:class:`~allfocus.nn.archs.GACN` with the given hyper-parameters."""
    return GACN(**kwargs)


@MODELS.register("deblur", help="NAFNet-style U-Net for single-image defocus deblurring (RGB)")
def deblur(**kwargs: Any) -> DeblurNet:
    """:class:`~allfocus.nn.archs.DeblurNet` with the given hyper-parameters."""
    return DeblurNet(**kwargs)


def list_models() -> list[str]:
    return MODELS.names()


def create_model(
    name: str, *, weights: str | Path | WeightSpec | None = None, **kwargs: Any
) -> nn.Module:
    """Build model ``name``, optionally with trained weights.

    Parameters
    ----------
    name : str
        Registered model name (see :func:`list_models`).
    weights : str, Path, WeightSpec or None
        ``None`` for random initialisation; a registered weight name (its
        hyper-parameters are used unless ``kwargs`` override them), a spec,
        or the path of a state_dict file (``kwargs`` must then match it).
    **kwargs
        Constructor hyper-parameters.

    Returns
    -------
    nn.Module
        In eval mode when weights were loaded, else in train mode.

    Examples
    --------
    >>> net = create_model("gacn", channels=4, num_blocks=2)
    >>> type(net).__name__
    'GACN'
    """
    factory = MODELS.get(name)
    spec = None
    if isinstance(weights, WeightSpec):
        spec = weights
    elif isinstance(weights, str) and not weights.endswith(".pt"):
        spec = get_weight_spec(weights)
    if spec is not None:
        kwargs = {**spec.arch_kwargs, **kwargs}
    model = factory(**kwargs)
    if weights is not None:
        load_weights(model, spec if spec is not None else weights)
    return model
