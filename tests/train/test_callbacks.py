"""Callbacks: the shared monitor base, EarlyStopping restoring the best weights, LR control, NaN
guard.
"""

import csv
import math

import pytest
import torch

from brickwork.errors import BrickworkError
from brickwork.models.io import load
from brickwork.train import (
    Callback,
    EarlyStopping,
    LearningRateScheduler,
    ModelCheckpoint,
    MonitorCallback,
    ReduceLROnPlateau,
    fit,
)
from brickwork.train.callbacks import build_callback
from brickwork.train.checkpoint import load_checkpoint
from brickwork.train.run import fit_run

from .helpers import blobs, mlp


class ScriptedValLoss(Callback):
    """Replaces val_loss by a scripted series, so the best epoch is known in advance."""

    def __init__(self, series):
        self.series, self.weights = series, {}

    def on_epoch_end(self, epoch, logs):
        logs["val_loss"] = self.series[epoch]
        self.weights[epoch] = {k: v.clone() for k, v in self.trainer.model.state_dict().items()}


def run_with(series, stopper, epochs):
    x, y = blobs()
    model = mlp()
    script = ScriptedValLoss(series)
    fit(model, x, y, epochs=epochs, lr=0.01, verbose=0, callbacks=[script, stopper])
    return model, script


def test_early_stopping_restores_best_weights_when_it_fires():
    stopper = EarlyStopping(monitor="val_loss", patience=2)
    model, script = run_with([0.9, 0.5, 0.7, 0.8, 0.6, 0.4], stopper, epochs=6)
    assert stopper.stopped_epoch == 3 and stopper.best_epoch == 1
    assert all(torch.equal(v, script.weights[1][k]) for k, v in model.state_dict().items())


def test_early_stopping_restores_best_weights_even_when_it_never_fires():
    """keras#12511: Keras keeps the last weights unless the stop fired; brickwork restores the
    best.
    """
    stopper = EarlyStopping(monitor="val_loss", patience=10)
    model, script = run_with([0.9, 0.3, 0.7, 0.8], stopper, epochs=4)
    assert stopper.stopped_epoch == -1
    assert all(torch.equal(v, script.weights[1][k]) for k, v in model.state_dict().items())


def test_monitor_base_is_shared_and_picks_the_mode():
    for cls in (EarlyStopping, ModelCheckpoint, ReduceLROnPlateau):
        assert issubclass(cls, MonitorCallback)
    assert EarlyStopping(monitor="val_accuracy").mode == "max"
    assert ReduceLROnPlateau(monitor="loss").mode == "min"
    with pytest.raises(BrickworkError, match="factor"):
        ReduceLROnPlateau(factor=2.0)


def test_missing_monitor_names_the_available_metrics():
    x, y = blobs()
    with pytest.raises(BrickworkError, match=r"monitors 'val_loss'.*validation"):
        fit(mlp(), x, y, epochs=1, verbose=0, callbacks=[EarlyStopping()])


def test_reduce_lr_on_plateau_and_scheduler():
    x, y = blobs()
    plateau = ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1, verbose=0)
    h = fit(
        mlp(),
        x,
        y,
        epochs=4,
        lr=0.1,
        verbose=0,
        callbacks=[ScriptedValLoss([1.0, 1.0, 1.0, 1.0]), plateau],
    )
    assert h.history["lr"] == pytest.approx([0.1, 0.1, 0.05, 0.025])  # the lr each epoch ran with
    h = fit(
        mlp(),
        x,
        y,
        epochs=3,
        lr=0.1,
        verbose=0,
        callbacks=[LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))],
    )
    assert h.history["lr"] == pytest.approx([0.1, 0.05, 0.1 / 3])


def test_model_checkpoint_best_only_and_csv_logger(tmp_path):
    x, y = blobs()
    callbacks = [
        ScriptedValLoss([0.5, 0.7, 0.3]),
        ModelCheckpoint(str(tmp_path / "best-{epoch}.safetensors"), save_best_only=True),
        build_callback({"type": "CSVLogger", "filename": "log.csv"}, tmp_path),
    ]
    fit(mlp(), x, y, epochs=3, verbose=0, callbacks=callbacks)
    assert sorted(p.name for p in tmp_path.glob("best-*")) == [
        "best-1.safetensors",
        "best-3.safetensors",
    ]
    assert load_checkpoint(tmp_path / "best-3.safetensors")["epoch"] == 3
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"] and "accuracy" in rows[0]


def test_build_callback_errors_suggest_names():
    with pytest.raises(BrickworkError, match="did you mean 'early_stopping'"):
        build_callback({"type": "early_stoping"}, None)
    with pytest.raises(BrickworkError, match="did you mean 'patience'"):
        build_callback({"type": "early_stopping", "patiense": 3}, None)


def test_terminate_on_nan_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    x, y = blobs()

    class Poison(Callback):
        def on_epoch_begin(self, epoch, logs):
            if epoch == 2:
                with torch.no_grad():
                    self.trainer.model[0].weight.fill_(float("nan"))

    h = fit_run(mlp(), x, y, epochs=5, verbose=0, callbacks=[Poison()], run_dir=tmp_path).history
    assert h.stop_reason == "nan" and len(h.epoch) == 3
    assert load_checkpoint(tmp_path / "checkpoints" / "last.safetensors")["epoch"] == 2


def test_nan_mid_epoch_with_validation_stops_cleanly_and_keeps_good_weights(tmp_path):
    """Divergence mid-epoch skips validation and the monitors, and the final model is the last good
    one.
    """
    x, y = blobs()

    class PoisonMidEpoch(Callback):
        def on_batch_begin(self, batch, logs):
            if self.trainer.epoch == 2 and batch == 0:
                with torch.no_grad():
                    self.trainer.model[0].weight.fill_(float("nan"))

    h = fit_run(
        mlp(),
        x[:480],
        y[:480],
        validation_data=(x[480:], y[480:]),
        epochs=5,
        verbose=0,
        callbacks=[PoisonMidEpoch(), EarlyStopping(patience=5, restore_best_weights=False)],
        run_dir=tmp_path,
    ).history
    assert h.stop_reason == "nan" and h.epoch == [0, 1, 2] and len(h["val_loss"]) == 3
    assert math.isnan(h["val_loss"][-1]) and not math.isfinite(h["loss"][-1])
    last = load_checkpoint(tmp_path / "checkpoints" / "last.safetensors")
    assert last["epoch"] == 2
    final = load(tmp_path / "model.safetensors", model=mlp())
    for key, value in final.state_dict().items():
        assert torch.isfinite(value).all() and torch.equal(value, last["model"][key])
