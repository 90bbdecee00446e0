"""`brickwork export`: never replaces its own inputs without --force; files follow the umask."""

import os
import stat

import numpy as np
import pytest
import yaml

from brickwork.cli.main import main
from brickwork.files import file_mode
from brickwork.models import build_model
from brickwork.models.io import save_model


@pytest.fixture
def run(tmp_path):
    """A run directory as `brickwork train` leaves it (spec, model, checkpoint, records)."""
    run = tmp_path / "runs" / "tiny"
    model = build_model({"input_shape": [4], "layers": [{"dense": 3}]})
    save_model(model, run / "model.safetensors")
    save_model(model, run / "checkpoints" / "last.safetensors")
    (run / "spec.yaml").write_text(yaml.safe_dump({"model": model.spec}))
    (run / "test_metrics.json").write_text("{}")
    return run


def test_export_refuses_to_overwrite_the_run_it_reads(run, tmp_path, capsys):
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    inputs = tmp_path / "rows.npy"
    np.save(inputs, np.zeros((2, 4), dtype=np.float32))
    for out in (
        run / "model.safetensors",
        run / "checkpoints" / "last.safetensors",
        run / "spec.yaml",
        run / "test_metrics",  # its .json sidecar would replace test_metrics.json
        inputs,
    ):
        argv = ["export", str(run), "-o", str(out), "--inputs", str(inputs)]
        assert main(argv) == 2, out
        assert "would overwrite" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    assert main(["export", str(run), "-o", str(run / "model.onnx"), "--no-data"]) == 0
    onnx = run / "model.onnx"
    assert stat.S_IMODE(os.stat(onnx).st_mode) == file_mode()  # not 0600
    assert stat.S_IMODE(os.stat(f"{onnx}.json").st_mode) == file_mode()
    assert not [p for p in run.iterdir() if p.name.startswith(".")]


def test_force_allows_replacing_an_input(run, capsys):
    argv = ["export", str(run), "-o", str(run / "spec.yaml"), "--no-data", "--force"]
    assert main(argv) == 0
    assert (run / "spec.yaml").read_bytes()[:4] != b"mode"  # now the ONNX file, as asked
