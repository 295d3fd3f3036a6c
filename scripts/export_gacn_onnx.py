"""Export GACN weights to ONNX for the torch-free backend: ``python scripts/export_gacn_onnx.py``.

For each weight set (default: every registered GACN weight) it writes, beside
the ``.pt`` file in ``src/allfocus/nn/weights``: ``<name>.features.onnx`` (a
grey frame to the frame and its projected dense features),
``<name>.path.onnx`` (relative log activity to one score) and
``<name>.dnn.json`` (the activity windows and sizes that join the two, and
the SHA-256 of the ``.pt`` file and of both graphs). OpenCV's dnn module runs
them (``allfocus.fusion._gacn_net.DnnGACN``); the test suite checks that they
give the same scores as the ``.pt`` file, so re-run this after retraining.
Needs the ``learned`` extra and the ``onnx`` package (``dev`` extra).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from allfocus.fusion._gacn_net import WEIGHTS_DIR
from allfocus.nn.infer import pretrained_gacn
from allfocus.nn.weights import WEIGHTS

#: ONNX operator set: OpenCV's dnn module reads it (Pad with reflection, ReduceMean).
OPSET = 17


class _Features(nn.Module):
    """The grey frame and its projected dense features (``GACN.activity`` before the
    spatial frequency)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.model.project(self.model.features(x))], dim=1)


class _Path(nn.Module):
    """The decision path ``g`` (``GACN._path``)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model._path(x)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _export(module: nn.Module, example: torch.Tensor, out: Path, batch_axis: bool) -> None:
    axes = {2: "rows", 3: "cols", **({0: "batch"} if batch_axis else {})}
    tmp = out.with_name(out.name + ".tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shapes
        torch.onnx.export(
            module,
            (example,),
            str(tmp),
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": axes, "y": axes},
            opset_version=OPSET,
            dynamo=False,
        )
    tmp.replace(out)  # atomic: a reader never sees half a graph


def export(name: str, out_dir: Path = WEIGHTS_DIR) -> Path:
    """Write ``name``'s two graphs and their record into ``out_dir``; returns the record."""
    model = pretrained_gacn(name)
    activity_size = (model.project.out_channels + 1) * len(model.windows)
    files = {"features": f"{name}.features.onnx", "path": f"{name}.path.onnx"}
    # The feature path writes its blocks into one buffer and the spatial
    # squeeze-excitation splits its convolution when autograd is off; the
    # plain forms (gradients on) trace to standard operators. The spatial
    # squeeze-excitation's split form is kept: OpenCV's dnn is slow on a 7 x 7
    # convolution to one channel, as torch is.
    with torch.enable_grad():
        _export(_Features(model), torch.rand(1, 1, 64, 64), out_dir / files["features"], False)
    with torch.no_grad():
        _export(_Path(model), torch.randn(2, activity_size, 64, 64), out_dir / files["path"], True)
    record = {
        "weights": name,
        "source_sha256": _sha256(WEIGHTS[name].path),
        "windows": list(model.windows),
        "activity_eps": model.activity_eps,
        "receptive_radius": model.receptive_radius,
        "activity_size": activity_size,
        "feature_channels": model.features.out_channels,
        "boundary_radius": model.boundary_radius,
        "boundary_eps": model.boundary_eps,
        "band_radius": model.band_radius,
        "band_low": model.band_low,
        "band_high": model.band_high,
        "files": files,
        "sha256": {part: _sha256(out_dir / file) for part, file in files.items()},
        "opset": OPSET,
        "torch": torch.__version__,
    }
    path = out_dir / f"{name}.dnn.json"
    # atomic: a reader never sees half a record
    with tempfile.NamedTemporaryFile("w", dir=out_dir, suffix=".tmp", delete=False) as tmp:
        json.dump(record, tmp, indent=2)
        tmp.write("\n")
    Path(tmp.name).chmod(0o644)
    Path(tmp.name).replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    gacn = [name for name, spec in WEIGHTS.items() if spec.arch == "gacn"]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", default=gacn, help=f"weights (default: {gacn})")
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR, help="output folder")
    args = parser.parse_args(argv)
    for name in args.names:
        if name not in gacn:
            parser.error(f"unknown gacn weights {name!r}; choose from {', '.join(gacn)}")
        print(export(name, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
