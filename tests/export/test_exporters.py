"""Export parity for every example model, in both formats."""

import json

import pytest
import torch

from brickwork.cli.model_cmds import model_from_file
from brickwork.errors import BrickworkError
from brickwork.export import export_model
from tests.conftest import EXAMPLES

# every example spec with a model: section, in sub-folders too (LSTM/GRU language models, series);
# tune specs hold search spaces, not one model
MODELS = sorted(
    str(p.relative_to(EXAMPLES))
    for p in EXAMPLES.rglob("*.yaml")
    if "\nmodel:" in "\n" + p.read_text() and "\ntune:" not in "\n" + p.read_text()
)


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


def test_cli_export_checks_real_rows_of_the_recorded_data(tmp_path, capsys):
    from brickwork.cli.main import main

    out = tmp_path / "digits.onnx"
    assert (
        main(
            [
                "export",
                str(EXAMPLES / "digits_cnn.yaml"),
                "--format",
                "onnx",
                "-o",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["real"] <= 1e-4 and "digits test split" in report["real_inputs"]
    side = json.loads((tmp_path / "digits.onnx.json").read_text())
    assert (
        side["class_names"] == [str(i) for i in range(10)]
        and side["preprocessing"]["steps"][0]["op"] == "scale"
    )
    assert side["inputs"]["input"]["shape"] == [1, 8, 8]


def test_cli_export_of_a_trained_model_file(tmp_path, capsys):
    """A saved model (with its data recorded) exports as TorchScript; the file loads and agrees."""
    from brickwork.cli.main import main
    from brickwork.models.io import save_model

    model = model_from_file(str(EXAMPLES / "digits_cnn.yaml"))
    save_model(
        model,
        tmp_path / "m.safetensors",
        task="classification",
        data={"dataset": "digits"},
        preprocessing={
            "version": 1,
            "kind": "float",
            "input_shape": [1, 8, 8],
            "steps": [{"op": "scale", "factor": 0.0625}],
        },
    )
    assert (
        main(
            [
                "export",
                str(tmp_path / "m.safetensors"),
                "--format",
                "torchscript",
                "-o",
                str(tmp_path / "m.pt"),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "max abs error" in printed and "rows of the digits" in printed
    scripted = torch.jit.load(str(tmp_path / "m.pt"))
    x = torch.randn(5, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(scripted(x), model.eval()(x), atol=1e-5)


def test_cli_export_of_the_char_lstm_on_real_text(shared_data, tmp_path, capsys, monkeypatch):
    from brickwork.cli.main import main

    monkeypatch.chdir(EXAMPLES.parent)  # the spec path below is relative to the repository
    monkeypatch.setenv("BRICKWORK_DATA", str(shared_data))  # holds tinyshakespeare/input.txt
    assert (
        main(
            [
                "export",
                "examples/shakespeare/char_lstm.yaml",
                "-o",
                str(tmp_path / "lm.onnx"),
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["real"] <= 1e-4 and "tinyshakespeare" in report["real_inputs"]


def test_cli_export_errors(tmp_path, capsys):
    from brickwork.cli.main import main

    assert (
        main(["export", str(tmp_path / "missing.safetensors"), "-o", str(tmp_path / "x.onnx")]) == 2
    )
    assert "does not exist" in capsys.readouterr().err
