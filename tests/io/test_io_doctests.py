"""The Examples sections of the io docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib
import tempfile

import pytest


@pytest.mark.parametrize("module", ["_paths", "_read", "_stack", "_write"])
def test_docstring_examples(module, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # examples use mkdtemp
    result = doctest.testmod(
        importlib.import_module(f"allfocus.io.{module}"), optionflags=doctest.ELLIPSIS
    )
    assert result.attempted > 0
    assert result.failed == 0
