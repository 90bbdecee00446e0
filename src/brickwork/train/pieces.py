"""What fit and evaluate were given, resolved into what they train with.

Spec names and your own objects meet here: the `train:` section without your objects (and an
error where a spec setting would silently override one), the loss function and what it says
about the outputs (the metrics' kind), and the metrics.
"""

from __future__ import annotations

import torch
from torch import nn

from brickwork.errors import BrickworkError
from brickwork.spec.train import LossSpec, TrainSpec, parse_train_spec
from brickwork.train.metrics import Metrics, default_metrics, split_metrics, task_kind
from brickwork.train.optim import make_loss, output_activation, user_loss
from brickwork.train.steps import default_step
from brickwork.train.trainer import Trainer

TASK_KINDS = {
    "classification": "multiclass",
    "language_model": "multiclass",
    "binary": "binary",
    "regression": "regression",
}


def default_loss(task: str | None, spec_loss: LossSpec | None) -> LossSpec:
    """The spec's loss, else one for the task: bce (binary), mse (regression), cross_entropy."""
    if spec_loss is not None:
        return spec_loss
    if task == "binary":
        return LossSpec(type="bce")
    return LossSpec(type="mse" if task == "regression" else "cross_entropy")


def training_record(spec: TrainSpec, task: str | None) -> dict:
    """The loss, metrics and task a spec trains with, as a model file records them (so that
    `evaluate` on the loaded model uses the same ones)."""
    loss = default_loss(task, spec.loss)
    metrics = spec.metrics
    if metrics is None:
        metrics = default_metrics(task_kind(loss.type, task), task == "language_model")
    return {"loss": loss.model_dump(), "metrics": [m.model_dump() for m in metrics], "task": task}


def is_own(value) -> bool:
    """True for your own object (a module, function, optimizer...), False for a spec name."""
    return value is not None and not isinstance(value, str | dict)


def train_spec(train, options: dict, loss, optimizer, metrics, scheduler) -> TrainSpec:
    """The `train:` section from `train=` and the keyword options; your own objects stay out of
    it, and a spec setting they would silently override is an error."""
    if "run_dir" in options:
        raise BrickworkError(
            "fit(run_dir=...) moved: fit writes no files now. Use brickwork.train.run.fit_run("
            "model, x, y, run_dir=...) for checkpoints, metrics.csv, TensorBoard and plots."
        )
    base = parse_train_spec(train).model_dump(exclude_unset=True) if train is not None else {}
    named = {k: v for k, v in (("loss", loss), ("optimizer", optimizer)) if not is_own(v)}
    named["metrics"] = split_metrics(metrics)[0]
    named = {k: v for k, v in named.items() if v is not None}
    spec = parse_train_spec({**base, **named, **options})
    given = spec.model_fields_set
    clashes = [
        f"{mine} object and train.{field}"
        for mine, field, obj in [
            ("loss", "loss", loss),
            ("optimizer", "optimizer", optimizer),
            ("optimizer", "lr", optimizer),
            ("scheduler", "schedule", scheduler),
        ]
        if is_own(obj) and field in given
    ]
    if clashes:
        raise BrickworkError(
            f"fit got both a {clashes[0]}; one would silently override the other. Set the "
            "value on your object (e.g. the optimizer's lr) and drop the spec setting."
        )
    return spec


def loss_and_kind(task: str | None, spec: TrainSpec, own_loss, activation, device) -> tuple:
    """(loss_fn, kind, from_logits): the loss, and what it and the task say about outputs."""
    if is_own(own_loss):
        loss_fn, kind, from_logits = user_loss(own_loss, activation)
        return loss_fn, TASK_KINDS.get(task, kind), from_logits
    loss_spec = default_loss(task, spec.loss)
    loss_fn, from_logits = make_loss(loss_spec, activation, device)
    return loss_fn, task_kind(loss_spec.type, task), from_logits


def make_metrics(
    spec_metrics, own: dict, kind, from_logits, task, custom_step: bool, **kw
) -> Metrics:
    """Built-in and your own metrics; defaults are the task's (none with your own step)."""
    if spec_metrics is None:
        defaults = not custom_step and kind is not None
        spec_metrics = default_metrics(kind, task == "language_model") if defaults else []
    elif kind is None and spec_metrics:
        raise BrickworkError(
            f"metrics: the built-in {spec_metrics[0].type} needs to know what the outputs are, "
            "which your loss does not say; pass task='classification', 'binary' or "
            "'regression' to fit/evaluate."
        )
    return Metrics(spec_metrics, kind, from_logits, own=own, **kw)


def pieces(t: Trainer, task, loss, metrics, train_step, eval_step) -> tuple:
    """(train step, eval step, validation metrics): also sets the trainer's loss and metrics."""
    loss_fn, kind, from_logits = loss_and_kind(
        task, t.spec, loss, output_activation(t.model), t.device
    )
    t.loss_fn = on_device(loss_fn, t.device)
    _, own = split_metrics(metrics)
    own = {k: on_device(m, t.device) for k, m in own.items()}
    custom = train_step is not None
    t.train_metrics = make_metrics(t.spec.metrics, own, kind, from_logits, task, custom)
    return train_step or default_step, eval_step or default_step, t.train_metrics.copy()


def on_device(obj, device):
    """Your nn.Module loss or torchmetrics metric on the training device (a copy is not made)."""
    return obj.to(device) if isinstance(obj, nn.Module) else obj


EVAL_BATCH_MAX = 1024  # evaluation keeps no activations for backward, so its batch can be larger


def eval_batch_size(spec: TrainSpec) -> int:
    """`eval_batch_size`, else 4x the training batch (at most 1024, never below batch_size):
    metrics are exact sums, so the batch size changes only the speed."""
    if spec.eval_batch_size:
        return spec.eval_batch_size
    return max(spec.batch_size, min(4 * spec.batch_size, EVAL_BATCH_MAX))


def own_module(model: nn.Module) -> str | None:
    """The class name of the first module that is neither torch.nn's nor brickwork's (your own
    code, whose forward may do things a fast path must not assume), else None."""
    for m in model.modules():
        home = type(m).__module__
        if not (home.startswith("torch.nn.") or home.startswith("brickwork.")):
            return type(m).__qualname__
    return None


def channels_last_choice(setting, model: nn.Module, device: torch.device) -> tuple[bool, str]:
    """(use channels-last, why): `train.channels_last` true/false as given; `auto` turns it on
    for models of built-in layers with 2-D convolutions on CPU (measured faster,
    docs/performance.md) and CUDA (cuDNN's preferred layout; not measured here), and off for
    MLPs and sequence models (nothing 4-D to reorder) and for your own modules (a `.view()` of
    a channels-last tensor raises)."""
    if setting != "auto":
        return bool(setting), f"train.channels_last: {str(bool(setting)).lower()}"
    if device.type not in ("cpu", "cuda"):
        return False, f"auto: off on {device.type} (measured only on cpu and cuda)"
    if not any(isinstance(m, nn.Conv2d) for m in model.modules()):
        return False, "auto: off, the model has no 2-D convolution"
    own = own_module(model)
    if own is not None:
        return False, (
            f"auto: off, {own} is your own module (its forward may .view() a 4-D tensor, which "
            "channels-last memory refuses); set channels_last: true to try it"
        )
    return True, "auto: on, 2-D convolutions of built-in layers (faster: docs/performance.md)"
