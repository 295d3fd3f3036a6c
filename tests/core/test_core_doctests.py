"""The Examples sections of the _core docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("module", ["validate"])
def test_docstring_examples(module):
    result = doctest.testmod(
        importlib.import_module(f"allfocus._core.{module}"), optionflags=doctest.ELLIPSIS
    )
    assert result.attempted > 0
    assert result.failed == 0
