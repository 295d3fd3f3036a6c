"""The torch-free backend of gacn (OpenCV's dnn on the shipped weights' ONNX export)
against the torch network it was exported from."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil

import numpy as np
import pytest

from allfocus._core.errors import ConfigError
from allfocus.fusion import _gacn_net as net
from allfocus.fusion import fuse
from allfocus.nn.infer import TorchScorer, pretrained_gacn
from allfocus.nn.weights import WEIGHTS
from allfocus.synth import synthetic_stack

GACN_WEIGHTS = [name for name, spec in WEIGHTS.items() if spec.arch == "gacn"]


@pytest.mark.parametrize("name", GACN_WEIGHTS)
def test_every_shipped_weight_has_a_current_export(name):
    # Retrained weights without a new export would run the old network on the
    # default backend: the record names the .pt file it came from.
    record = json.loads(net.dnn_weights(name).read_text())
    digest = hashlib.sha256(WEIGHTS[name].path.read_bytes()).hexdigest()
    assert record["source_sha256"] == digest, "re-run scripts/export_gacn_onnx.py"


@pytest.mark.parametrize("name", GACN_WEIGHTS)
@pytest.mark.parametrize("num", [2, 5])
def test_opencv_scores_equal_torch_scores(name, num):
    s = synthetic_stack((96, 120), num, color=False, noise=0.003, rng=num)
    luma = s.frames.astype(np.float32)
    torch_scores = TorchScorer(pretrained_gacn(name)).score_stack(luma)
    dnn_scores = net.DnnGACN.load(name).score_stack(luma)
    spread = float(np.ptp(torch_scores))
    np.testing.assert_allclose(dnn_scores, torch_scores, atol=1e-4 * spread)
    assert (dnn_scores.argmax(0) == torch_scores.argmax(0)).mean() > 0.999


def test_opencv_and_torch_fuse_alike_tiled():
    # Tiled (tile 64 on 200 x 230), three octaves, the defocus model: the whole method.
    s = synthetic_stack((200, 230), 4, noise=0.003, rng=11)
    a = fuse(s.frames, method="gacn", channel_axis=-1, tile=64, backend="opencv")
    b = fuse(s.frames, method="gacn", channel_axis=-1, tile=64, backend="torch")
    assert np.abs(a.image - b.image).max() < 1e-3
    assert (np.abs(a.depth - b.depth) > 1e-3).mean() < 1e-3


def test_auto_backend_is_opencv_for_shipped_weights_and_torch_otherwise(tmp_path):
    from allfocus.fusion.gacn import _load_model

    assert isinstance(_load_model("auto", 2, "auto"), net.DnnGACN)
    assert isinstance(_load_model("gacn_v3", 2, "auto"), net.DnnGACN)
    assert isinstance(_load_model("auto", 2, "torch"), TorchScorer)
    path = tmp_path / "mine.pt"
    shutil.copy(WEIGHTS["gacn_v1"].path, path)
    assert isinstance(_load_model(str(path), 2, "auto"), TorchScorer)
    with pytest.raises(ConfigError, match="backend='torch'"):
        _load_model(str(path), 2, "opencv")


@pytest.mark.parametrize("num", [2, 4])
def test_opencv_boundary_filter_equals_torch(num):
    # GACN's own refinement (refine="network"): the guided filter near decision edges.
    s = synthetic_stack((90, 110), num, color=False, noise=0.003, rng=20 + num)
    luma = s.frames.astype(np.float32)
    scores = TorchScorer(pretrained_gacn("gacn_v3")).score_stack(luma)
    initial = np.exp(scores - scores.max(0))
    initial /= initial.sum(0)
    want = TorchScorer(pretrained_gacn("gacn_v3")).boundary_weights(initial, luma)
    got = net.DnnGACN.load("gacn_v3").boundary_weights(initial, luma)
    np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(got.sum(0), 1.0, atol=1e-5)
    assert np.abs(got - initial).max() > 0.05  # the filter did act near the edges


def test_opencv_and_torch_fuse_alike_with_the_network_refinement():
    s = synthetic_stack((120, 140), 3, noise=0.003, rng=12)
    a = fuse(s.frames, method="gacn", channel_axis=-1, refine="network", backend="opencv")
    b = fuse(s.frames, method="gacn", channel_axis=-1, refine="network", backend="torch")
    assert np.abs(a.image - b.image).max() < 1e-3


def test_unknown_backend_is_refused():
    s = synthetic_stack((64, 64), 2, rng=1)
    with pytest.raises(ConfigError, match="backend must be one of auto, opencv, torch"):
        fuse(s.frames, method="gacn", channel_axis=-1, backend="cuda")


def test_altered_export_is_refused(tmp_path, monkeypatch):
    for file in net.WEIGHTS_DIR.glob("gacn_v1.*"):
        shutil.copy(file, tmp_path / file.name)
    graph = tmp_path / "gacn_v1.path.onnx"
    graph.write_bytes(graph.read_bytes()[:-1] + b"\0")
    monkeypatch.setattr(net, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(ConfigError, match=r"export_gacn_onnx\.py"):
        net.DnnGACN.load("gacn_v1")
    monkeypatch.setattr(net, "WEIGHTS_DIR", tmp_path / "none")
    with pytest.raises(ConfigError, match="no ONNX export of gacn weights 'gacn_v1'"):
        net.DnnGACN.load("gacn_v1")


@pytest.mark.skipif(importlib.util.find_spec("onnx") is None, reason="needs the onnx package")
def test_export_script_writes_graphs_that_score_like_the_weights(tmp_path, monkeypatch):
    import runpy

    script = runpy.run_path(str(net.WEIGHTS_DIR.parents[3] / "scripts" / "export_gacn_onnx.py"))
    record = script["export"]("gacn_v1", tmp_path)
    assert json.loads(record.read_text())["windows"] == [2, 5, 10]
    monkeypatch.setattr(net, "WEIGHTS_DIR", tmp_path)
    luma = synthetic_stack((80, 72), 3, color=False, rng=2).frames.astype(np.float32)
    got = net.DnnGACN.load("gacn_v1").score_stack(luma)
    want = TorchScorer(pretrained_gacn("gacn_v1")).score_stack(luma)
    np.testing.assert_allclose(got, want, atol=1e-4 * float(np.ptp(want)))


def test_an_opencv_that_cannot_read_the_graphs_falls_back_to_torch(monkeypatch):
    # Older OpenCV releases (4.10 among them) fail to parse the exported graphs.
    import cv2

    from allfocus.fusion.gacn import _load_model

    def unreadable(path, *args):
        raise cv2.error("OpenCV(4.10.0) onnx_importer.cpp: error: parse error")

    monkeypatch.setattr(net.cv2.dnn, "readNetFromONNX", unreadable)
    with pytest.warns(RuntimeWarning, match="running it with torch"):
        assert isinstance(_load_model("auto", 2, "auto"), TorchScorer)
    with pytest.raises(net.UnreadableGraphError, match="upgrade opencv-python-headless"):
        _load_model("auto", 2, "opencv")
