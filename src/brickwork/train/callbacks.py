"""Callbacks with Keras's names and arguments, on one small "monitor a metric" base class.

Write your own by subclassing `Callback` and overriding any hook:

    class PrintLR(Callback):
        def on_epoch_end(self, epoch, logs):
            print(epoch, self.trainer.optimizer.param_groups[0]["lr"])

    fit(model, x, y, callbacks=[PrintLR()])

`self.trainer` (set before `on_train_begin`) holds `model`, `optimizer`, `scheduler`, `history`,
`epoch`, `global_step`, `device` and `stop_training` (set it to True to stop after this epoch).
`on_batch_end`'s `logs["loss"]` is a 0-d tensor on the device: calling `.item()` on it every
batch synchronizes the device, so read it only as often as you need. A callback that keeps
state across a resume returns it from `state_dict()` (JSON values and tensors).
"""

from __future__ import annotations

import csv
import inspect
import io
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch

from brickwork.errors import BrickworkError, did_you_mean
from brickwork.files import atomic_write
from brickwork.spec.train import MAX_MODE
from brickwork.train.callback_base import Callback
from brickwork.trust import import_named


class MonitorCallback(Callback):
    """Follows one metric in the epoch logs and says when it improved (Keras MonitorCallback).

    `mode='auto'` maximizes accuracy-like metrics (accuracy, f1, precision, recall, r2) and
    minimizes everything else; an improvement must beat the best by more than `min_delta`.
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", min_delta: float = 0.0):
        if mode not in ("auto", "min", "max"):
            raise BrickworkError(
                f"{type(self).__name__}: mode must be 'auto', 'min' or 'max', not '{mode}'."
            )
        self.monitor = monitor
        self.mode = (
            mode
            if mode != "auto"
            else ("max" if monitor.removeprefix("val_").endswith(MAX_MODE) else "min")
        )
        self.min_delta = abs(min_delta)
        self.best = -math.inf if self.mode == "max" else math.inf
        self.best_epoch = -1

    def current(self, logs: dict) -> float:
        """The monitored value, or an error naming the keys that do exist."""
        if self.monitor not in logs:
            hint = (
                " (validation metrics need validation data)"
                if self.monitor.startswith("val_")
                else ""
            )
            raise BrickworkError(
                f"{type(self).__name__} monitors '{self.monitor}', which is not among the epoch's "
                f"metrics {sorted(logs)}{did_you_mean(self.monitor, logs)}{hint}; set monitor: to "
                "one of them."
            )
        return float(logs[self.monitor])

    def improved(self, value: float) -> bool:
        if self.mode == "max":
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch}


class EarlyStopping(MonitorCallback):
    """Stop when `monitor` has not improved for `patience` epochs.

    Unlike Keras, `restore_best_weights` defaults to True and the best weights are restored
    at the end of training whether or not the stop fired (keras#12511): the model you get is
    the best one seen, never just the last.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "auto",
        patience: int = 0,
        min_delta: float = 0.0,
        restore_best_weights: bool = True,
        baseline: float | None = None,
        start_from_epoch: int = 0,
        verbose: int = 1,
    ):
        super().__init__(monitor, mode, min_delta)
        self.patience, self.restore_best_weights, self.start_from_epoch = (
            patience,
            restore_best_weights,
            start_from_epoch,
        )
        self.verbose = verbose
        if baseline is not None:
            self.best = baseline
        self.wait = 0
        self.stopped_epoch = -1
        self.best_weights: dict[str, torch.Tensor] | None = None

    def on_epoch_end(self, epoch, logs):
        value = self.current(logs)
        if self.improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = {
                    k: v.detach().clone() for k, v in self.trainer.model.state_dict().items()
                }
            return
        self.wait += 1
        if self.wait >= self.patience and epoch >= self.start_from_epoch:
            self.stopped_epoch = epoch
            self.trainer.stop_training = True
            self.trainer.say(
                f"EarlyStopping: '{self.monitor}' has not improved for {self.wait} epochs; "
                f"stopping after epoch {epoch + 1}."
            )

    def on_train_end(self, logs):
        epochs = self.trainer.history.epoch
        if self.best_weights is not None and epochs and self.best_epoch != epochs[-1]:
            self.trainer.model.load_state_dict(self.best_weights)
            self.trainer.say(
                f"EarlyStopping: restored the weights of epoch {self.best_epoch + 1} "
                f"({self.monitor}={self.best:.4g})."
            )

    def state_dict(self):
        state = {**super().state_dict(), "wait": self.wait, "stopped_epoch": self.stopped_epoch}
        if self.best_weights is not None:
            state["best_weights"] = self.best_weights
        return state


