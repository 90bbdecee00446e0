"""`fit`, `evaluate` and `predict`: the training loop, read top to bottom.

    history = fit(model, x_train, y_train, validation_data=(x_val, y_val), epochs=3, lr=1e-3)
    history.history["val_loss"]          # one value per epoch, as in Keras
    evaluate(model, x_test, y_test)      # {"loss": ..., "accuracy": ...}

`fit` trains any `nn.Module` on tensors, a `Split`, or any iterable of `(x, y)` batches. Its
hot loop is the loop you would write by hand plus a few on-device additions for the running
loss and metrics; nothing reads the device per step unless a callback asks. With a `run_dir`
it also writes checkpoints, metrics.csv, TensorBoard events, plots and the final model, and
`resume=` continues a run exactly: the interrupted epoch restarts from its beginning with
the saved RNG states, so the result equals that of a run never interrupted.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch
from rich.console import Console
from torch import nn

from brickwork.errors import BrickworkError
from brickwork.models.io import model_meta
from brickwork.spec.train import LossSpec, TrainSpec, parse_train_spec
from brickwork.train import distributed, rundir
from brickwork.train.callbacks import Callback, TerminateOnNaN, build_callback
from brickwork.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from brickwork.train.device import autocast, grad_scaler, pick_device, seed_everything
from brickwork.train.loggers import spec_loggers
from brickwork.train.metrics import Metrics, default_metrics, task_kind
from brickwork.train.optim import lr_multiplier, make_loss, make_optimizer, output_activation
from brickwork.train.progress import ProgressBar


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


class Trainer:
    """What callbacks see: the model, optimizer, history and counters, and
    `say`/`save_checkpoint`.
    """

    def __init__(self, model, optimizer, spec: TrainSpec, callbacks, run_dir, console, scaler):
        self.model, self.optimizer, self.spec, self.callbacks = model, optimizer, spec, callbacks
        self.run_dir, self.console, self.scaler = run_dir, console, scaler
        self.history = History()
        self.epochs = spec.epochs
        self.initial_epoch = self.epoch = self.global_step = self.batches_seen = 0
        self.steps_per_epoch = None
        self.stop_training = self.diverged = False
        self.example_batch = None
        self.train_metrics: Metrics | None = None

    def say(self, message: str) -> None:
        if self.spec.verbose and distributed.is_main():
            self.console.print(message, highlight=False)

    def state_dict(self) -> dict:
        return {
            "epoch": self.epoch + 1,
            "global_step": self.global_step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler else None,
            "history": self.history.state_dict(),
            "rng": rng_state(),
            "callbacks": dict(
                zip(
                    _callback_keys(self.callbacks),
                    (cb.state_dict() for cb in self.callbacks),
                    strict=True,
                )
            ),
        }

    def save_checkpoint(self, path: str | Path) -> Path:
        """Write a resumable checkpoint (in a distributed job only rank 0 writes)."""
        if not distributed.is_main():
            return Path(path)
        return save_checkpoint(path, self.state_dict(), model_meta(self.model))

    def load_state_dict(self, state: dict) -> None:
        """Restore everything but the RNG (restored last, just before the first resumed epoch)."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scaler and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.initial_epoch, self.global_step = state["epoch"], state["global_step"]
        self.history = History(**state["history"])
        for key, cb in zip(_callback_keys(self.callbacks), self.callbacks, strict=True):
            if state["callbacks"].get(key):
                cb.load_state_dict(state["callbacks"][key])


def _callback_keys(callbacks) -> list[str]:
    """'EarlyStopping:0', 'ModelCheckpoint:1', ...: stable when other kinds come and go."""
    seen: dict[str, int] = {}
    keys = []
    for cb in callbacks:
        name = type(cb).__name__
        keys.append(f"{name}:{seen.get(name, 0)}")
        seen[name] = seen.get(name, 0) + 1
    return keys


def make_loader(
    data,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    device: torch.device,
    rank: int = 0,
    world_size: int = 1,
):
    """Batches from `(x, y)` tensors or arrays, a Split (with its augmentation), or any iterable of
    batches.

    With `world_size` > 1, tensors and Splits give this rank's shard of each epoch's order.
    """
    shard = {"rank": rank, "world_size": world_size} if world_size > 1 else {}
    if hasattr(data, "loader"):  # a Split from brickwork.data.load_data
        return data.loader(batch_size, shuffle=shuffle, seed=seed, device=device, **shard)
    if isinstance(data, tuple | list) and len(data) == 2 and not isinstance(data[0], tuple | list):
        x, y = data
    elif hasattr(data, "__iter__"):
        return data
    else:
        raise BrickworkError(
            f"cannot train on a {type(data).__name__}; pass (x, y) tensors, a Split, or an "
            "iterable of (x, y) batches such as a DataLoader."
        )
    from brickwork.data import InMemoryLoader

    x, y = torch.as_tensor(x), torch.as_tensor(y)
    if len(x) != len(y):
        raise BrickworkError(
            f"x has {len(x)} samples but y has {len(y)}; they must have one target per sample."
        )
    return InMemoryLoader(x, y, batch_size, shuffle=shuffle, seed=seed, device=device, **shard)


