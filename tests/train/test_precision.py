"""precision: auto picks bf16 where the device has native bf16 and the outputs are classes,
fp32 otherwise, and says what it chose and why in the run's environment.json."""

import json

import pytest
import torch

from brickwork.errors import BrickworkError
from brickwork.models import Sequential
from brickwork.spec.train import TrainSpec, parse_train_spec
from brickwork.train import device as device_mod
from brickwork.train.device import autocast, choose_precision, native_bf16
from brickwork.train.run import fit_run
from tests.train.helpers import blobs

CPU = torch.device("cpu")


@pytest.fixture
def bf16_cpu(monkeypatch):
    monkeypatch.setattr(device_mod, "cpu_flags", lambda: {"avx512f", "avx512_bf16"})


@pytest.fixture
def plain_cpu(monkeypatch):
    monkeypatch.setattr(device_mod, "cpu_flags", lambda: {"avx2", "fma"})


def test_auto_is_a_precision_and_a_typo_is_refused():
    assert parse_train_spec({"precision": "auto"}).precision == "auto"
    with pytest.raises(BrickworkError, match="precision"):
        parse_train_spec({"precision": "bf17"})


def _model(features: int = 256):
    """256 x 512 + 512 x 3 = 132,608 MACs per sample: above auto's bf16 threshold."""
    return Sequential(
        [{"type": "dense", "units": 512, "activation": "relu"}, {"type": "dense", "units": 3}],
        input_shape=[features],
    )


@pytest.mark.parametrize("kind", ["multiclass", "binary"])
def test_auto_picks_bf16_for_classes_on_a_cpu_with_native_bf16(bf16_cpu, kind):
    spec, chosen = choose_precision(TrainSpec(precision="auto"), CPU, kind, _model())
    assert spec.precision == chosen["value"] == "bf16"
    assert "avx512_bf16" in chosen["why"] and chosen["why"].startswith("auto")


def test_auto_keeps_fp32_for_small_recurrent_and_unknown_models(bf16_cpu):
    auto = TrainSpec(precision="auto")
    _, chosen = choose_precision(auto, CPU, "multiclass", _model(features=16))
    assert chosen["value"] == "fp32" and "9,728 MACs/sample" in chosen["why"]
    gru = Sequential(
        [{"type": "embedding", "input_dim": 67, "output_dim": 64}, {"type": "gru", "units": 512}],
        input_shape=[100],
    )
    _, chosen = choose_precision(auto, CPU, "multiclass", gru)
    assert chosen["value"] == "fp32" and "gru" in chosen["why"]
    _, chosen = choose_precision(auto, CPU, "multiclass", torch.nn.Linear(512, 512))
    assert chosen["value"] == "fp32" and "not a brickwork model" in chosen["why"]


@pytest.mark.parametrize(
    ("kind", "said"), [("regression", "significant digits"), (None, "does not say")]
)
def test_auto_keeps_fp32_for_regression_and_unknown_outputs(bf16_cpu, kind, said):
    spec, chosen = choose_precision(TrainSpec(precision="auto"), CPU, kind, _model())
    assert spec.precision == chosen["value"] == "fp32" and said in chosen["why"]


def test_auto_keeps_fp32_without_native_bf16(plain_cpu):
    assert native_bf16(CPU)[0] is False
    spec, chosen = choose_precision(TrainSpec(precision="auto"), CPU, "multiclass", _model())
    assert spec.precision == "fp32" and "avx512_bf16" in chosen["why"]
    _, chosen = choose_precision(TrainSpec(precision="auto"), torch.device("mps"), "multiclass")
    assert chosen["value"] == "fp32" and "mps" in chosen["why"]


def test_explicit_precision_is_kept_and_emulated_bf16_is_noted(plain_cpu):
    spec, chosen = choose_precision(TrainSpec(precision="bf16"), CPU, "regression")
    assert spec.precision == "bf16" and "asked for" in chosen["why"]
    assert "emulated" in chosen["why"]
    spec, chosen = choose_precision(TrainSpec(precision="fp32"), CPU, "multiclass")
    assert chosen == {"value": "fp32", "why": "train.precision: fp32 (asked for)"}


def test_autocast_refuses_an_unresolved_precision():
    with pytest.raises(BrickworkError, match="fp32, bf16, fp16"):
        autocast(CPU, "auto")


def _seen_dtypes():
    """A train step that records the dtypes of the model's outputs (autocast makes them bf16)."""
    from brickwork.train.steps import default_step

    seen = set()

    def step(batch, t):
        out = default_step(batch, t)
        seen.add(out["output"].dtype)
        return out

    return seen, step


def test_fit_with_auto_trains_in_bf16_and_records_why(tmp_path, bf16_cpu):
    x, y = blobs(n=256, features=256)
    seen, step = _seen_dtypes()
    result = fit_run(
        _model(),
        x,
        y,
        run_dir=tmp_path,
        epochs=3,
        lr=0.01,
        metrics=["accuracy"],
        precision="auto",
        verbose=0,
        device="cpu",
        train_step=step,
    )
    assert seen == {torch.bfloat16}
    env = json.loads((tmp_path / "environment.json").read_text())
    assert env["precision"] == "bf16"
    assert env["chosen"]["precision"]["value"] == "bf16"
    assert "avx512_bf16" in env["chosen"]["precision"]["why"]
    assert result.history.history["accuracy"][-1] > 0.5


def test_fit_with_auto_on_regression_stays_fp32(tmp_path, bf16_cpu):
    x = torch.randn(128, 10)
    y = x.sum(1, keepdim=True)
    model = Sequential([{"type": "dense", "units": 1}], input_shape=[10])
    seen, step = _seen_dtypes()
    fit_run(
        model,
        x,
        y,
        run_dir=tmp_path,
        epochs=1,
        precision="auto",
        verbose=0,
        device="cpu",
        task="regression",
        train_step=step,
    )
    assert seen == {torch.float32}
    env = json.loads((tmp_path / "environment.json").read_text())
    assert env["precision"] == "fp32" and "regression" in env["chosen"]["precision"]["why"]
