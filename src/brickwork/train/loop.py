"""`fit`, `evaluate` and `predict`: the engine, read top to bottom.

    history = fit(model, x_train, y_train, validation_data=(x_val, y_val), epochs=3, lr=1e-3)
    history.history["val_loss"]          # one value per epoch, as in Keras
    evaluate(model, x_test, y_test)      # {"loss": ..., "accuracy": ...}

`fit` trains any `nn.Module` on tensors, a `Split`, or any iterable of `(x, y)` batches, with
spec names (`loss="cross_entropy"`, `optimizer={"type": "sgd", "momentum": 0.9}`) or your own
PyTorch pieces: a loss module or function, an optimizer instance or factory, an lr scheduler,
metric objects (torchmetrics) or functions, and a custom `train_step` / `eval_step`.

The engine writes no files and knows nothing of run directories: checkpoints, metrics.csv,
TensorBoard and plots are callbacks that the run layer (`brickwork.train.run`) adds. It
leaves your model as it found it apart from its weights (and the device they are on), and
joins no process group: under torchrun, initialize one yourself (or call
`brickwork.train.distributed.init_from_env`) and `fit` trains data-parallel in it.
`resume=` (a checkpoint file or its loaded state) continues exactly: from an epoch-end
checkpoint the next epoch starts with the saved RNG states; from a mid-epoch one (written
between two batches, see `checkpoint_every_steps`) the epoch continues at the exact next batch
with the saved RNG, augmentation and running-metric states, the consumed batches skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from torch import nn

from brickwork.errors import BrickworkError
from brickwork.models.card import card_of
from brickwork.spec.train import TrainSpec, parse_train_spec
from brickwork.train import distributed
from brickwork.train.callbacks import Callback, TerminateOnNaN, build_callback
from brickwork.train.checkpoint import load_checkpoint, set_rng_state
from brickwork.train.device import (
    autocast,
    choose_precision,
    grad_scaler,
    pick_device,
    seed_everything,
)
from brickwork.train.live import Evaluation, LiveCurves, wants_live_plot
from brickwork.train.loggers import spec_loggers
from brickwork.train.metrics import split_metrics
from brickwork.train.optim import (
    lr_multiplier,
    make_optimizer,
    output_activation,
    user_optimizer,
    user_scheduler,
)
from brickwork.train.pieces import (
    channels_last_choice,
    eval_batch_size,
    is_own,
    loss_and_kind,
    make_metrics,
    on_device,
    own_module,
    pieces,
    train_spec,
)
from brickwork.train.progress import ProgressBar
from brickwork.train.steps import Step, default_step, evaluate_loader, to_device, train_epoch
from brickwork.train.trainer import History, Trainer
from brickwork.train.utilization import Utilization

__all__ = ["History", "Trainer", "evaluate", "fit", "make_loader", "predict"]


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


def fit(
    model: nn.Module,
    x: Any,
    y: Any = None,
    *,
    validation_data: Any = None,
    callbacks: Sequence[Callback] = (),
    resume: str | Path | dict | None = None,
    task: str | None = None,
    train: TrainSpec | dict | None = None,
    loss: str | dict | Callable | None = None,
    optimizer: str | dict | torch.optim.Optimizer | Callable | None = None,
    scheduler: Any = None,
    scheduler_interval: str | None = None,
    metrics: Sequence | dict | None = None,
    train_step: Step | None = None,
    eval_step: Step | None = None,
    **options: Any,
) -> History:
    """Train `model`; options are the `train:` fields (epochs, lr, batch_size, precision, ...).

    `loss`, `optimizer` and `metrics` take spec names or your own objects (see the module
    docstring and docs/training.md); `scheduler` is a torch lr scheduler (or a factory
    `optimizer -> scheduler`) stepped per `scheduler_interval` ('batch' or 'epoch').
    `train_step(batch, trainer)` / `eval_step` replace the built-in step. `task`
    ('classification', 'binary', 'regression', 'language_model') picks the loss and metrics
    when they are not given. `resume` is a checkpoint file (or its loaded state).
    """
    spec = train_spec(train, options, loss, optimizer, metrics, scheduler)
    task = task or card_of(model).task
    device = pick_device(spec.device)
    if distributed.world_size() > 1 and device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    was = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark)
    was_training = model.training
    seed_everything(spec.seed, spec.deterministic)
    t = None
    try:
        t = _trainer(model, spec, device, list(callbacks), optimizer)
        t.inference_mode = eval_step is None and own_module(model) is None
        steps = pieces(t, task, loss, metrics, train_step, eval_step)
        loader, val_loader = _loaders(t, x if y is None else (x, y), validation_data)
        _schedules(t, scheduler, scheduler_interval)
        kind = t.train_metrics.kind
        t.spec, t.chosen["precision"] = choose_precision(t.spec, device, kind, model)
        return _train(t, loader, val_loader, resume, *steps)
    finally:
        torch.use_deterministic_algorithms(was[0])
        torch.backends.cudnn.benchmark = was[1]
        model.train(was_training)
        if t is not None and t.channels_last and spec.channels_last == "auto":
            model.to(memory_format=torch.contiguous_format)  # as it came: auto's choice is ours


def _trainer(model, spec: TrainSpec, device, user_callbacks: list, optimizer) -> Trainer:
    """The Trainer: the model on the device (wrapped for DDP / torch.compile), the optimizer,
    and the callbacks in their order (progress, NaN check, spec, plateau, yours)."""
    model.to(device)
    channels_last, why = channels_last_choice(spec.channels_last, model, device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    main = distributed.is_main()
    console = Console()
    callbacks = [Utilization()] if main else []  # timing for the bar and speed.csv
    callbacks += [ProgressBar(spec.verbose, console)] if spec.verbose and main else []
    if spec.terminate_on_nan and not any(isinstance(cb, TerminateOnNaN) for cb in user_callbacks):
        callbacks.append(TerminateOnNaN())
    callbacks += [build_callback(entry, None) for entry in spec.callbacks]
    if spec.schedule is not None and spec.schedule.type == "reduce_on_plateau":
        callbacks.append(
            build_callback({**spec.schedule.options, "type": "reduce_lr_on_plateau"}, None)
        )
    callbacks += user_callbacks
    live = wants_live_plot(spec.live_plot, spec.verbose) and main
    if live and not any(isinstance(c, LiveCurves) for c in callbacks):
        callbacks.append(LiveCurves())  # a notebook's curves, redrawn each epoch
    callbacks += spec_loggers(spec, None, callbacks)  # train.loggers: [mlflow] (the run layer's
    # trackers, given as callbacks, take precedence)
    if not main:  # files and the console belong to rank 0
        callbacks = [cb for cb in callbacks if not cb.main_process_only]
    own_optimizer = is_own(optimizer)
    if own_optimizer:
        optimizer = user_optimizer(model, optimizer)
    else:
        optimizer = make_optimizer(model, spec.optimizer, spec.lr)
    t = Trainer(model, optimizer, spec, callbacks, console, grad_scaler(device, spec.precision))
    t.device, t.channels_last = device, channels_last
    t.chosen["channels_last"] = {"value": channels_last, "why": why}
    fused = any(g.get("fused") for g in optimizer.param_groups)
    t.chosen["optimizer_step"] = {
        "value": "fused" if fused else "torch default",
        "why": "your optimizer object"
        if own_optimizer
        else ("a torch.optim Adam/AdamW/SGD" if fused else "no fused kernel used"),
    }
    if distributed.world_size() > 1:  # evaluation stays on the bare model: see evaluate_loader
        t.step_model = distributed.wrap(model, device)
    if spec.compile:
        t.step_model = torch.compile(t.step_model)
        t.eval_model = t.step_model if distributed.world_size() == 1 else model
    for cb in callbacks:
        cb.trainer = t
    return t


def _loaders(t: Trainer, data, validation_data) -> tuple:
    spec, device = t.spec, t.device
    rank, world = distributed.rank(), distributed.world_size()
    loader = make_loader(
        data,
        distributed.per_rank_batch(spec.batch_size),
        shuffle=spec.shuffle,
        seed=spec.seed,
        device=device,
        rank=rank,
        world_size=world,
    )
    t.steps_per_epoch = len(loader) if hasattr(loader, "__len__") else None
    if validation_data is None:
        return loader, None
    if world > 1:
        validation_data = distributed.shard(validation_data, rank, world)
    return loader, make_loader(
        validation_data, eval_batch_size(spec), shuffle=False, seed=spec.seed, device=device
    )


def _schedules(t: Trainer, scheduler, interval) -> None:
    """The spec's lr multiplier, or your scheduler object, on the trainer."""
    spec = t.spec
    t.lr_multiplier = lr_multiplier(spec.schedule, t.steps_per_epoch or 1, spec.epochs, spec.lr)
    if t.lr_multiplier is not None and t.steps_per_epoch is None:
        raise BrickworkError(
            "a learning-rate schedule needs to know the batches per epoch, but the training data "
            "has no len(); pass tensors, a Split, or a DataLoader."
        )
    if scheduler is not None:
        t.scheduler, t.scheduler_interval = user_scheduler(scheduler, interval, t.optimizer)
    elif interval is not None:
        raise BrickworkError("scheduler_interval was given without a scheduler; pass both.")


