"""What one `fit` call carries: the History it returns and the Trainer that callbacks and
custom steps see (model, optimizer, scheduler, counters, and its resumable state)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from torch import nn

from brickwork.errors import BrickworkError
from brickwork.models.io import load_weights, model_meta
from brickwork.spec.train import TrainSpec
from brickwork.train import distributed
from brickwork.train.checkpoint import rng_state, save_checkpoint
from brickwork.train.metrics import Metrics, is_metric_object


class History:
    """Per-epoch logs: `history["val_loss"]` is a list with one value per epoch (Keras's
    History).
    """

    def __init__(
        self, history: dict | None = None, epoch: list | None = None, stop_reason: str | None = None
    ):
        self.history: dict[str, list[float]] = history or {}
        self.epoch: list[int] = epoch or []
        self.stop_reason = stop_reason

    def append(self, epoch: int, logs: dict) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def state_dict(self) -> dict:
        return {"history": self.history, "epoch": self.epoch, "stop_reason": self.stop_reason}

    def _repr_html_(self) -> str:
        """In a notebook: the learning curves and the last epoch's values."""
        from brickwork.train.live import history_html

        return history_html(self.history, self.epoch)


class Trainer:
    """What callbacks and custom steps see.

    `model` is your module; `step_model` is what a step calls to run it (the same module, or
    its DistributedDataParallel / torch.compile wrapper: call it, not `model`, so gradients are
    synchronized). `optimizer`, `scheduler` (or None), `loss_fn`, `device`, `history`,
    `epoch`, `global_step`, `stop_training` (set True to stop after this epoch), `say(msg)`
    and `save_checkpoint(path)`.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        spec: TrainSpec,
        callbacks: list,
        console: Console,
        scaler,
    ):
        self.model, self.optimizer, self.spec, self.callbacks = model, optimizer, spec, callbacks
        self.console, self.scaler = console, scaler
        self.step_model: nn.Module = model
        self.eval_model: nn.Module = model  # under DDP: the bare model (no collective per batch)
        self.lr_multiplier = None  # the spec's schedule: step -> factor of each group's base lr
        self.scheduler = None
        self.scheduler_interval: str | None = None
        self.loss_fn = None
        self.device: torch.device | None = None
        self.history = History()
        self.epochs = spec.epochs
        self.initial_epoch = self.epoch = self.global_step = self.batches_seen = 0
        self.in_epoch = False  # True while train_epoch runs (a checkpoint then is mid-epoch)
        self.train_loader = None
        self.steps_per_epoch: int | None = None
        self.stop_training = self.diverged = False
        self.example_batch = None
        self.train_metrics: Metrics | None = None
        self.chosen: dict[str, dict] = {}  # what the automatic settings picked, and why

    def say(self, message: str) -> None:
        if self.spec.verbose and distributed.is_main():
            self.console.print(message, highlight=False)

    def state_dict(self) -> dict[str, Any]:
        """Everything a resume needs: weights, optimizer, scheduler, scaler, counters, history,
        callbacks' state and the RNG states; written during an epoch (from on_batch_end), also
        the position in it (see `mid_epoch_position`)."""
        keys = _callback_keys(self.callbacks)
        position = self.mid_epoch_position() if self.in_epoch else None
        return {
            "epoch": self.epoch + (0 if position else 1),
            "position": position,
            "global_step": self.global_step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "optimizer_class": _class_name(self.optimizer),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scheduler_class": _class_name(self.scheduler),
            "scaler": self.scaler.state_dict() if self.scaler else None,
            "history": self.history.state_dict(),
            "rng": rng_state(),
            "callbacks": {k: cb.state_dict() for k, cb in zip(keys, self.callbacks, strict=True)},
        }

    def check_mid_epoch(self) -> None:
        """Raise BrickworkError unless a checkpoint written between two batches can resume at
        the exact next one (an in-memory loader, one process, no running metric objects)."""
        why = None
        if not hasattr(self.train_loader, "resume_at"):
            why = (
                f"the training data is a {type(self.train_loader).__name__}, which cannot skip to "
                "a batch; pass tensors or a Split"
            )
        elif distributed.world_size() > 1:
            why = "this is a distributed run (each rank's random state differs)"
        elif any(is_metric_object(m) for m in self.train_metrics.own.values()):
            why = "your own metric objects keep running state that is not saved"
        if why:
            raise BrickworkError(
                f"cannot checkpoint in the middle of an epoch (checkpoint_every_steps, or a "
                f"checkpoint saved from on_batch_end): {why}. Checkpoint at epoch ends instead "
                "(drop checkpoint_every_steps)."
            )

    def mid_epoch_position(self) -> dict:
        """The batch reached, the loader's augmentation state and the epoch's running metric
        sums, written at the end of an accumulation group so that no gradient is pending."""
        self.check_mid_epoch()
        done, accum = self.batches_seen, self.spec.accumulate
        if done % accum and done != self.steps_per_epoch:
            raise BrickworkError(
                f"cannot checkpoint after batch {done}: it is inside a gradient accumulation "
                f"group of {accum} batches, whose gradients a checkpoint does not hold; save at "
                f"the end of a group (after a multiple of {accum} batches)."
            )
        metrics = self.train_metrics
        return {
            "batch": done,
            "loader": self.train_loader.position(),
            "metrics": {"state": dict(metrics.state), "count": metrics.count},
        }

    def save_checkpoint(self, path: str | Path) -> Path:
        """Write a resumable checkpoint (in a distributed job only rank 0 writes)."""
        if not distributed.is_main():
            return Path(path)
        return save_checkpoint(path, self.state_dict(), model_meta(self.model))

    def load_state_dict(self, state: dict, source: str = "the checkpoint") -> None:
        """Restore everything but the RNG (restored last, just before the first resumed epoch).

        The optimizer and scheduler must be of the kinds the checkpoint was written with (your
        own objects: pass the same kinds again)."""
        for what, obj in (("optimizer", self.optimizer), ("scheduler", self.scheduler)):
            saved = state.get(f"{what}_class", _class_name(obj))
            if saved != _class_name(obj):
                raise BrickworkError(
                    f"cannot resume from {source}: it was trained with {what} {saved}, but this "
                    f"fit has {_class_name(obj)}; pass the same kind of {what} as the first run."
                )
        load_weights(self.model, state["model"], source)  # another architecture: names it
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.initial_epoch, self.global_step = state["epoch"], state["global_step"]
        self.history = History(**state["history"])
        for key, cb in zip(_callback_keys(self.callbacks), self.callbacks, strict=True):
            if state["callbacks"].get(key):
                cb.load_state_dict(state["callbacks"][key])


def _class_name(obj) -> str | None:
    return None if obj is None else f"{type(obj).__module__}.{type(obj).__qualname__}"


def _callback_keys(callbacks) -> list[str]:
    """'EarlyStopping:0', 'ModelCheckpoint:1', ...: stable when other kinds come and go."""
    seen: dict[str, int] = {}
    keys = []
    for cb in callbacks:
        name = type(cb).__name__
        keys.append(f"{name}:{seen.get(name, 0)}")
        seen[name] = seen.get(name, 0) + 1
    return keys
