"""The peer benchmark's reuse of earlier runs (``--resume``, ``--refresh``)."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def run_all(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    module = importlib.import_module("run_all")
    monkeypatch.setattr(module, "RESULTS", tmp_path / "results.json")
    yield module
    sys.modules.pop("run_all", None)


def _record(tool: str, digest: str, out: Path | None, **extra) -> dict:
    return {"tool": tool, "digest": digest, "out": str(out) if out else "", **extra}


def test_reusable_keeps_finished_runs_of_other_tools(run_all, tmp_path):
    out = tmp_path / "a.png"
    out.write_bytes(b"x")
    records = [
        _record("enfuse", "d1", out),
        _record("enfuse", "d2", tmp_path / "gone.png"),  # output deleted since: run again
        _record("enfuse", "d3", None, error="rc 124: timed out"),  # would time out again
        _record("enfuse", "d4", None, error="rc 1: crashed"),
        _record("enfuse", "d5", out, repeat=True),
        _record("allfocus gacn", "d1", out),
        _record("allfocus gacn-like", "d1", out),
        {"tool": "CNN (Liu 2017)", "rc": 0},  # published: no run
    ]
    kept = run_all._reusable(records, rerun=["gacn"])
    assert sorted(kept) == [("enfuse", "d1"), ("enfuse", "d3")]
    assert sorted(run_all._reusable(records)) == [
        ("allfocus gacn", "d1"),
        ("allfocus gacn-like", "d1"),
        ("enfuse", "d1"),
        ("enfuse", "d3"),
    ]


def test_refresh_needs_a_finished_run_of_the_same_mode(run_all, tmp_path):
    with pytest.raises(SystemExit, match="missing"):
        run_all._load_refresh("full", ["gacn"])
    out = tmp_path / "a.png"
    out.write_bytes(b"x")
    meta = {"mode": "quick", "date": "2026-01-01"}
    records = [_record("enfuse", "d1", out), _record("allfocus gacn", "d1", out)]
    run_all.RESULTS.write_text(json.dumps({"meta": meta, "records": records}))
    with pytest.raises(SystemExit, match="--quick"):
        run_all._load_refresh("full", ["gacn"])
    prior, kept = run_all._load_refresh("quick", ["gacn"])
    assert prior == meta
    assert list(kept) == [("enfuse", "d1")]
