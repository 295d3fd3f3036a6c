"""Network architectures: pure ``nn.Module`` classes, no IO, no devices, no weight paths."""

from allfocus.nn.archs.deblur import DeblurNet, PatchDiscriminator
from allfocus.nn.archs.gacn import GACN

__all__ = ["GACN", "DeblurNet", "PatchDiscriminator"]
