"""Optimizers, learning-rate schedules and losses, built from the `train:` section.

Schedules are plain functions `step -> multiplier of the base lr`, applied once per batch:
the whole schedule state is the global step, so resuming is exact with nothing to pickle.
`reduce_on_plateau` follows a metric instead and is the `ReduceLROnPlateau` callback.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from brickwork.errors import BrickworkError
from brickwork.spec.train import (
    LossSpec,
    OptimizerSpec,
    ScheduleSpec,
    check_optimizer_settings,
    torch_optimizers,
)


def optimizer_class(name: str) -> type[torch.optim.Optimizer]:
    """The class a spec's `optimizer.type` names: a torch.optim class, or `package.module:Class`
    (imported here, when training starts, never while a spec is only validated)."""
    if ":" not in name:
        return torch_optimizers()[name]
    from brickwork.train.callbacks import _import

    cls = _import(name, "optimizer")
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        raise BrickworkError(
            f"train.optimizer: '{name}' is a {type(cls).__name__}, not a torch.optim.Optimizer "
            "subclass; point type: at an optimizer class."
        )
    return cls


def _checked(cls: type, settings: dict, where: str) -> None:
    try:
        check_optimizer_settings(cls, settings)
    except ValueError as e:
        raise BrickworkError(f"{where}: {e}.") from None


def make_optimizer(model: nn.Module, spec: OptimizerSpec, lr: float) -> torch.optim.Optimizer:
    """The optimizer over the model's parameters, in the groups `param_groups` asks for.

    Frozen parameters are included but get no gradient, so the optimizer leaves them
    untouched; a layer unfrozen during training (gradual unfreezing) then trains without a
    new optimizer, and a resumed run finds the same groups. Settings are the class's own
    arguments (checked against its signature); YAML lists become tuples (`betas: [0.9, 0.99]`).
    """
    if not any(p.requires_grad for p in model.parameters()):
        raise BrickworkError(
            "the model has no trainable parameters (all are frozen); unfreeze some layers or set "
            "`trainable: true`."
        )
    cls = optimizer_class(spec.type)
    options = spec.options
    groups = param_groups(model, options.pop("param_groups", None) or [], cls)
    _checked(cls, options, "train.optimizer")
    for group in [options, *groups]:
        for key, value in group.items():
            if isinstance(value, list) and key != "params":
                group[key] = tuple(value)
    step = fused_step(cls, model, options)
    try:
        optimizer = cls(groups, lr=lr, **options, **step)
    except (TypeError, ValueError) as e:
        raise BrickworkError(
            f"train.optimizer: {spec.type} rejected its settings {options}: {e}."
        ) from None
    return with_initial_lr(optimizer)


FUSED = ("Adam", "AdamW", "SGD")  # measured faster fused on CPU: docs/performance.md
FUSED_DEVICES = ("cpu", "cuda", "xpu")


def fused_step(cls: type, model: nn.Module, options: dict) -> dict:
    """`{"fused": True}` for torch's Adam, AdamW and SGD when every parameter is a floating
    point tensor on a device with fused kernels and no layer makes sparse gradients; else `{}`
    (torch's own default). Settings you gave (`fused`, `foreach`) are left as they are.

    One fused kernel per parameter instead of a dozen small ops: Adam's step on CNN A takes
    2 ms instead of 17 ms on a 2-core CPU."""
    if cls.__module__.split(".")[:2] != ["torch", "optim"] or cls.__name__ not in FUSED:
        return {}
    if "fused" in options or "foreach" in options or options.get("differentiable"):
        return {}
    params = list(model.parameters())
    if not all(p.is_floating_point() and p.device.type in FUSED_DEVICES for p in params):
        return {}
    if any(getattr(m, "sparse", False) is True for m in model.modules()):
        return {}
    return {"fused": True}


def with_initial_lr(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """Record each group's base lr (`initial_lr`), which the spec's schedules multiply."""
    for group in optimizer.param_groups:
        group.setdefault("initial_lr", group["lr"])
    return optimizer


def param_groups(model: nn.Module, specs: list, cls: type) -> list[dict]:
    """`[{layers: [head], lr: 0.01}, ...]` -> torch parameter groups; unlisted layers form the first
    group.

    `layers` are layer names or glob patterns; a parameter belongs to the first group that
    matches its layer. Each group may also set the optimizer's own settings (weight_decay, ...).
    """
    named = list(model.named_parameters())
    owner = {n: _layer_of(model, n) for n, _ in named}
    taken: set[str] = set()
    groups = []
    for i, raw in enumerate(specs):
        where = f"train.optimizer.param_groups[{i}]"
        if not isinstance(raw, dict) or "layers" not in raw:
            raise BrickworkError(
                f"{where}: a parameter group is a mapping with `layers:` (names or globs) and "
                f"settings such as `lr:`, found {str(raw)[:80]!r}."
            )
        group = dict(raw)
        patterns = group.pop("layers")
        patterns = [patterns] if isinstance(patterns, str) else list(patterns)
        _checked(cls, group, where)
        chosen = [
            n
            for n, _ in named
            if n not in taken and any(fnmatch.fnmatchcase(owner[n], p) for p in patterns)
        ]
        if not chosen:
            layers = sorted(set(owner.values()), key=list(owner.values()).index)
            raise BrickworkError(
                f"{where}: layers {patterns} match no parameters not already in an earlier group; "
                f"the model's layers: {', '.join(layers)}."
            )
        taken.update(chosen)
        groups.append({**group, "params": [p for n, p in named if n in chosen]})
    rest = [p for n, p in named if n not in taken]
    return ([{"params": rest}] if rest else []) + groups


def _layer_of(model: nn.Module, param_name: str) -> str:
    """The layer a parameter belongs to: its brickwork layer name, else its module path."""
    parts = param_name.split(".")
    if (
        isinstance(getattr(model, "layers", None), nn.ModuleDict)
        and parts[0] == "layers"
        and len(parts) > 2
    ):
        return parts[1]
    return ".".join(parts[:-1]) or parts[0]


def lr_multiplier(
    spec: ScheduleSpec | None, steps_per_epoch: int, epochs: int, lr: float
) -> Callable[[int], float] | None:
    """`step -> factor` for the base lr, or None when the lr stays put (no schedule, plateau)."""
    if spec is None or spec.type == "reduce_on_plateau":
        return None
    o = spec.options
    total = max(1, steps_per_epoch * epochs)
    warmup = round(spec.warmup_epochs * steps_per_epoch)
    epoch_of = lambda step: step // max(1, steps_per_epoch)  # noqa: E731
    if spec.type == "step":
        main = lambda s: o.get("gamma", 0.1) ** (epoch_of(s) // o.get("step_size", 10))  # noqa: E731
    elif spec.type == "multistep":
        milestones = sorted(o.get("milestones", []))
        main = lambda s: o.get("gamma", 0.1) ** sum(epoch_of(s) >= m for m in milestones)  # noqa: E731
    elif spec.type == "exponential":
        main = lambda s: o.get("gamma", 0.95) ** epoch_of(s)  # noqa: E731
    elif spec.type == "cosine":
        floor = o.get("min_lr", 0.0) / lr

        def main(s):
            t = min(1.0, max(0.0, (s - warmup) / max(1, total - 1 - warmup)))
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))
    else:  # one_cycle: cosine up from max_lr/div_factor to max_lr, then to max_lr/(div*final_div)
        peak = o.get("max_lr", lr) / lr
        start = peak / o.get("div_factor", 25.0)
        end = start / o.get("final_div_factor", 1e4)
        rise = max(1, round(o.get("pct_start", 0.3) * total))

        def main(s):
            if s < rise:
                return start + (peak - start) * 0.5 * (1 - math.cos(math.pi * s / rise))
            t = min(1.0, (s - rise) / max(1, total - 1 - rise))
            return end + (peak - end) * 0.5 * (1 + math.cos(math.pi * t))

    if warmup <= 0:
        return main
    return lambda s: main(s) * (s + 1) / warmup if s < warmup else main(s)


def output_activation(model: nn.Module) -> str | None:
    """'softmax', 'log_softmax' or 'sigmoid' when the model's last module is one, else None."""
    last = None
    for module in model.modules():
        if not list(module.children()):
            last = module
    kinds = {nn.Softmax: "softmax", nn.LogSoftmax: "log_softmax", nn.Sigmoid: "sigmoid"}
    return next((name for cls, name in kinds.items() if isinstance(last, cls)), None)


def make_loss(
    spec: LossSpec, activation: str | None, device: torch.device
) -> tuple[Callable, bool]:
    """`(loss_fn(out, y) -> scalar, from_logits)`.

    `cross_entropy` and `bce` read the model's output: a softmax/sigmoid output is taken as
    probabilities (Keras's from_logits=False), anything else as logits; `from_logits` forces
    it. Language-model outputs [N, T, V] with targets [N, T] are flattened to tokens.
    """
    o = spec.options
    weight = (
        torch.tensor(o["class_weights"], dtype=torch.float32, device=device)
        if o.get("class_weights")
        else None
    )
    kind = spec.type
    if kind == "cross_entropy":
        from_logits = o.get("from_logits", activation not in ("softmax", "log_softmax"))
        smoothing = o.get("label_smoothing", 0.0)
        if from_logits:
            return _tokens(
                lambda out, y: F.cross_entropy(out, y, weight=weight, label_smoothing=smoothing)
            ), True
        take_log = activation != "log_softmax"
        if smoothing:
            raise BrickworkError(
                "train.loss: label_smoothing needs logits, but the model ends in a softmax; "
                "remove the final softmax (cross_entropy applies it) or drop label_smoothing."
            )
        return _tokens(
            lambda out, y: F.nll_loss(
                torch.log(out.clamp_min(1e-7)) if take_log else out, y, weight=weight
            )
        ), False
    if kind == "nll":
        return _tokens(lambda out, y: F.nll_loss(out, y, weight=weight)), False
    if kind in ("bce", "bce_with_logits"):
        from_logits = kind == "bce_with_logits" or o.get("from_logits", activation != "sigmoid")
        pos = (
            torch.tensor(o["pos_weight"], dtype=torch.float32, device=device)
            if o.get("pos_weight") is not None
            else None
        )
        if from_logits:
            return lambda out, y: F.binary_cross_entropy_with_logits(
                out, _like(y, out), pos_weight=pos
            ), True
        return lambda out, y: F.binary_cross_entropy(
            out.float().clamp(1e-7, 1 - 1e-7), _like(y, out).float()
        ), False
    plain = {"mse": F.mse_loss, "l1": F.l1_loss}
    if kind in plain:
        return lambda out, y: plain[kind](out, _like(y, out)), True
    delta = o.get("delta", 1.0)
    return lambda out, y: F.huber_loss(out, _like(y, out), delta=delta), True


def _tokens(loss: Callable) -> Callable:
    """Classification loss that also takes sequence outputs [N, T, C] with targets [N, T]."""

    def fn(out, y):
        if out.shape[-1] == 1 and out.dim() == y.dim() + 1:
            raise BrickworkError(
                "loss cross_entropy/nll got a single output column, so every prediction is "
                "the one class and the loss is 0; a binary model takes loss='bce' (or "
                "task='binary'), a regression model loss='mse' (or task='regression')."
            )
        if out.dim() > 2 and y.dim() == out.dim() - 1:
            return loss(out.reshape(-1, out.shape[-1]), y.reshape(-1))
        return loss(out, y)

    return fn


def _like(y: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Targets [N] against outputs [N, 1] are reshaped; class ids against outputs [N, C] become
    one-hot rows (the targets mse, l1, huber and bce need); targets take the output's dtype."""
    if not y.is_floating_point() and y.dim() == out.dim() - 1 and out.shape[-1] > 1:
        return F.one_hot(y.long(), out.shape[-1]).to(out.dtype)
    if y.shape != out.shape and y.numel() == out.numel():
        y = y.reshape(out.shape)
    return y.to(out.dtype)


def user_optimizer(model: nn.Module, optimizer) -> torch.optim.Optimizer:
    """Your optimizer for fit: a torch.optim instance over the model's parameters, or a factory
    `params -> optimizer` called with them. An optimizer holding parameters that are not the
    model's would train something else, so it is refused."""
    if not isinstance(optimizer, torch.optim.Optimizer):
        if not callable(optimizer):
            raise BrickworkError(
                f"optimizer: {type(optimizer).__name__} is neither a torch.optim optimizer, a "
                "factory params -> optimizer, a torch.optim class name nor a mapping {type: ...}."
            )
        made = optimizer(model.parameters())
        if not isinstance(made, torch.optim.Optimizer):
            raise BrickworkError(
                f"optimizer: the factory returned a {type(made).__name__}, not a torch.optim "
                "optimizer; it is called with model.parameters() and must return one."
            )
        optimizer = made
    own = {id(p) for p in model.parameters()}
    foreign = sum(id(p) not in own for g in optimizer.param_groups for p in g["params"])
    if foreign:
        raise BrickworkError(
            f"optimizer: {foreign} of its parameters do not belong to the model given to fit (was "
            "it built on another copy of the model?); build it on model.parameters()."
        )
    return with_initial_lr(optimizer)


INTERVALS = {"batch": "batch", "step": "batch", "epoch": "epoch"}


def user_scheduler(scheduler, interval: str | None, optimizer: torch.optim.Optimizer):
    """(scheduler, 'batch' | 'epoch'): a torch.optim.lr_scheduler object (or one with
    step/state_dict) built on fit's optimizer, or a factory `optimizer -> scheduler`.

    The interval must be said (`scheduler_interval="batch"` for OneCycleLR and other per-step
    schedules, "epoch" for StepLR-like ones): stepping a schedule at the wrong rate trains
    quietly with the wrong learning rates."""
    if interval not in INTERVALS:
        raise BrickworkError(
            f"scheduler_interval: got {str(interval)[:20]!r}; a scheduler object needs "
            "scheduler_interval='batch' (stepped after every optimizer step, e.g. OneCycleLR) or "
            "'epoch' (after each epoch's validation, e.g. StepLR, ReduceLROnPlateau)."
        )
    if not hasattr(scheduler, "state_dict") and callable(scheduler):
        scheduler = scheduler(optimizer)
    if not all(callable(getattr(scheduler, n, None)) for n in ("step", "state_dict")):
        raise BrickworkError(
            f"scheduler: a {type(scheduler).__name__} has no step()/state_dict(); pass a "
            "torch.optim.lr_scheduler object or a factory optimizer -> scheduler."
        )
    if getattr(scheduler, "optimizer", optimizer) is not optimizer:
        raise BrickworkError(
            "scheduler: it was built on another optimizer than the one fit trains with, so it "
            "would change nothing; build it on the optimizer you pass to fit (or pass a factory)."
        )
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau) and interval != "epoch":
        raise BrickworkError(
            "scheduler: ReduceLROnPlateau follows an epoch metric; use scheduler_interval='epoch'."
        )
    return scheduler, INTERVALS[interval]


LOSS_KINDS = {  # what a torch loss module says about the outputs, for the built-in metrics
    nn.CrossEntropyLoss: ("multiclass", True),
    nn.NLLLoss: ("multiclass", True),
    nn.BCEWithLogitsLoss: ("binary", True),
    nn.BCELoss: ("binary", False),
    nn.MSELoss: ("regression", True),
    nn.L1Loss: ("regression", True),
    nn.HuberLoss: ("regression", True),
    nn.SmoothL1Loss: ("regression", True),
}


def user_loss(loss, activation: str | None) -> tuple[Callable, str | None, bool]:
    """(loss_fn, kind or None, from_logits) for your loss: any nn.Module or callable
    `(output, target) -> tensor`. The kind ('multiclass', 'binary', 'regression') comes from a
    torch loss class; for anything else it is None and the task says it (fit's `task=`)."""
    if not callable(loss):
        raise BrickworkError(
            f"loss: {type(loss).__name__} is neither a loss name, a mapping {{type: ...}}, an "
            "nn.Module nor a function (output, target) -> tensor."
        )
    for cls, (kind, from_logits) in LOSS_KINDS.items():
        if isinstance(loss, cls):
            return loss, kind, from_logits
    return loss, None, activation not in ("softmax", "log_softmax", "sigmoid")
