"""The `train:` section: optimizer, learning-rate schedule, loss, metrics, callbacks, device.

Every field has a default, so `train: {epochs: 3}` is a complete section. Options that take
settings can be a bare name (`optimizer: adam`) or a mapping (`optimizer: {type: sgd,
momentum: 0.9}`); a setting that does not belong to the chosen type is an error that names it.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from brickwork.errors import BrickworkError, did_you_mean, pydantic_message
from brickwork.spec.base import SpecModel

SCHEDULE_OPTIONS = {
    "step": {"step_size", "gamma"},
    "multistep": {"milestones", "gamma"},
    "exponential": {"gamma"},
    "cosine": {"min_lr"},
    "one_cycle": {"max_lr", "pct_start", "div_factor", "final_div_factor"},
    "reduce_on_plateau": {
        "monitor",
        "mode",
        "factor",
        "patience",
        "min_delta",
        "min_lr",
        "cooldown",
    },
}
LOSS_OPTIONS = {
    "cross_entropy": {"label_smoothing", "class_weights", "from_logits"},
    "nll": {"class_weights"},
    "bce": {"from_logits"},
    "bce_with_logits": {"pos_weight"},
    "mse": set(),
    "l1": set(),
    "huber": {"delta"},
}
LOGGER_OPTIONS = {  # see train/loggers.py; csv and tensorboard are always written to a run dir
    "csv": set(),
    "tensorboard": set(),
    "mlflow": {"tracking_uri", "experiment", "run_name", "log_every_n_steps"},
}
METRICS = (
    "accuracy",
    "top_k_accuracy",
    "precision",
    "recall",
    "f1",
    "mae",
    "rmse",
    "r2",
    "perplexity",
)
# Metric names (after any val_ prefix) where larger is better; callbacks and tune use it.
MAX_MODE = ("acc", "accuracy", "f1", "precision", "recall", "r2", "auc")


# Allowed values of the numeric and yes/no settings above: (kind, low, high, low/high
# inclusive). NaN, Inf, a bool for a number or a number outside the range names the setting.
SETTING_RANGES = {
    "momentum": ("number", 0, 1, True, True),
    "dampening": ("number", 0, 1, True, True),
    "weight_decay": ("number", 0, None, True, True),
    "eps": ("number", 0, None, False, True),
    "alpha": ("number", 0, None, True, True),
    "lr_decay": ("number", 0, None, True, True),
    "initial_accumulator_value": ("number", 0, None, True, True),
    "betas": ("numbers", 0, 1, True, False),
    "step_size": ("integer", 1, None, True, True),
    "milestones": ("integers", 1, None, True, True),
    "gamma": ("number", 0, None, False, True),
    "min_lr": ("number", 0, None, True, True),
    "max_lr": ("number", 0, None, False, True),
    "pct_start": ("number", 0, 1, True, True),
    "div_factor": ("number", 0, None, False, True),
    "final_div_factor": ("number", 0, None, False, True),
    "factor": ("number", 0, 1, False, False),
    "patience": ("integer", 0, None, True, True),
    "min_delta": ("number", 0, None, True, True),
    "cooldown": ("integer", 0, None, True, True),
    "label_smoothing": ("number", 0, 1, True, False),
    "class_weights": ("numbers", 0, None, True, True),
    "pos_weight": ("numbers", 0, None, False, True),
    "delta": ("number", 0, None, False, True),
    "k": ("integer", 1, None, True, True),
    "max_time": ("number", 0, None, False, True),
    "nesterov": ("bool",),
    "amsgrad": ("bool",),
    "centered": ("bool",),
    "from_logits": ("bool",),
}


def _check_setting(kind: str, chosen: str, name: str, value: Any) -> None:
    """Raise naming `name` when its value is not the number (in range) or yes/no it must be."""
    rule = SETTING_RANGES.get(name)
    if rule is None:
        return
    where = f"{kind} '{chosen}' setting '{name}'"
    if rule[0] == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{where} must be true or false, found {str(value)[:40]!r}")
        return
    what, low, high, low_in, high_in = rule
    many = what.endswith("s")
    values = value if many and isinstance(value, list) else [value]
    if many and isinstance(value, list) and not value:
        raise ValueError(f"{where} must not be an empty list")
    for v in values:
        number = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        whole = what.startswith("integer")
        if not number or (whole and not isinstance(v, int)):
            raise ValueError(
                f"{where} must be {'a whole number' if whole else 'a finite number'}"
                f"{' or a list of them' if many else ''}, found {str(v)[:40]!r}"
            )
        below = low is not None and (v < low if low_in else v <= low)
        above = high is not None and (v > high if high_in else v >= high)
        if below or above:
            bounds = [f"{'>=' if low_in else '>'} {low}"] if low is not None else []
            bounds += [f"{'<=' if high_in else '<'} {high}"] if high is not None else []
            raise ValueError(f"{where} must be {' and '.join(bounds)}, found {v}")


def _named(value: Any, what: str) -> Any:
    """`adam` -> {type: adam}; a mapping must say its `type`."""
    if isinstance(value, str):
        return {"type": value}
    if isinstance(value, dict) and "type" not in value:
        raise ValueError(f"a {what} mapping needs `type:`, e.g. {{type: ..., ...}}")
    return value


def _check_options(kind: str, chosen: str, options: dict, allowed: dict[str, set]) -> None:
    """Raise when `chosen` is not a known type or an option does not belong to it."""
    if chosen not in allowed:
        raise ValueError(
            f"unknown {kind} '{chosen}'{did_you_mean(chosen, allowed)}; choose one of "
            f"{', '.join(allowed)}"
        )
    for name in options:
        if name not in allowed[chosen]:
            valid = ", ".join(sorted(allowed[chosen])) or "none"
            raise ValueError(
                f"{kind} '{chosen}' has no setting '{name}'{did_you_mean(name, allowed[chosen])}; "
                f"its settings: {valid}"
            )
        _check_setting(kind, chosen, name, options[name])


class _Typed(SpecModel):
    """A `type:` plus that type's settings, checked against a table of allowed names."""

    model_config = ConfigDict(extra="allow")
    type: str

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


