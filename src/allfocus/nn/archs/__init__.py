"""Network architectures: pure ``nn.Module`` classes, no IO, no devices, no weight paths."""

from allfocus.nn.archs.gacn import GACN

__all__ = ["GACN"]