def default_loss(task: str | None, spec_loss: LossSpec | None) -> LossSpec:
    """The spec's loss, else one for the task: bce (binary), mse (regression), cross_entropy."""
    if spec_loss is not None:
        return spec_loss
    if task == "binary":
        return LossSpec(type="bce")
    return LossSpec(type="mse" if task == "regression" else "cross_entropy")


def fit(
    model: nn.Module,
    x,
    y=None,
    *,
    validation_data=None,
    callbacks: list[Callback] = (),
    run_dir: str | Path | None = None,
    resume: str | Path | None = None,
    task: str | None = None,
    train: TrainSpec | dict | None = None,
    **options,
) -> History:
    """Train `model`; options are the `train:` fields (epochs, lr, optimizer, loss, metrics, ...).

    `task` ('classification', 'binary', 'regression', 'language_model') picks the loss and
    metrics when they are not given. `resume` is a run directory or checkpoint file.
    """
    base = parse_train_spec(train).model_dump(exclude_unset=True) if train is not None else {}
    spec = parse_train_spec({**base, **options})
    task = task or getattr(model, "metadata", {}).get("task")
    device = distributed.init_from_env(pick_device(spec.device))
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    seed_everything(spec.seed, spec.deterministic)
    try:
        return _fit(
            model,
            x if y is None else (x, y),
            validation_data,
            list(callbacks),
            run_dir,
            resume,
            task,
            spec,
            device,
        )
    finally:
        torch.use_deterministic_algorithms(was_deterministic)