class ModelCheckpoint(MonitorCallback):
    """Save a resumable checkpoint each epoch, only when `monitor` improves, or (`save_top_k`)
    keeping the K best by `monitor`.

    `filepath` may hold `{epoch}` and metric names, e.g.
    `ckpt-{epoch:02d}-{val_loss:.3f}.safetensors`; with `save_top_k` it must hold `{epoch}`, so
    each kept checkpoint has its own file. A checkpoint pushed out of the K best is deleted
    after the better one is written; the kept list survives a resume.
    """

    main_process_only = True

    def __init__(
        self,
        filepath: str,
        monitor: str = "val_loss",
        mode: str = "auto",
        save_best_only: bool = False,
        min_delta: float = 0.0,
        verbose: int = 0,
        save_top_k: int | None = None,
    ):
        super().__init__(monitor, mode, min_delta)
        if save_top_k is not None and (
            isinstance(save_top_k, bool) or not isinstance(save_top_k, int) or save_top_k < 1
        ):
            raise BrickworkError(
                f"ModelCheckpoint: save_top_k must be a whole number >= 1, not {save_top_k!r:.40}."
            )
        if save_top_k is not None and "{epoch" not in str(filepath):
            raise BrickworkError(
                f"ModelCheckpoint: save_top_k keeps several files, but filepath '{filepath!s:.80}' "
                "has no {epoch} in it, so each would overwrite the last; use e.g. "
                "'best-{epoch:02d}.safetensors'."
            )
        self.filepath, self.save_best_only, self.verbose = str(filepath), save_best_only, verbose
        self.save_top_k = save_top_k
        self.kept: list[list] = []  # [value, path] of the kept checkpoints, best first

    def on_epoch_end(self, epoch, logs):
        if self.save_top_k:
            self._keep_top_k(epoch, logs)
            return
        if self.save_best_only:
            value = self.current(logs)
            if not self.improved(value):
                return
            self.best, self.best_epoch = value, epoch
        path = self.filepath.format(epoch=epoch + 1, **logs)
        self.trainer.save_checkpoint(path)
        if self.verbose:
            self.trainer.say(f"ModelCheckpoint: saved {path}")

    def _keep_top_k(self, epoch, logs) -> None:
        """Write this epoch's checkpoint if it is among the K best, then delete the one it
        pushed out (after the write: a crash in between leaves one file too many, never one
        too few)."""
        value = self.current(logs)
        if math.isnan(value):
            return
        worse = (lambda a, b: a < b) if self.mode == "max" else (lambda a, b: a > b)
        if len(self.kept) >= self.save_top_k and not worse(self.kept[-1][0], value):
            return
        path = self.filepath.format(epoch=epoch + 1, **logs)
        ranked = [k for k in self.kept if k[1] != path] + [[value, path]]
        ranked.sort(key=lambda k: -k[0] if self.mode == "max" else k[0])
        self.kept = ranked[: self.save_top_k]  # before the write, so the checkpoint holds it
        if self.kept[0][1] == path:
            self.best, self.best_epoch = value, epoch
        self.trainer.save_checkpoint(path)
        for _, old in ranked[self.save_top_k :]:
            Path(old).unlink(missing_ok=True)
        if self.verbose:
            self.trainer.say(f"ModelCheckpoint: saved {path} (one of the {self.save_top_k} best)")

    def state_dict(self) -> dict:
        return {**super().state_dict(), "kept": self.kept}


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the learning rate by `factor` when `monitor` stalls for `patience` epochs.

    It scales the base lr of each parameter group, so it also works under a warmup/cosine
    schedule.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "auto",
        factor: float = 0.1,
        patience: int = 10,
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
        verbose: int = 1,
    ):
        if not 0 < factor < 1:
            raise BrickworkError(
                "ReduceLROnPlateau does not support a factor outside (0, 1). Received "
                f"factor={factor}."
            )
        super().__init__(monitor, mode, min_delta)
        self.factor, self.patience, self.cooldown, self.min_lr, self.verbose = (
            factor,
            patience,
            cooldown,
            min_lr,
            verbose,
        )
        self.wait = 0
        self.cooldown_counter = 0

    def on_epoch_end(self, epoch, logs):
        value = self.current(logs)
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            return
        if self.cooldown_counter > 0:
            return
        self.wait += 1
        if self.wait >= self.patience:
            for group in self.trainer.optimizer.param_groups:
                new = max(group["lr"] * self.factor, self.min_lr)
                group["initial_lr"] *= new / group["lr"]
                group["lr"] = new
            self.cooldown_counter, self.wait = self.cooldown, 0
            if self.verbose:
                self.trainer.say(
                    f"ReduceLROnPlateau: '{self.monitor}' stalled; learning rate now "
                    f"{self.trainer.optimizer.param_groups[0]['lr']:.3g}."
                )

    def state_dict(self):
        return {
            **super().state_dict(),
            "wait": self.wait,
            "cooldown_counter": self.cooldown_counter,
        }


