"""Export to pt2, ONNX, aoti and pte: parity with PyTorch, dynamic axes, clear errors."""

import json
import shutil
import warnings

import pytest
import torch

from brickwork.cli.model_cmds import model_from_file
from brickwork.errors import BrickworkError
from brickwork.export import export_model
from brickwork.models import build_model
from tests.conftest import EXAMPLES

MASKED_BIGRU = {
    "name": "masked_bigru",
    "input_shape": [9],
    "layers": [
        {"type": "embedding", "input_dim": 30, "output_dim": 6, "mask_zero": True},
        {"type": "gru", "units": 5, "bidirectional": True},
        {"type": "dense", "units": 3},
    ],
}
PER_STEP = {  # a dense layer on every step of a sequence of any length
    "name": "per_step",
    "input_shape": [None, 4],
    "layers": [{"type": "dense", "units": 3, "activation": "tanh"}],
}
NULL_LSTM = {
    "name": "null_lstm",
    "input_shape": [None, 4],
    "layers": [{"type": "lstm", "units": 5}, {"type": "dense", "units": 2}],
}


def export_quietly(*args, ours_only: bool = False, **kwargs) -> dict:
    """export_model with warnings recorded: none may mention torch.jit (with `ours_only`:
    none that points at brickwork's code; inductor and executorch still touch torch.jit)."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        report = export_model(*args, **kwargs)
    jit = [
        str(w.message)[:120]
        for w in seen
        if "jit" in str(w.message).lower() and (not ours_only or "brickwork" in w.filename)
    ]
    assert not jit, jit
    return report


@pytest.mark.parametrize("fmt", ["onnx", "pt2"])
@pytest.mark.parametrize("spec", [EXAMPLES / "digits_cnn.yaml", MASKED_BIGRU, PER_STEP])
def test_formats_export_with_parity(spec, fmt, tmp_path):
    """The fast cover of tests/export/test_every_example.py: an image CNN, a masked
    bidirectional recurrent layer (the two-pass path) and a dynamic sequence axis."""
    pytest.importorskip("onnxruntime")
    model = model_from_file(str(spec)) if not isinstance(spec, dict) else build_model(spec)
    out = tmp_path / f"model.{fmt}"
    report = export_quietly(model, out, fmt, preprocessing={"scale": 255})
    assert report["ok"] and report["max_abs_error"] <= 1e-4, report
    assert {"random_batch_1", "random_batch_3", "random_batch_17"} <= set(report)
    side = json.loads((tmp_path / f"{out.name}.json").read_text())
    assert side["preprocessing"] == {"scale": 255} and side["parity"]["ok"]
    assert "dynamo_failed" not in side["parity"]["exporter"]
    if spec is PER_STEP:  # the null axis stays dynamic in the file: 12 steps give 12 rows
        assert side["inputs"]["input"]["shape"] == [None, 4]
        x = torch.randn(2, 12, 4)
        with torch.no_grad():
            expected = model(x)
        if fmt == "pt2":
            got = torch.export.load(str(out)).module()(x)
        else:
            import onnxruntime as ort

            session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
            got = torch.from_numpy(session.run(None, {"input": x.numpy()})[0])
        assert got.shape == (2, 12, 3) and torch.allclose(got, expected, atol=1e-5)


def test_pt2_of_a_recurrent_layer_on_a_null_axis_names_the_layer(tmp_path):
    """torch.export unrolls recurrent layers, so their steps cannot stay dynamic: the error
    names the layer and says why; ONNX keeps the LSTM op and exports it at any length."""
    model = build_model(NULL_LSTM)
    with pytest.raises(BrickworkError, match=r"layer 'lstm_1' \(LSTM\).*dynamic") as e:
        export_model(model, tmp_path / "m.pt2", "pt2")
    assert "\n" not in str(e.value) and not (tmp_path / "m.pt2").exists()
    pytest.importorskip("onnxruntime")
    assert export_quietly(model, tmp_path / "m.onnx", "onnx")["ok"]


def test_onnx_falls_back_to_the_legacy_exporter_and_says_so(tmp_path, monkeypatch):
    real_export = torch.onnx.export

    def dynamo_fails(*args, **kwargs):
        if kwargs.get("dynamo"):
            raise RuntimeError("no dynamo today")
        return real_export(*args, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", dynamo_fails)
    model = model_from_file(str(EXAMPLES / "digits_cnn.yaml"))
    report = export_model(model, tmp_path / "m.onnx", "onnx")
    assert report["ok"] and "legacy" in report["exporter"]["exporter"]
    assert "no dynamo today" in report["exporter"]["dynamo_failed"]
    side = json.loads((tmp_path / "m.onnx.json").read_text())
    assert "no dynamo today" in side["parity"]["exporter"]["dynamo_failed"]


def test_unknown_and_removed_formats(tmp_path):
    model = model_from_file(str(EXAMPLES / "digits_cnn.yaml"))
    with pytest.raises(BrickworkError, match="not supported"):
        export_model(model, tmp_path / "m.x", "tflite")
    with pytest.raises(BrickworkError, match="torchscript is gone.*pt2"):
        export_model(model, tmp_path / "m.pt", "torchscript")
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_aoti_package_runs_through_its_python_loader(tmp_path):
    if not any(shutil.which(c) for c in ("c++", "g++", "clang++")):
        pytest.skip("no C++ compiler")
    model = model_from_file(str(EXAMPLES / "digits_cnn.yaml"))
    report = export_quietly(model, tmp_path / "m.aoti.pt2", "aoti", ours_only=True)
    assert report["ok"] and report["exporter"]["exporter"] == "AOTInductor"
    with pytest.raises(BrickworkError, match="must end in .pt2"):
        export_model(model, tmp_path / "m.aoti", "aoti")


def test_pte_runs_through_the_executorch_runtime(tmp_path):
    pytest.importorskip("executorch")
    model = model_from_file(str(EXAMPLES / "digits_cnn.yaml"))
    report = export_quietly(model, tmp_path / "m.pte", "pte", ours_only=True)
    assert report["ok"] and "ExecuTorch" in report["exporter"]["exporter"]


def test_pte_without_executorch_says_how_to_get_it(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "executorch", None)
    monkeypatch.setitem(sys.modules, "executorch.exir", None)
    model = model_from_file(str(EXAMPLES / "digits_cnn.yaml"))
    with pytest.raises(BrickworkError, match="executorch"):
        export_model(model, tmp_path / "m.pte", "pte")
    assert not list(tmp_path.iterdir())


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
    """A saved model (with its data recorded) exports as pt2; torch.export.load runs it."""
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
                "pt2",
                "-o",
                str(tmp_path / "m.pt2"),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "max abs error" in printed and "rows of the digits" in printed
    program = torch.export.load(str(tmp_path / "m.pt2")).module()
    x = torch.randn(5, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(program(x), model.eval()(x), atol=1e-5)


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
