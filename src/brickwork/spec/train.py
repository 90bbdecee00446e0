"""The `train:` section: optimizer, learning-rate schedule, loss, metrics, callbacks, device.

Every field has a default, so `train: {epochs: 3}` is a complete section. Options that take
settings can be a bare name (`optimizer: adam`) or a mapping (`optimizer: {type: sgd,
momentum: 0.9}`); a setting that does not belong to the chosen type is an error that names it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from brickwork.errors import BrickworkError, did_you_mean, pydantic_message

# Settings each optimizer accepts besides `lr` (the names of the torch.optim arguments).
OPTIMIZER_OPTIONS = {
    "sgd": {"momentum", "dampening", "nesterov", "weight_decay"},
    "adam": {"betas", "eps", "weight_decay", "amsgrad"},
    "adamw": {"betas", "eps", "weight_decay", "amsgrad"},
    "rmsprop": {"alpha", "eps", "momentum", "centered", "weight_decay"},
    "adagrad": {"lr_decay", "eps", "weight_decay", "initial_accumulator_value"},
}
for (
    _settings
) in OPTIMIZER_OPTIONS.values():  # [{layers: [head], lr: 0.01}]: see train/optim.py param_groups
    _settings.add("param_groups")
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


class _Typed(BaseModel):
    """A `type:` plus that type's settings, checked against a table of allowed names."""

    model_config = ConfigDict(extra="allow")
    type: str

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class OptimizerSpec(_Typed):
    @model_validator(mode="after")
    def _known(self):
        self.type = self.type.lower()
        _check_options("optimizer", self.type, self.options, OPTIMIZER_OPTIONS)
        return self


class ScheduleSpec(_Typed):
    """Learning-rate schedule; `warmup_epochs` (may be fractional) ramps up linearly first."""

    warmup_epochs: float = 0.0

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


class TrainSpec(BaseModel):
    """How to train: see docs/training.md for every field."""

    model_config = ConfigDict(extra="forbid")
    epochs: int = 10
    batch_size: int = 32
    eval_batch_size: int | None = None
    shuffle: bool = True
    optimizer: OptimizerSpec = OptimizerSpec(type="adam")
    lr: float = 1e-3
    schedule: ScheduleSpec | None = None
    loss: LossSpec | None = None  # None: chosen from the task (cross_entropy, bce, mse)
    metrics: list[MetricSpec] | None = None  # None: chosen from the task
    callbacks: list[dict[str, Any]] = []
    loggers: list[LoggerSpec] = []  # experiment trackers besides metrics.csv/TensorBoard: mlflow
    terminate_on_nan: bool = True
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    channels_last: bool = False
    compile: bool = False
    clip_grad_norm: float | None = None
    clip_grad_value: float | None = None
    accumulate: int = 1
    verbose: Literal[0, 1, 2] = 1

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
        return [_named(c, "callback") for c in (v or [])]

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

    @model_validator(mode="after")
    def _positive(self):
        for name in ("epochs", "batch_size", "accumulate"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1 (got {getattr(self, name)})")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive (got {self.lr})")
        return self


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