def _fit(
    model, data, validation_data, user_callbacks, run_dir, resume, task, spec, device
) -> History:
    model.to(device)
    if spec.channels_last:
        model.to(memory_format=torch.channels_last)
    rank, world, main = distributed.rank(), distributed.world_size(), distributed.is_main()
    step_model = distributed.wrap(model, device) if world > 1 else model
    step_model = torch.compile(step_model) if spec.compile else step_model
    loader = make_loader(
        data,
        distributed.per_rank_batch(spec.batch_size),
        shuffle=spec.shuffle,
        seed=spec.seed,
        device=device,
        rank=rank,
        world_size=world,
    )
    eval_size = spec.eval_batch_size or spec.batch_size
    if validation_data is not None and world > 1:
        validation_data = distributed.shard(validation_data, rank, world)
    val_loader = (
        None
        if validation_data is None
        else make_loader(validation_data, eval_size, shuffle=False, seed=spec.seed, device=device)
    )
    loss_spec = default_loss(task, spec.loss)
    loss_fn, from_logits = make_loss(loss_spec, output_activation(model), device)
    kind = task_kind(loss_spec.type, task)
    metric_specs = (
        spec.metrics
        if spec.metrics is not None
        else default_metrics(kind, task == "language_model")
    )
    if hasattr(model, "metadata") or hasattr(model, "spec"):
        model.metadata = {
            **getattr(model, "metadata", {}),
            "loss": loss_spec.model_dump(),
            "metrics": [m.model_dump() for m in metric_specs],
            "task": task,
        }

    run_dir = Path(run_dir) if run_dir is not None and main else None
    console = Console()
    callbacks = [ProgressBar(spec.verbose, console)] if spec.verbose and main else []
    if spec.terminate_on_nan and not any(isinstance(cb, TerminateOnNaN) for cb in user_callbacks):
        callbacks.append(TerminateOnNaN())
    callbacks += [build_callback(entry, run_dir) for entry in spec.callbacks] + user_callbacks
    callbacks += spec_loggers(spec, run_dir, callbacks)  # train.loggers: [mlflow]
    if not main:  # files and the console belong to rank 0
        callbacks = [cb for cb in callbacks if not cb.main_process_only]
    if run_dir is not None:
        callbacks += rundir.run_callbacks(
            run_dir, has_validation=val_loader is not None, callbacks=callbacks
        )

    optimizer = make_optimizer(model, spec.optimizer, spec.lr)
    t = Trainer(
        model, optimizer, spec, callbacks, run_dir, console, grad_scaler(device, spec.precision)
    )
    t.steps_per_epoch = len(loader) if hasattr(loader, "__len__") else None
    schedule = lr_multiplier(spec.schedule, t.steps_per_epoch or 1, spec.epochs, spec.lr)
    if spec.schedule is not None and spec.schedule.type == "reduce_on_plateau":
        callbacks.append(
            build_callback({**spec.schedule.options, "type": "reduce_lr_on_plateau"}, run_dir)
        )
    if schedule is not None and t.steps_per_epoch is None:
        raise BrickworkError(
            "a learning-rate schedule needs to know the batches per epoch, but the training data "
            "has no len(); pass tensors, a Split, or a DataLoader."
        )
    t.train_metrics = Metrics(metric_specs, kind, from_logits)
    val_metrics = Metrics(metric_specs, kind, from_logits)
    for cb in callbacks:
        cb.trainer = t

    if resume is not None:
        resume = Path(resume)
        path = resume / "checkpoints" / "last.safetensors" if resume.is_dir() else resume
        state = load_checkpoint(path)
        t.load_state_dict(state)
        t.say(f"resumed from {path}: continuing at epoch {t.initial_epoch + 1}/{spec.epochs}")
        set_rng_state(state["rng"])
    if run_dir is not None:
        rundir.write_environment(run_dir, device, spec)

    _call(callbacks, "on_train_begin", {})
    reg = getattr(model, "regularization_loss", None)
    has_reg = reg is not None and reg() is not None
    amp = autocast(device, spec.precision)
    for epoch in range(t.initial_epoch, spec.epochs):
        t.epoch = epoch
        model.train()
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(epoch)
        _call(callbacks, "on_epoch_begin", epoch, {})
        t.train_metrics.reset()
        _train_epoch(t, step_model, loader, loss_fn, schedule, amp, has_reg, device)
        distributed.sum_metrics(t.train_metrics)
        logs = t.train_metrics.compute()
        if t.diverged:  # stopped mid-epoch: no validation, no epoch-end hooks, no checkpoint
            t.history.append(epoch, {**dict.fromkeys(t.history.history, float("nan")), **logs})
            break
        if val_loader is not None:
            val_metrics.reset()
            _evaluate_loader(
                model if world > 1 else step_model,
                val_loader,
                loss_fn,
                val_metrics,
                amp,
                device,
                spec.channels_last,
            )
            distributed.sum_metrics(val_metrics)
            logs.update({f"val_{k}": v for k, v in val_metrics.compute().items()})
        logs["lr"] = optimizer.param_groups[0]["lr"]
        t.history.append(epoch, logs)
        _call(callbacks, "on_epoch_end", epoch, logs)
        if run_dir is not None and not t.diverged:
            t.save_checkpoint(run_dir / "checkpoints" / "last.safetensors")
        if t.stop_training:
            break
    if t.diverged:
        t.history.stop_reason = "nan"
    elif t.stop_training:
        t.history.stop_reason = "stopped"
    _call(callbacks, "on_train_end", {})
    if t.diverged and run_dir is not None:
        _restore_last_good(t, run_dir / "checkpoints" / "last.safetensors")
    if run_dir is not None:
        rundir.finish(run_dir, model, t.history)
    return t.history


def _restore_last_good(t: Trainer, path: Path) -> None:
    """After divergence, go back to the last checkpoint's weights unless a callback
    (EarlyStopping's best weights) already left finite ones."""
    if all(torch.isfinite(p).all() for p in t.model.parameters()) or not path.exists():
        return
    t.model.load_state_dict(load_checkpoint(path)["model"])
    t.say(f"restored the weights of the last good checkpoint ({path}).")


def _call(callbacks, hook: str, *args) -> None:
    for cb in callbacks:
        getattr(cb, hook)(*args)


def _overrides(cb: Callback, hook: str) -> bool:
    return getattr(type(cb), hook) is not getattr(Callback, hook)


