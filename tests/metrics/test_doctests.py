"""Run the Examples sections of the metrics modules as doctests."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["_basic", "_evaluate", "_information", "_qabf", "_qcb", "_structural"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"allfocus.metrics.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