def _resume(t: Trainer, resume) -> dict | None:
    """Restore the trainer from a checkpoint file (or its loaded state); RNG states last.

    A mid-epoch checkpoint's state is returned instead: `_continue_epoch` restores its RNG
    states just before the first batch it has not trained on."""
    if isinstance(resume, dict):
        state, source = resume, "the given state"
    else:
        path = Path(resume)
        if path.is_dir():
            raise BrickworkError(
                f"resume: '{path}' is a folder; fit resumes from a checkpoint file such as "
                f"{path / 'checkpoints' / 'last.safetensors'} (brickwork.train.run.fit_run "
                "resumes run directories)."
            )
        state, source = load_checkpoint(path), str(path)
    t.load_state_dict(state, source)
    where = f"epoch {t.initial_epoch + 1}/{t.epochs}"
    if state.get("position"):
        t.say(f"resumed from {source}: continuing {where} at batch {state['position']['batch']}")
        return state
    t.say(f"resumed from {source}: continuing at {where}")
    set_rng_state(state["rng"])
    return None


def _continue_epoch(t: Trainer, loader, state: dict) -> int:
    """Point the loader at the checkpoint's next batch, restore the epoch's running metric sums
    and the RNG states; the number of batches already trained on."""
    position = state["position"]
    t.check_mid_epoch()
    loader.resume_at(position["batch"], position["loader"]["augment_rng"])
    metrics = t.train_metrics
    metrics.state = {k: v.to(t.device) for k, v in position["metrics"]["state"].items()}
    metrics.count = position["metrics"]["count"]
    t.batches_seen = position["batch"]
    set_rng_state(state["rng"])
    return position["batch"]


