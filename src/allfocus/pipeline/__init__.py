"""The one place that chains read -> align -> fuse -> write."""

from allfocus.pipeline.config import FuseConfig
from allfocus.pipeline.run import FuseReport, fuse_files, fuse_stack

__all__ = ["FuseConfig", "FuseReport", "fuse_files", "fuse_stack"]
