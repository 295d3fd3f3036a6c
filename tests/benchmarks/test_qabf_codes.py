"""The two-border Q^AB/F benchmark (``benchmarks/qabf_codes.py``)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

from allfocus.metrics import qabf
from allfocus.synth import synthetic_stack

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def codes(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    yield importlib.import_module("qabf_codes")
    sys.modules.pop("qabf_codes", None)


def test_scores_are_the_default_and_the_zero_border(codes):
    stack = synthetic_stack((64, 80), 2, rng=3)
    sources = [np.rint(f * 255).astype(np.uint8) for f in stack.frames]
    fused = np.rint(stack.sharp * 255).astype(np.uint8)
    default, zero, zero_grey = codes.scores(fused, sources)
    assert default == qabf(fused, sources, channel_axis=-1)
    assert zero == qabf(fused, sources, channel_axis=-1, border="zero")
    # the outline is an edge the fused image keeps; 8-bit grey rounds the luma only
    assert zero > default
    assert zero_grey == pytest.approx(zero, abs=0.01)


def test_skips_without_data(codes, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("ALLFOCUS_DATA", str(tmp_path))
    monkeypatch.setattr(sys, "argv", ["qabf_codes.py", "--no-write"])
    codes.main()
    assert "skipping" in capsys.readouterr().out
