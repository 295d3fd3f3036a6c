"""Shared fixtures: synthetic stacks written to disk, and the real data folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

from allfocus.synth.files import write_synthetic_stack

# Property tests draw the same examples on every run, so a run's result does
# not depend on chance (set HYPOTHESIS_PROFILE=explore to draw new ones).
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory) -> Path:
    """A 4-frame 8-bit colour stack on disk (frames; truth/sharp.png, truth/depth.tif)."""
    folder = tmp_path_factory.mktemp("synthetic") / "stack"
    write_synthetic_stack(folder, num_frames=4, shape=(96, 128), max_radius=5.0, seed=3)
    return folder


@pytest.fixture
def traced_peak():
    """``traced_peak(func)``: numpy's peak traced allocation (bytes) while ``func()``
    runs; ``func`` may call ``tracemalloc.reset_peak()`` to start the count later."""
    import tracemalloc

    def measure(func) -> int:
        tracemalloc.start()
        try:
            func()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    return measure


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def shared_data() -> Path | None:
    """../shared/data beside the repository, or $ALLFOCUS_DATA; None when absent."""
    env = os.environ.get("ALLFOCUS_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return path if path.is_dir() else None
