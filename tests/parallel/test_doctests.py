"""Run the Examples sections of the streaming, tiling and lazy-reading modules."""

from __future__ import annotations

import doctest
import importlib
import tempfile

import pytest

MODULES = ["allfocus.fusion.streaming", "allfocus.io._iter", "allfocus.parallel.tiles"]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # examples use mkdtemp
    if name == "allfocus.parallel.tiles":
        pytest.importorskip("dask.array")
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
