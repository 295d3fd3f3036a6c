"""The one place that chains read -> align -> fuse -> write."""

from allfocus.pipeline.config import FuseConfig
from allfocus.pipeline.run import (
    AlignReport,
    FuseReport,
    SharpenReport,
    align_files,
    fuse_files,
    fuse_stack,
    sharpen_file,
)

__all__ = [
    "AlignReport",
    "FuseConfig",
    "FuseReport",
    "SharpenReport",
    "align_files",
    "fuse_files",
    "fuse_stack",
    "sharpen_file",
]
