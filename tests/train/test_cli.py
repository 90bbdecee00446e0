"""`brickwork train / eval / predict` end to end on the bundled digits, and spec overrides."""

import argparse
import json

import numpy as np
import pytest
import yaml
from PIL import Image

pytest.importorskip(
    "brickwork.spec.data",
    reason="needs the data package (brickwork.spec.data, brickwork.data.load_data)",
)

from brickwork.cli import train_cmds  # noqa: E402
from brickwork.errors import BrickworkError  # noqa: E402
from brickwork.models.io import load  # noqa: E402
from brickwork.spec.run import load_run_spec  # noqa: E402

SPEC = {
    "name": "tiny_digits",
    "model": {
        "input_shape": [1, 8, 8],
        "layers": [
            {
                "type": "conv2d",
                "filters": 8,
                "kernel_size": 3,
                "padding": "same",
                "activation": "relu",
            },
            {"type": "maxpool2d", "pool_size": 2},
            "flatten",
            {"type": "dense", "units": 10},
        ],
    },
    "data": {"dataset": "digits", "validation_split": 0.1},
    "train": {
        "epochs": 3,
        "batch_size": 32,
        "lr": 0.01,
        "verbose": 0,
        "callbacks": [{"type": "early_stopping", "patience": 5}],
    },
}


def cli(*argv) -> int:
    parser = argparse.ArgumentParser()
    train_cmds.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([str(a) for a in argv])
    return args.func(args)


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    return path


def test_override_errors_name_the_dotted_path(spec_file):
    with pytest.raises(BrickworkError, match=r"'train\.epoch'.*did you mean 'train\.epochs'"):
        load_run_spec(spec_file, ["train.epoch=5"])
    with pytest.raises(BrickworkError, match="did you mean 'train'"):
        load_run_spec(spec_file, ["trian.lr=0.1"])
    assert (
        load_run_spec(spec_file, ["train.lr=0.05", "train.optimizer.type=sgd"]).train.optimizer.type
        == "sgd"
    )


def test_train_eval_predict_and_resume(spec_file, tmp_path, capsys):
    runs = tmp_path / "runs"
    assert (
        cli("train", spec_file, "--runs-dir", runs, "--set", "train.epochs=2", "--device", "cpu")
        == 0
    )
    run = runs / "tiny_digits"
    assert "test: loss" in capsys.readouterr().out
    for name in (
        "spec.yaml",
        "environment.json",
        "metrics.csv",
        "model.safetensors",
        "test_metrics.json",
        "checkpoints/last.safetensors",
        "checkpoints/best.safetensors",
        "plots/learning_curves.png",
        "plots/confusion_matrix.png",
    ):
        assert (run / name).is_file(), name
    assert yaml.safe_load((run / "spec.yaml").read_text())["train"]["epochs"] == 2
    model = load(run / "model.safetensors")
    assert model.card.test_metrics["accuracy"] > 0.8 and len(model.card.class_names) == 10

    assert cli("train", "--resume", run, "--set", "train.epochs=3") == 0
    assert len((run / "metrics.csv").read_text().strip().splitlines()) == 4  # header + 3 epochs
    capsys.readouterr()

    assert cli("eval", run, "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["accuracy"] > 0.8 and len(result["confusion_matrix"]) == 10
    assert cli("eval", run) == 0
    assert "confusion matrix" in capsys.readouterr().out

    image = tmp_path / "digit.png"
    Image.fromarray((np.eye(32)[::-1] * 255).astype(np.uint8)).save(image)
    array = tmp_path / "two.npy"
    np.save(array, np.random.default_rng(0).uniform(0, 16, (2, 1, 8, 8)).astype(np.float32))
    assert cli("predict", run, image, array, "--json", "--top-k", "2") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["input"] for r in rows] == ["digit.png", "two.npy[0]", "two.npy[1]"]
    assert len(rows[0]["top"]) == 2 and sum(p["probability"] for p in rows[0]["top"]) <= 1.0 + 1e-6


def test_resume_needs_a_run_directory(tmp_path):
    with pytest.raises(BrickworkError, match="spec.yaml"):
        cli("train", "--resume", tmp_path)