def torch_optimizers() -> dict[str, type]:
    """Every optimizer class in `torch.optim`, by lower-case name (`sgd`, `adamw`, `nadam`, ...)."""
    import torch

    return {
        name.lower(): cls
        for name, cls in vars(torch.optim).items()
        if isinstance(cls, type)
        and issubclass(cls, torch.optim.Optimizer)
        and cls is not torch.optim.Optimizer
    }


def optimizer_type(name: str) -> str:
    """The canonical `type:` of a torch.optim optimizer: `SGD`, `sgd` and `torch.optim.SGD` are
    all `sgd`; a user's class `package.module:Class` stays as written (imported when training).
    """
    if ":" in name:
        return name
    key = name.removeprefix("torch.optim.").lower()
    known = torch_optimizers()
    if key not in known:
        raise ValueError(
            f"unknown optimizer '{name}'{did_you_mean(key, known)}; choose a torch.optim class "
            f"({', '.join(known)}) or give your own as 'package.module:Class'"
        )
    return key


def check_optimizer_settings(cls: type, settings: dict, where: str = "optimizer") -> None:
    """Raise ValueError when a setting is not an argument of `cls` (its `__init__` signature),
    or when `cls.step` needs a closure (LBFGS), which the training loop does not pass."""
    import inspect

    params = inspect.signature(cls.__init__).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    valid = [n for n, p in params.items() if n not in ("self", "params") and p.kind in named]
    for key in settings:
        if not takes_any and key not in valid:
            raise ValueError(
                f"{where} '{cls.__name__}' has no setting '{key}'{did_you_mean(key, valid)}; "
                f"its settings: {', '.join(valid) or 'none'}"
            )
    closure = inspect.signature(cls.step).parameters.get("closure")
    if closure is not None and closure.default is inspect.Parameter.empty:
        raise ValueError(
            f"{where} '{cls.__name__}' needs a closure in step(), which fit does not pass; "
            "choose another optimizer"
        )


class OptimizerSpec(_Typed):
    """Any torch.optim class by name (`sgd`, `{type: AdamW, weight_decay: 0.01}`,
    `torch.optim.NAdam`) or your own `package.module:Class`; the settings are the class's
    arguments, checked against its signature. `param_groups` is handled by brickwork."""

    @model_validator(mode="after")
    def _known(self):
        self.type = optimizer_type(self.type)
        if "lr" in self.options:
            raise ValueError(
                "the learning rate is train.lr, not a setting of train.optimizer; move `lr:` up "
                "to the train: section (parameter groups may set their own lr)"
            )
        settings = {k: v for k, v in self.options.items() if k != "param_groups"}
        if ":" not in self.type:
            check_optimizer_settings(torch_optimizers()[self.type], settings)
        for name, value in settings.items():  # NaN, Inf, bools and out-of-range values
            _check_setting("optimizer", self.type, name, value)
        return self


class ScheduleSpec(_Typed):
    """Learning-rate schedule; `warmup_epochs` (may be fractional) ramps up linearly first."""

    warmup_epochs: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _known(self):
        self.type = self.type.lower()
        _check_options("schedule", self.type, self.options, SCHEDULE_OPTIONS)
        if self.type == "reduce_on_plateau" and self.warmup_epochs:
            raise ValueError(
                "reduce_on_plateau follows a metric and takes no warmup_epochs; use cosine or "
                "one_cycle for warmup"
            )
        return self


