"""Run the Examples sections of the fusion, focus and filters modules."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "allfocus.filters.guided",
    "allfocus.filters.pyramid",
    "allfocus.focus",
    "allfocus.focus.measures",
    "allfocus.fusion._common",
    "allfocus.fusion.depthmap",
    "allfocus.fusion.exposure",
    "allfocus.fusion.gacn",
    "allfocus.fusion.guided",
    "allfocus.fusion.pyramid",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