def _train_epoch(t: Trainer, model, loader, loss_fn, schedule, amp, has_reg, device) -> None:
    """One pass over the training batches: forward, loss, backward, (accumulated) step."""
    optimizer, scaler, spec, metrics = t.optimizer, t.scaler, t.spec, t.train_metrics
    begin = [cb for cb in t.callbacks if _overrides(cb, "on_batch_begin")]
    end = [cb for cb in t.callbacks if _overrides(cb, "on_batch_end")]
    accum, clip_norm, clip_value = spec.accumulate, spec.clip_grad_norm, spec.clip_grad_value
    groups = optimizer.param_groups
    # DDP: micro-batches that do not end an accumulation group skip the gradient all-reduce
    skip_sync = (
        model.no_sync if accum > 1 and hasattr(model, "no_sync") and t.steps_per_epoch else None
    )
    logs: dict = {}
    pending = False
    for i, (xb, yb) in enumerate(loader):
        xb, yb = _to_device(xb, device, spec.channels_last), yb.to(device, non_blocking=True)
        if t.example_batch is None:
            t.example_batch = xb
        for cb in begin:
            cb.on_batch_begin(i, logs)
        if schedule is not None:
            factor = schedule(t.global_step)
            for group in groups:
                group["lr"] = group["initial_lr"] * factor
        if i % accum == 0:
            optimizer.zero_grad(set_to_none=True)
        pending = (i + 1) % accum != 0
        with (
            skip_sync()
            if skip_sync and pending and i + 1 < t.steps_per_epoch
            else contextlib.nullcontext()
        ):
            with amp:
                out = model(xb)
                loss = loss_fn(out, yb)
                if has_reg:
                    loss = loss + t.model.regularization_loss()
            scaled = loss / accum if accum > 1 else loss
            (scaler.scale(scaled) if scaler else scaled).backward()
        if not pending:
            _step(optimizer, scaler, t.model, clip_norm, clip_value)
        t.global_step += 1
        metrics.update(out, yb, loss)
        t.batches_seen = i + 1
        if end:
            logs["loss"] = loss.detach()
            for cb in end:
                cb.on_batch_end(i, logs)
            if t.diverged:
                return
    if pending:
        _step(optimizer, scaler, t.model, clip_norm, clip_value)


def _step(optimizer, scaler, model, clip_norm, clip_value) -> None:
    """Clip (after unscaling fp16 gradients) and take one optimizer step."""
    if scaler is not None and (clip_norm or clip_value):
        scaler.unscale_(optimizer)
    if clip_norm:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    if clip_value:
        torch.nn.utils.clip_grad_value_(model.parameters(), clip_value)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()


def _to_device(x, device, channels_last: bool):
    if isinstance(x, dict):
        return {k: v.to(device, non_blocking=True) for k, v in x.items()}
    x = x.to(device, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if channels_last and x.dim() == 4 else x


@torch.no_grad()
def _evaluate_loader(
    model, loader, loss_fn, metrics: Metrics, amp, device, channels_last=False
) -> None:
    was_training = model.training
    model.eval()
    for xb, yb in loader:
        xb, yb = _to_device(xb, device, channels_last), yb.to(device, non_blocking=True)
        with amp:
            out = model(xb)
            loss = loss_fn(out, yb) if loss_fn is not None else None
        metrics.update(out, yb, loss)
    model.train(was_training)


def evaluate(
    model: nn.Module,
    x,
    y=None,
    *,
    batch_size: int = 256,
    loss=None,
    metrics=None,
    task: str | None = None,
    device: str = "auto",
    precision: str = "fp32",
) -> dict:
    """Loss and metrics on a dataset; classification adds `confusion_matrix` and `per_class`.

    The loss and metrics default to those the model was trained with (`model.metadata`).
    """
    meta = getattr(model, "metadata", {})
    spec = parse_train_spec(
        {
            k: v
            for k, v in {
                "loss": loss or meta.get("loss"),
                "metrics": metrics or meta.get("metrics"),
            }.items()
            if v
        }
    )
    task = task or meta.get("task")
    dev = pick_device(device)
    model.to(dev)
    loss_spec = default_loss(task, spec.loss)
    loss_fn, from_logits = make_loss(loss_spec, output_activation(model), dev)
    kind = task_kind(loss_spec.type, task)
    specs = (
        spec.metrics
        if spec.metrics is not None
        else default_metrics(kind, task == "language_model")
    )
    result = Metrics(
        specs, kind, from_logits, confusion=kind != "regression" and task != "language_model"
    )
    loader = make_loader(x if y is None else (x, y), batch_size, shuffle=False, seed=0, device=dev)
    _evaluate_loader(model, loader, loss_fn, result, autocast(dev, precision), dev)
    logs = result.compute()
    if result.confusion and "confusion" in result.state:
        logs["confusion_matrix"] = result.confusion_matrix()
        logs["per_class"] = result.classification_report()["per_class"]
    return logs


@torch.no_grad()
def predict(model: nn.Module, x, *, batch_size: int = 256, device: str = "auto") -> torch.Tensor:
    """The model's outputs for `x` (a tensor, array, or iterable of batches), on the CPU."""
    dev = pick_device(device)
    model.to(dev)
    was_training = model.training
    model.eval()
    if hasattr(x, "shape"):  # a tensor or array; anything else is an iterable of batches
        batches = torch.as_tensor(x).split(batch_size)
    else:
        batches = (b[0] if isinstance(b, tuple | list) else b for b in x)
    outs = [model(_to_device(torch.as_tensor(xb), dev, False)).float().cpu() for xb in batches]
    model.train(was_training)
    if not outs:
        return torch.empty(0)
    return torch.cat(outs)
