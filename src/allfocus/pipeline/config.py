"""Validated, serialisable job configurations shared by the CLI and the Python API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from allfocus._core.errors import ConfigError

ALIGN_CHOICES = ("auto", "none", "translation", "similarity", "affine", "homography")
STREAMING_CHOICES = ("auto", "always", "never")
RESTORE_CHOICES = ("auto", "learned", "defocus")
#: Methods :func:`allfocus.pipeline.fuse_files` can fuse without holding the
#: stack: those :func:`allfocus.fusion.streaming.fuse_streaming` folds in
#: frame by frame, and ``gacn``, which reads the frames twice
#: (:func:`allfocus.fusion.gacn.fuse_gacn_passes`).
STREAMED_METHODS = ("depthmap", "pyramid", "gacn")


@dataclass(frozen=True)
class FuseConfig:
    """Options of a fusion job.

    Parameters
    ----------
    method : str
        Registered fusion method (see ``allfocus methods``).
    align : str
        ``"auto"`` (detect motion, choose the model), ``"none"``, or a model name.
    transforms : str or None
        A ``transforms.json`` from ``allfocus align`` to apply instead of estimating.
    drop_unaligned : bool
        Drop frames that cannot be aligned instead of failing.
    exposure_match : bool
        Match frame brightness (exposure, vignetting) to the reference first.
    streaming : str
        ``"auto"``: read, align, match and fuse frames one at a time (memory
        independent of the number of frames) with ``depthmap``, and with
        ``pyramid`` when the stack would not fit in memory (frame by frame it
        has no consistency vote); ``gacn`` reads the frames twice, keeping
        only their luma, for stacks over 256 MiB as float32 or too large for
        memory; ``"always"`` or ``"never"`` force the choice (``"never"``
        holds the whole stack as float32).
    restore : str or None
        After fusion, deblur where no frame was sharp
        (:func:`allfocus.restore.fused.restore_fused`): ``"learned"`` (the
        trained network, needs ``allfocus[learned]``), ``"defocus"`` (classical
        deconvolution), ``"auto"`` (learned when torch is installed, else
        defocus) or ``None`` (off, the default).
    params : dict
        Extra keyword options passed to the fusion method.
    """

    method: str = "depthmap"
    align: str = "auto"
    transforms: str | None = None
    drop_unaligned: bool = False
    exposure_match: bool = True
    streaming: str = "auto"
    restore: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from allfocus.fusion import FUSION_METHODS

        FUSION_METHODS.get(self.method)  # raises with the valid names
        if self.align not in ALIGN_CHOICES:
            raise ConfigError(
                f"align must be one of {', '.join(ALIGN_CHOICES)}; got {self.align!r}"
            )
        if self.streaming not in STREAMING_CHOICES:
            raise ConfigError(
                f"streaming must be one of {', '.join(STREAMING_CHOICES)}; got {self.streaming!r}"
            )
        if self.restore is not None and self.restore not in RESTORE_CHOICES:
            raise ConfigError(
                f"restore must be one of {', '.join(RESTORE_CHOICES)} or None; got {self.restore!r}"
            )
        if self.transforms is not None and self.align == "none":
            raise ConfigError("transforms were given but align is 'none'; drop one of them")
        if self.streaming == "always" and self.method not in STREAMED_METHODS:
            raise ConfigError(
                f"method {self.method!r} needs the whole stack in memory; streaming "
                f"supports {', '.join(STREAMED_METHODS)}"
            )
