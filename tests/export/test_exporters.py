"""Export parity for every example model, in both formats."""

import json

import pytest
import torch

from brickwork.cli.model_cmds import model_from_file
from brickwork.errors import BrickworkError
from brickwork.export import export_model
from tests.conftest import EXAMPLES

MODELS = sorted(p.name for p in EXAMPLES.glob("*.yaml") if p.name != "mnist_cnn_a.yaml") + ["mnist_cnn_a.yaml"]


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("name", MODELS)
def test_every_example_exports_with_parity(name, fmt, tmp_path):
    pytest.importorskip("onnxruntime")
    model = model_from_file(str(EXAMPLES / name))
    out = tmp_path / f"model.{'onnx' if fmt == 'onnx' else 'pt'}"
    report = export_model(model, out, fmt, preprocessing={"scale": 255})
    assert report["ok"] and report["max_abs_error"] <= 1e-4, report
    side = json.loads((tmp_path / f"{out.name}.json").read_text())
    assert side["preprocessing"] == {"scale": 255} and side["parity"]["ok"]


def test_unknown_format(tmp_path):
    model = model_from_file(str(EXAMPLES / "digits_cnn.yaml"))
    with pytest.raises(BrickworkError, match="not supported"):
        export_model(model, tmp_path / "m.x", "tflite")


def test_real_inputs_are_checked(tmp_path):
    model = model_from_file(str(EXAMPLES / "digits_cnn.yaml"))
    from sklearn.datasets import load_digits

    x = torch.tensor(load_digits().images[:32], dtype=torch.float32).unsqueeze(1) / 16
    report = export_model(model, tmp_path / "m.onnx", "onnx", real_inputs=x)
    assert "real" in report and report["real"] <= 1e-4
