"""Image-processing building blocks shared by fusion, restoration and learned models.

Functions take channels-last float32 arrays (the ``cv2`` convention) unless
they say otherwise.
"""

from __future__ import annotations

from allfocus.filters.guided import box_mean, guided_filter
from allfocus.filters.pyramid import (
    collapse_laplacian_pyramid,
    gaussian_pyramid,
    laplacian_pyramid,
    max_levels,
)

__all__ = [
    "box_mean",
    "collapse_laplacian_pyramid",
    "gaussian_pyramid",
    "guided_filter",
    "laplacian_pyramid",
    "max_levels",
]
