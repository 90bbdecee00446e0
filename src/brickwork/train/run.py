"""The run layer: the engine (`fit`) plus a run directory, and the final model written once.

    from brickwork.train.run import fit_run
    result = fit_run(model, x, y, run_dir="runs/mine", validation_data=(xv, yv), epochs=5)
    result = fit_run(model, x, y, run_dir="runs/mine", resume=True, epochs=10)   # continue

`fit_run` takes every option of `fit` and adds the run-directory callbacks (metrics.csv,
TensorBoard, environment.json, checkpoints/last and best), then writes the learning curves
and model.safetensors (with the train and test metrics) once, at the end. Training from a
spec (`brickwork.train.runner.train_from_spec`) and fine-tuning
(`brickwork.finetune.finetune_from_spec`) are two ways of preparing a `PreparedRun` (model,
data, train section, extra callbacks) for `run_prepared`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from brickwork import runs
from brickwork.errors import BrickworkError
from brickwork.files import atomic_write
from brickwork.models.card import card_of
from brickwork.models.io import save_model
from brickwork.spec.train import TrainSpec, parse_train_spec
from brickwork.train import distributed, loggers, plots, rundir
from brickwork.train.callbacks import Callback, build_callback
from brickwork.train.checkpoint import load_checkpoint
from brickwork.train.loop import History, evaluate, fit, predict
from brickwork.train.optim import output_activation
from brickwork.train.pieces import training_record


@dataclass
class RunResult:
    run_dir: Path | None  # None in the ranks other than 0 of a distributed job
    history: History
    test_metrics: dict


@dataclass
class PreparedRun:
    """Everything a run needs: the model, its data bundle (train/val/test splits, class names),
    the train section and callbacks of its own (e.g. fine-tuning's gradual unfreezing)."""

    model: nn.Module
    bundle: Any
    train: TrainSpec
    callbacks: list[Callback] = field(default_factory=list)


def run_card(model: nn.Module, bundle, spec, **fields: Any):
    """A fresh model card for a run: the data's task, preprocessing, classes and vocabulary,
    the spec's data section, seed and name (a fine-tuned model is described anew, not as its
    base)."""
    from brickwork.models.card import new_card

    return new_card(
        model,
        task=bundle.task,
        preprocessing=bundle.preprocessing,
        class_names=bundle.class_names,
        num_classes=bundle.num_classes,
        vocab=bundle.vocab.to_json() if bundle.vocab is not None else None,
        data=spec.data.model_dump(mode="json"),
        seed=spec.train.seed,
        name=spec.name,
        **fields,
    )


def last_checkpoint(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints" / "last.safetensors"


def resumable(run_dir: str | Path) -> Path:
    """`run_dir` if it holds a checkpoint to resume from, else a clear error (the temp files a
    killed writer left in it are removed when the run starts: rundir.write_environment)."""
    run_dir = Path(run_dir)
    if not rundir.started(run_dir):
        raise BrickworkError(
            f"cannot resume '{run_dir}': it has no checkpoints/last.safetensors (a run directory "
            "gets one after its first epoch)."
        )
    return run_dir


def has_rows(split) -> bool:
    return split is not None and len(split.y) > 0


class LastCheckpoint(Callback):
    """checkpoints/last.safetensors after every epoch that did not diverge and, with
    `train.checkpoint_every_steps: N`, after every N optimizer steps of an epoch (at the end of
    an accumulation group; a resume continues at the exact next batch). It runs after every
    other callback, so the checkpoint holds their state."""

    main_process_only = True

    def __init__(self, path: Path):
        self.path = path
        self.every = None  # batches between mid-epoch checkpoints

    def on_train_begin(self, logs):
        spec = self.trainer.spec
        if spec.checkpoint_every_steps:
            self.every = spec.checkpoint_every_steps * spec.accumulate

    def on_batch_end(self, batch, logs):
        t = self.trainer
        last = t.steps_per_epoch is not None and batch + 1 >= t.steps_per_epoch
        if self.every and (batch + 1) % self.every == 0 and not last and not t.diverged:
            t.save_checkpoint(self.path)  # the epoch's end writes the last batch's checkpoint

    def on_epoch_end(self, epoch, logs):
        if not self.trainer.diverged:
            self.trainer.save_checkpoint(self.path)


class EnvironmentFile(Callback):
    """environment.json: versions, device, threads, seed, precision, command line."""

    main_process_only = True

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir

    def on_train_begin(self, logs):
        t = self.trainer
        rundir.write_environment(self.run_dir, t.device, t.spec, t.chosen)


def fit_run(
    model: nn.Module,
    x: Any,
    y: Any = None,
    *,
    run_dir: str | Path | None,
    resume: bool = False,
    validation_data: Any = None,
    callbacks: Sequence[Callback] = (),
    test: Callable[[nn.Module], dict] | None = None,
    **fit_options: Any,
) -> RunResult:
    """`fit` writing a run directory; `resume=True` continues it from checkpoints/last.

    `test(model) -> metrics` (optional) runs after training unless it diverged; its numbers
    go into model.safetensors. After a divergence the model is the last good checkpoint's.
    In a distributed job only rank 0 writes; the others may pass `run_dir=None` (unless they
    resume, which every rank does from the same checkpoint).
    """
    main = distributed.is_main()
    if run_dir is None and (main or resume):
        raise BrickworkError("fit_run needs run_dir= (the folder to write the run into).")
    run_dir = Path(run_dir) if run_dir is not None else None
    if resume:
        resumable(run_dir)
    mine = list(callbacks)
    last = LastCheckpoint(last_checkpoint(run_dir)) if main else None
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        mine += rundir.run_callbacks(run_dir, validation_data is not None, mine)
        mine += [EnvironmentFile(run_dir), last]
        mine += loggers.spec_loggers(_logged(fit_options), run_dir, mine)  # train.loggers
    history = fit(
        model,
        x,
        y,
        validation_data=validation_data,
        callbacks=mine,
        resume=last_checkpoint(run_dir) if resume else None,
        **fit_options,
    )
    if not main:
        return RunResult(None, history, {})
    if history.stop_reason == "nan":
        _restore_last_good(model, last)
    test_metrics = test(model) if test is not None and history.stop_reason != "nan" else {}
    plots.learning_curves(history.history, run_dir / "plots" / "learning_curves.png")
    save_model(
        model,
        run_dir / "model.safetensors",
        train_metrics={k: v[-1] for k, v in history.history.items() if v},
        test_metrics={k: v for k, v in test_metrics.items() if isinstance(v, float)},
    )
    return RunResult(run_dir, history, test_metrics)


def _logged(fit_options: dict) -> TrainSpec | None:
    """The `loggers:` that fit's options ask for (directly or in `train=`), so their trackers
    know the run directory (its spec, its name, the store beside it)."""
    listed, train = fit_options.get("loggers"), fit_options.get("train")
    if listed is None and train is not None:
        listed = (train if isinstance(train, TrainSpec) else parse_train_spec(train)).loggers
    return parse_train_spec({"loggers": listed}) if listed else None


def _restore_last_good(model: nn.Module, last: LastCheckpoint) -> None:
    """After divergence, go back to the last checkpoint's weights unless a callback
    (EarlyStopping's best weights) already left finite ones."""
    if all(torch.isfinite(p).all() for p in model.parameters()) or not last.path.exists():
        return
    model.load_state_dict(load_checkpoint(last.path)["model"])
    last.trainer.say(f"restored the weights of the last good checkpoint ({last.path}).")


def run_prepared(
    run: PreparedRun, run_dir: Path | None, *, resume: bool = False, device: str | None = None
) -> RunResult:
    """Train a prepared run in `run_dir` (None on ranks other than 0): the spec's callbacks
    with their files in the run directory, then the test split's metrics and plots.
    status.json records the run as running, then how it ended (`brickwork runs`), and the
    trackers of `train.loggers` (MLflow) get the test metrics and the run's files at the end."""
    train = run.train.model_copy(update={"device": device}) if device else run.train
    model, bundle = run.model, run.bundle
    model.card = card_of(model).updated(**training_record(train, bundle.task))
    spec_callbacks = [build_callback(entry, run_dir) for entry in train.callbacks]
    main = distributed.is_main()
    trackers = loggers.spec_loggers(train, run_dir, close_at_train_end=False) if main else []
    test = None
    if has_rows(bundle.test):
        test = lambda m: _test(run_dir, m, bundle, train)  # noqa: E731
    with (
        runs.recording(run_dir if main else None) as status,
        loggers.finishing(trackers, run_dir) as outcome,
    ):
        result = fit_run(
            model,
            bundle.train,
            run_dir=run_dir,
            resume=resume,
            validation_data=bundle.val if has_rows(bundle.val) else None,
            callbacks=[*spec_callbacks, *run.callbacks, *trackers],
            test=test,
            task=bundle.task,
            train=train.model_copy(update={"callbacks": []}),
        )
        status["stop_reason"] = outcome["stop_reason"] = result.history.stop_reason
        outcome["test_metrics"] = result.test_metrics
    return result


def _test(run_dir: Path, model: nn.Module, bundle, train: TrainSpec) -> dict:
    """Test metrics (test_metrics.json) and, for classification, the confusion matrix and
    misclassified images."""
    metrics = evaluate(
        model, bundle.test, batch_size=train.eval_batch_size or 256, device=train.device
    )
    if "target_scaler" in (bundle.extra or {}):  # series: loss/metrics are on scaled targets
        from brickwork.data.timeseries import errors_in_data_units

        pred = predict(model, bundle.test.x, device=train.device).reshape(bundle.test.y.shape)
        metrics.update(errors_in_data_units(bundle.extra, pred, bundle.test.y))
        metrics["units"] = (
            "loss and metrics on standardised targets; *_data_units in the data's units of "
            + ", ".join(bundle.extra["target_columns"])
        )
    atomic_write(run_dir / "test_metrics.json", json.dumps(metrics, indent=2).encode())
    if "confusion_matrix" not in metrics:
        return metrics
    plots.confusion_matrix(
        metrics["confusion_matrix"], bundle.class_names, run_dir / "plots" / "confusion_matrix.png"
    )
    x, y = bundle.test.x, bundle.test.y
    if x.dim() != 4 or y.dim() != 1:
        return metrics
    out = predict(model, x[:2000], device=train.device)
    threshold = 0.5 if output_activation(model) == "sigmoid" else 0.0
    pred = out.argmax(-1) if out.shape[-1] > 1 else (out[:, 0] > threshold).long()
    plots.misclassified(
        x[:2000], y[:2000].long(), pred, bundle.class_names, run_dir / "plots" / "misclassified.png"
    )
    return metrics