class LearningRateScheduler(Callback):
    """Set the lr at each epoch start to `schedule(epoch, lr)` (a callable or 'module:function')."""

    def __init__(self, schedule: Callable[[int, float], float] | str, verbose: int = 0):
        self.schedule = (
            _import(schedule, "schedule function") if isinstance(schedule, str) else schedule
        )
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs):
        groups = self.trainer.optimizer.param_groups
        lr = float(self.schedule(epoch, groups[0]["lr"]))
        for group in groups:
            group["lr"] = group["initial_lr"] = lr
        if self.verbose:
            self.trainer.say(f"LearningRateScheduler: epoch {epoch + 1} lr {lr:.3g}")


class CSVLogger(Callback):
    """Write one row per epoch to `filename` (rewritten from the history, so a resume stays
    consistent), atomically: a reader or a kill never sees a half-written file.
    """

    main_process_only = True

    def __init__(self, filename: str = "metrics.csv", separator: str = ","):
        self.filename, self.separator = str(filename), separator

    def on_epoch_end(self, epoch, logs):
        history = self.trainer.history.history
        keys = list(history)
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, delimiter=self.separator)
        writer.writerow(["epoch", *keys])
        for i, e in enumerate(self.trainer.history.epoch):
            writer.writerow([e + 1, *(history[k][i] if i < len(history[k]) else "" for k in keys)])
        atomic_write(self.filename, buffer.getvalue().encode())


def _copy_to_host(batch: int, flag: torch.Tensor) -> tuple:
    """Start copying a CUDA bool to pinned host memory; (batch, host tensor, its event)."""
    host = torch.empty((), dtype=torch.bool, pin_memory=True)
    host.copy_(flag, non_blocking=True)
    event = torch.cuda.Event()
    event.record()
    return batch, host, event


def _read_host(pending: tuple) -> bool:
    """The copied flag (its copy finished during the batches since, so this rarely waits)."""
    _, host, event = pending
    if not event.query():
        event.synchronize()
    return bool(host)


class TerminateOnNaN(Callback):
    """Stop as soon as the loss is NaN or infinite, keeping the last good checkpoint.

    The loss is read every `check_every` batches and at each epoch end; the epoch in which it
    diverged writes no checkpoint. On one CUDA device the read does not wait for the GPU: each
    check copies the flag to pinned host memory without blocking and reads the previous
    check's copy, done long since (so a NaN is seen one check later). Elsewhere (the CPU, where
    nothing waits, and distributed runs, where all ranks must decide at the same batch) the
    flag is read at once.
    """

    def __init__(self, check_every: int = 50):
        self.check_every = max(1, int(check_every))
        self._pending = None  # CUDA: (batch, pinned host flag, event of its copy)

    def on_train_begin(self, logs):
        self._pending = None

    def on_batch_end(self, batch, logs):
        from brickwork.train.distributed import all_true, world_size

        if batch % self.check_every:
            return
        loss = logs["loss"]
        finite = torch.isfinite(loss).all()
        # the deferred read (one check late) only on one CUDA device and with no mid-epoch
        # checkpoints, which could otherwise save NaN weights before the NaN is read
        late_is_safe = loss.device.type == "cuda" and world_size() == 1
        if not late_is_safe or self.trainer.spec.checkpoint_every_steps:
            if not all_true(bool(finite), loss.device):
                self._stop(f"batch {batch + 1}")
            return
        previous, self._pending = self._pending, _copy_to_host(batch, finite)
        if previous is not None and not _read_host(previous):
            self._stop(f"batch {previous[0] + 1}")

    def on_epoch_end(self, epoch, logs):
        if not math.isfinite(logs.get("loss", 0.0)):
            self._stop(f"epoch {epoch + 1}")

    def _stop(self, where: str) -> None:
        if self.trainer.diverged:
            return
        self.trainer.stop_training = self.trainer.diverged = True
        self.trainer.say(
            f"TerminateOnNaN: the loss became NaN or infinite in {where}; training stopped and "
            "the last "
            "good checkpoint was kept. Lower the learning rate, add clip_grad_norm, or check the "
            "data for NaNs."
        )


