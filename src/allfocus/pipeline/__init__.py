"""The one place that chains read -> align -> fuse -> write."""

from allfocus.pipeline.config import FuseConfig
from allfocus.pipeline.run import AlignReport, FuseReport, align_files, fuse_files, fuse_stack

__all__ = ["AlignReport", "FuseConfig", "FuseReport", "align_files", "fuse_files", "fuse_stack"]
