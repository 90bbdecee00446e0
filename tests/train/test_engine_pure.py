"""The engine is pure: fit writes no files, leaves the model as it found it apart from its
weights, and joins no process group; the run layer writes the run directory and the model
file once."""

import os

import pytest
import torch
import torch.distributed as dist

from brickwork.errors import BrickworkError
from brickwork.models.card import ModelCard
from brickwork.train import EarlyStopping, fit
from brickwork.train.run import fit_run

from .helpers import blobs, mlp


def files_under(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_fit_writes_no_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    x, y = blobs(300)
    fit(
        mlp(),
        x[:200],
        y[:200],
        validation_data=(x[200:], y[200:]),
        epochs=2,
        verbose=0,
        callbacks=[EarlyStopping(patience=1)],
        schedule={"type": "cosine", "warmup_epochs": 1},
    )
    assert files_under(tmp_path) == []


def test_fit_changes_only_the_weights():
    x, y = blobs(200)
    model = mlp(dropout=0.1).eval()
    model.card = ModelCard(task="classification", extra={"note": "mine"})
    before = {k: v for k, v in vars(model).items() if k not in ("_parameters", "_buffers")}
    grads = [p.requires_grad for p in model.parameters()]
    old = {k: v.clone() for k, v in model.state_dict().items()}
    fit(model, x, y, epochs=1, verbose=0, loss="cross_entropy", metrics=["f1"])
    assert model.card == ModelCard(task="classification", extra={"note": "mine"})
    after = {k: v for k, v in vars(model).items() if k not in ("_parameters", "_buffers")}
    assert after.keys() == before.keys()
    assert not model.training and all(not m.training for m in model.modules())
    assert [p.requires_grad for p in model.parameters()] == grads
    assert any(not torch.equal(old[k], v) for k, v in model.state_dict().items())
    assert torch.are_deterministic_algorithms_enabled() is False


def test_fit_joins_no_process_group(monkeypatch):
    """torchrun's variables alone do not make fit join a group: that is the caller's choice."""
    for key, value in {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0"}.items():
        monkeypatch.setitem(os.environ, key, value)
    monkeypatch.setitem(os.environ, "MASTER_ADDR", "127.0.0.1")
    monkeypatch.setitem(os.environ, "MASTER_PORT", "1")  # nothing listens: joining would hang
    x, y = blobs(100)
    fit(mlp(), x, y, epochs=1, verbose=0)
    assert not dist.is_initialized()


def test_what_moved_out_of_fit_says_where(tmp_path):
    x, y = blobs(100)
    with pytest.raises(BrickworkError, match="fit_run"):
        fit(mlp(), x, y, epochs=1, verbose=0, run_dir=tmp_path)
    with pytest.raises(BrickworkError, match="is a folder"):
        fit(mlp(), x, y, epochs=1, verbose=0, resume=tmp_path)


def test_the_run_layer_writes_the_run_and_the_model_once(tmp_path, monkeypatch):
    from brickwork.models import io
    from brickwork.train import checkpoint

    saved = []
    real = io.write_safetensors
    for module in (io, checkpoint):
        monkeypatch.setattr(
            module, "write_safetensors", lambda path, *a: saved.append(str(path)) or real(path, *a)
        )
    x, y = blobs(300)
    run = fit_run(
        mlp(),
        x[:200],
        y[:200],
        run_dir=tmp_path / "run",
        validation_data=(x[200:], y[200:]),
        epochs=2,
        verbose=0,
        test=lambda m: {"accuracy": 0.5},
    )
    assert saved.count(str(tmp_path / "run" / "model.safetensors")) == 1
    assert saved.count(str(tmp_path / "run" / "checkpoints" / "last.safetensors")) == 2
    for name in ("metrics.csv", "environment.json", "plots/learning_curves.png"):
        assert (tmp_path / "run" / name).is_file(), name
    model = io.load(tmp_path / "run" / "model.safetensors", model=mlp())
    assert model.card.test_metrics == {"accuracy": 0.5}
    assert run.history.epoch == [0, 1]
    more = fit_run(
        mlp(),
        x[:200],
        y[:200],
        run_dir=tmp_path / "run",
        resume=True,
        epochs=3,
        validation_data=(x[200:], y[200:]),
        verbose=0,
    )
    assert more.history.epoch == [0, 1, 2]
