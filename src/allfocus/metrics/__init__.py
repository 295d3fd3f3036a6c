"""Image-fusion quality metrics.

Fusion metrics that take the sources as reference (no ground truth needed):
:func:`qabf` (Xydeas & Petrovic), :func:`nmi` (Hossny et al.), :func:`qy` (Yang
et al.) and :func:`qcb` (Chen & Blum). No-reference sharpness of one image:
:func:`spatial_frequency`, :func:`average_gradient`. Against a ground truth:
:func:`psnr`, :func:`ssim` (scikit-image). :func:`evaluate` computes them all.

Every function takes images of any dtype (integers scaled to [0, 1] by their
sensor's range: 12-bit data in 16-bit files by 4095), colour
only with an explicit ``channel_axis``, and returns a Python ``float``. The
implementations are checked against published MFIFB numbers; see
``docs/metrics.md``.
"""

from __future__ import annotations

from allfocus.metrics._basic import average_gradient, spatial_frequency
from allfocus.metrics._evaluate import evaluate
from allfocus.metrics._information import nmi
from allfocus.metrics._qabf import QABF_BORDERS, QABF_CONSTANTS, QABF_MAX, qabf
from allfocus.metrics._qcb import QCB_CSFS, qcb
from allfocus.metrics._structural import psnr, qy, ssim

__all__ = [
    "QABF_BORDERS",
    "QABF_CONSTANTS",
    "QABF_MAX",
    "QCB_CSFS",
    "average_gradient",
    "evaluate",
    "nmi",
    "psnr",
    "qabf",
    "qcb",
    "qy",
    "spatial_frequency",
    "ssim",
]