class LossSpec(_Typed):
    @model_validator(mode="after")
    def _known(self):
        self.type = self.type.lower()
        _check_options("loss", self.type, self.options, LOSS_OPTIONS)
        return self


class MetricSpec(_Typed):
    @model_validator(mode="after")
    def _known(self):
        self.type = self.type.lower()
        _check_options(
            "metric",
            self.type,
            self.options,
            {m: ({"k"} if m == "top_k_accuracy" else set()) for m in METRICS},
        )
        return self


class LoggerSpec(_Typed):
    @model_validator(mode="after")
    def _known(self):
        self.type = self.type.lower()
        _check_options("logger", self.type, self.options, LOGGER_OPTIONS)
        return self


class TrainSpec(SpecModel):
    """How to train: see docs/training.md for every field."""

    model_config = ConfigDict(extra="forbid")
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(32, ge=1)
    eval_batch_size: int | None = Field(None, ge=1)
    shuffle: bool = True
    optimizer: OptimizerSpec = OptimizerSpec(type="adam")
    lr: float = Field(1e-3, gt=0)
    schedule: ScheduleSpec | None = None
    loss: LossSpec | None = None  # None: chosen from the task (cross_entropy, bce, mse)
    metrics: list[MetricSpec] | None = None  # None: chosen from the task
    callbacks: list[dict[str, Any]] = []
    loggers: list[LoggerSpec] = []  # experiment trackers besides metrics.csv/TensorBoard: mlflow
    terminate_on_nan: bool = True
    seed: int = Field(0, ge=0)
    deterministic: bool = False
    device: str = "auto"
    # auto: bf16 autocast where the device computes bf16 natively and the task is not regression
    # (brickwork.train.device.choose_precision); fp32 otherwise
    precision: Literal["fp32", "bf16", "fp16", "auto"] = "fp32"
    # auto: on for conv nets of built-in layers on CPU/CUDA (measured faster; docs/performance.md)
    channels_last: Literal["auto"] | bool = "auto"
    compile: bool = False
    clip_grad_norm: float | None = Field(None, gt=0)
    clip_grad_value: float | None = Field(None, gt=0)
    accumulate: int = Field(1, ge=1)
    # the run layer writes checkpoints/last every N optimizer steps of an epoch, resumable at
    # the exact next batch (None: at epoch ends only)
    checkpoint_every_steps: int | None = Field(None, ge=1)
    verbose: Literal[0, 1, 2] = 1
    live_plot: Literal["auto"] | bool = "auto"  # curves redrawn each epoch: auto = in a notebook

    @field_validator("optimizer", mode="before")
    @classmethod
    def _optimizer(cls, v):
        return _named(v, "optimizer")

    @field_validator("schedule", "loss", mode="before")
    @classmethod
    def _named_option(cls, v, info):
        return None if v is None else _named(v, info.field_name)

    @field_validator("metrics", mode="before")
    @classmethod
    def _metrics(cls, v):
        if v is None:
            return None
        return [_named(m, "metric") for m in ([v] if isinstance(v, str | dict) else v)]

    @field_validator("callbacks", mode="before")
    @classmethod
    def _callbacks(cls, v):
        callbacks = [_named(c, "callback") for c in (v or [])]
        for c in callbacks:
            for name, value in c.items() if isinstance(c, dict) else ():
                if name in SETTING_RANGES:
                    _check_setting("callback", str(c.get("type")), name, value)
                elif isinstance(value, float) and not math.isfinite(value):
                    raise ValueError(
                        f"callback '{c.get('type')}' setting '{name}' must be a finite number, "
                        f"found {value}"
                    )
        return callbacks

    @field_validator("loggers", mode="before")
    @classmethod
    def _loggers(cls, v):
        named = [_named(entry, "logger") for entry in ([v] if isinstance(v, str) else v or [])]
        types = [str(entry.get("type", "")).lower() for entry in named if isinstance(entry, dict)]
        for kind in types:
            if types.count(kind) > 1:
                raise ValueError(f"logger '{kind}' is listed twice; list each logger once")
        return named

    @field_validator("device")
    @classmethod
    def _device(cls, v):
        if v.split(":")[0] not in {"auto", "cpu", "cuda", "mps"}:
            raise ValueError("device must be auto, cpu, cuda (or cuda:N) or mps")
        return v


def parse_train_spec(data: Any) -> TrainSpec:
    """Validate a `train:` section (dict, TrainSpec or None), with errors that name the field."""
    if isinstance(data, TrainSpec):
        return data
    if data is None:
        return TrainSpec()
    if not isinstance(data, dict):
        raise BrickworkError(
            "train: expected a mapping such as {epochs: 3, lr: 0.001}, found "
            f"{type(data).__name__}."
        )
    try:
        return TrainSpec(**data)
    except ValidationError as e:
        raise BrickworkError(pydantic_message(e, "train", TrainSpec.model_fields)) from None