def _train(t: Trainer, loader, val_loader, resume, step, eval_step, val_metrics) -> History:
    """The epochs, from the first (or the resumed one) to the last or an early stop."""
    t.train_loader = loader
    spec, model = t.spec, t.model
    if spec.checkpoint_every_steps:  # on every rank, before training: not at the first save
        t.check_mid_epoch()
    mid_epoch = _resume(t, resume) if resume is not None else None
    _call(t.callbacks, "on_train_begin", {})
    reg = getattr(model, "regularization_loss", None)
    has_reg = reg is not None and reg() is not None
    amp = autocast(t.device, spec.precision)
    for epoch in range(t.initial_epoch, spec.epochs):
        t.epoch = epoch
        model.train()
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(epoch)
        _call(t.callbacks, "on_epoch_begin", epoch, {})
        t.train_metrics.reset()
        start = _continue_epoch(t, loader, mid_epoch) if mid_epoch else 0
        mid_epoch = None
        train_epoch(t, loader, step, amp, has_reg, start)
        distributed.sum_metrics(t.train_metrics)
        logs = t.train_metrics.compute()
        if t.diverged:  # stopped mid-epoch: no validation, no epoch-end hooks, no checkpoint
            t.history.append(epoch, {**dict.fromkeys(t.history.history, float("nan")), **logs})
            break
        if val_loader is not None:
            val_metrics.reset()
            evaluate_loader(t, val_loader, eval_step, val_metrics, amp)
            distributed.sum_metrics(val_metrics)
            logs.update({f"val_{k}": v for k, v in val_metrics.compute().items()})
        logs["lr"] = t.optimizer.param_groups[0]["lr"]
        _epoch_scheduler_step(t, logs)
        t.history.append(epoch, logs)
        _call(t.callbacks, "on_epoch_end", epoch, logs)
        if t.stop_training:
            break
    if t.diverged:
        t.history.stop_reason = "nan"
    elif t.stop_training:
        t.history.stop_reason = "stopped"
    _call(t.callbacks, "on_train_end", {})
    return t.history