class TimeLimit(Callback):
    """Stop training before it runs past `max_time` seconds of wall time (Lightning's
    `max_time`), at an epoch end, so every kept epoch is whole and validated.

    After each epoch it asks whether one more epoch, as long as the longest so far
    (validation included), still ends within `max_time` from the start of `fit`; if not,
    training stops there. The budget therefore holds unless a single epoch takes longer than
    the ones before it. A learning-rate schedule still runs over `train.epochs`: size the
    epochs to the budget when the schedule should finish. Time counts from this `fit` call
    (a resumed run starts a fresh budget).
    """

    def __init__(self, max_time: float, verbose: int = 1):
        if isinstance(max_time, bool) or not isinstance(max_time, int | float) or max_time <= 0:
            raise BrickworkError(
                f"TimeLimit: max_time is the training budget in seconds and must be a number "
                f"above 0, found {str(max_time)[:40]!r}; for 15 minutes write max_time: 900."
            )
        self.max_time, self.verbose = float(max_time), verbose
        self.start = self.epoch_start = 0.0
        self.longest = 0.0

    def on_train_begin(self, logs):
        self.start = time.monotonic()
        self.longest = 0.0  # a callback reused by another fit starts afresh

    def on_epoch_begin(self, epoch, logs):
        self.epoch_start = time.monotonic()

    def on_epoch_end(self, epoch, logs):
        from brickwork.train.distributed import all_true

        now = time.monotonic()
        self.longest = max(self.longest, now - self.epoch_start)
        fits = now - self.start + self.longest <= self.max_time
        if all_true(fits, self.trainer.device) or self.trainer.stop_training:
            return
        self.trainer.stop_training = True
        if self.verbose:
            self.trainer.say(
                f"TimeLimit: {now - self.start:.0f} s of the {self.max_time:.0f} s budget used "
                f"and an epoch takes up to {self.longest:.0f} s; stopping after epoch {epoch + 1}."
            )


def _import(path: str, what: str):
    """'package.module:attr' -> the object (checked when it is named by a file being loaded)."""
    try:
        return import_named(path, what)
    except (ImportError, AttributeError, ValueError) as e:
        raise BrickworkError(
            f"cannot import '{path}' ({e}); write it as 'package.module:name'."
        ) from None


def callback_registry() -> dict[str, type[Callback]]:
    from brickwork.train.tensorboard import TensorBoard

    classes = [
        EarlyStopping,
        ModelCheckpoint,
        ReduceLROnPlateau,
        LearningRateScheduler,
        CSVLogger,
        TerminateOnNaN,
        TimeLimit,
        TensorBoard,
    ]
    return {_key(c.__name__): c for c in classes}


def _key(name: str) -> str:
    return name.replace("_", "").lower()


def build_callback(entry: dict, run_dir: Path | None) -> Callback:
    """One callback from a spec mapping `{type: early_stopping, patience: 3}`.

    `type` is a snake_case or Keras CamelCase name, or 'package.module:Class' for your own.
    Relative file paths of CSVLogger, ModelCheckpoint and TensorBoard go in the run directory.
    """
    entry = dict(entry)
    name = str(entry.pop("type"))
    registry = callback_registry()
    snake = {
        "".join("_" + ch.lower() if ch.isupper() else ch for ch in c.__name__).lstrip("_"): c
        for c in registry.values()
    }
    if ":" in name:
        cls = _import(name, "callback")
    elif _key(name) in registry:
        cls = registry[_key(name)]
    else:
        raise BrickworkError(
            f"train.callbacks: unknown callback '{name}'{did_you_mean(name, snake)}; choose one "
            f"of {', '.join(snake)}, or give 'package.module:Class'."
        )
    params = inspect.signature(cls.__init__).parameters
    for key in entry:
        if key not in params or key == "self":
            valid = [p for p in params if p != "self"]
            raise BrickworkError(
                f"train.callbacks: {cls.__name__} has no argument "
                f"'{key}'{did_you_mean(key, valid)}; its arguments: {', '.join(valid)}."
            )
    for key in ("filename", "filepath", "log_dir"):
        if (
            key in params
            and key not in entry
            and params[key].default is not inspect.Parameter.empty
        ):
            entry[key] = params[key].default
        if key in entry and run_dir is not None and not Path(entry[key]).is_absolute():
            entry[key] = str(run_dir / entry[key])
    try:
        return cls(**entry)
    except TypeError as e:
        raise BrickworkError(f"train.callbacks: {cls.__name__}: {e}.") from None