def _epoch_scheduler_step(t: Trainer, logs: dict) -> None:
    """Step a per-epoch scheduler after validation and before the epoch-end callbacks (so a
    checkpoint written there holds the stepped state); ReduceLROnPlateau reads val_loss (else
    loss)."""
    if t.scheduler is None or t.scheduler_interval != "epoch":
        return
    if isinstance(t.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        t.scheduler.step(logs.get("val_loss", logs.get("loss")))
    else:
        t.scheduler.step()


def _call(callbacks, hook: str, *args) -> None:
    for cb in callbacks:
        getattr(cb, hook)(*args)


def evaluate(
    model: nn.Module,
    x: Any,
    y: Any = None,
    *,
    batch_size: int = 256,
    loss: str | dict | Callable | None = None,
    metrics: Sequence | dict | None = None,
    task: str | None = None,
    device: str = "auto",
    precision: str = "fp32",
    eval_step: Step | None = None,
) -> Evaluation:
    """Loss and metrics on a dataset; classification adds `confusion_matrix` and `per_class`.

    The result is a dict (an `Evaluation`, which a notebook shows as a table and a figure).

    The loss and metrics default to those the model was trained with (`model.card`);
    both also take your own objects, as in `fit`, and `eval_step(batch, trainer)` replaces
    the built-in step.
    """
    card = card_of(model)
    named, own = split_metrics(metrics if metrics is not None else card.metrics)
    spec_loss = None if is_own(loss) else loss or card.loss
    spec = parse_train_spec({k: v for k, v in {"loss": spec_loss, "metrics": named}.items() if v})
    task = task or card.task
    t = Trainer(model, None, TrainSpec(verbose=0), [], Console(), None)
    t.device = pick_device(device)
    t.inference_mode = eval_step is None and own_module(model) is None
    model.to(t.device)
    loss_fn, kind, from_logits = loss_and_kind(task, spec, loss, output_activation(model), t.device)
    t.loss_fn = on_device(loss_fn, t.device)
    own = {k: on_device(m, t.device) for k, m in own.items()}
    confusion = kind not in (None, "regression") and task != "language_model"
    custom = eval_step is not None
    result = make_metrics(spec.metrics, own, kind, from_logits, task, custom, confusion=confusion)
    result.reset()
    loader = make_loader(
        x if y is None else (x, y), batch_size, shuffle=False, seed=0, device=t.device
    )
    evaluate_loader(t, loader, eval_step or default_step, result, autocast(t.device, precision))
    logs = result.compute()
    if result.confusion and "confusion" in result.state:
        logs["confusion_matrix"] = result.confusion_matrix()
        logs["per_class"] = result.classification_report()["per_class"]
    return Evaluation(logs)


@torch.no_grad()
def predict(
    model: nn.Module, x: Any, *, batch_size: int = 256, device: str = "auto"
) -> torch.Tensor:
    """The model's outputs for `x` (a tensor, array, or iterable of batches), on the CPU."""
    dev = pick_device(device)
    model.to(dev)
    was_training = model.training
    model.eval()
    if hasattr(x, "shape"):  # a tensor or array; anything else is an iterable of batches
        batches = torch.as_tensor(x).split(batch_size)
    else:
        batches = (b[0] if isinstance(b, tuple | list) else b for b in x)
    outs = [model(to_device(torch.as_tensor(xb), dev)).float().cpu() for xb in batches]
    model.train(was_training)
    if not outs:
        return torch.empty(0)
    return torch.cat(outs)
