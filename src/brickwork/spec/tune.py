"""Search spaces inside a spec, and the `tune:` section that says how to search them.

Any value in a spec can be a search-space marker; `brickwork tune` replaces each one per
trial, so every trial trains a plain spec that `brickwork train` would accept:

    lr: {loguniform: [1e-4, 1e-1]}          # float, sampled on a log scale
    rate: {uniform: [0.0, 0.5], step: 0.1}  # float (optionally on a grid)
    units: {int: [32, 512], step: 32}       # int (`log: true` for a log scale)
    optimizer: {choice: [adam, sgd]}        # one of the listed values

A choice between mappings is how a setting depends on another: markers inside an option are
sampled only in trials that pick it, e.g. momentum only for sgd:

    optimizer: {choice: [adam, {type: sgd, momentum: {uniform: [0.5, 0.99]}}]}

Each parameter is named by its path (`train.lr`, `model.layers.3.units`; inside a choice
option the option's label comes first: `train.optimizer.sgd.momentum`), or by `name:`.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator

from brickwork.errors import BrickworkError, did_you_mean, pydantic_message
from brickwork.spec.base import SpecModel

KINDS = ("loguniform", "uniform", "int", "choice")
EXTRA_KEYS = {"step", "log", "name"}
PRUNERS = ("median", "hyperband", "asha", "percentile", "none")
SAMPLERS = ("tpe", "random")


class _Named(SpecModel):
    """`median` or `{type: median, n_warmup_steps: 1}`: the type plus the Optuna class's
    arguments.
    """

    model_config = ConfigDict(extra="allow")
    type: str

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class TuneSpec(SpecModel):
    """How to search: the metric to optimize, the sampler, the pruner, and how many trials."""

    model_config = ConfigDict(extra="forbid")
    metric: str = "val_loss"
    direction: Literal["auto", "maximize", "minimize"] = "auto"
    trials: int = Field(20, ge=1)
    timeout: float | None = Field(None, gt=0)
    sampler: _Named = _Named(type="tpe")
    pruner: _Named = _Named(type="median")
    seed: int | None = Field(None, ge=0)

    @field_validator("sampler", "pruner", mode="before")
    @classmethod
    def _named(cls, v, info):
        v = {"type": v} if isinstance(v, str) else v
        if isinstance(v, dict):
            allowed = SAMPLERS if info.field_name == "sampler" else PRUNERS
            kind = str(v.get("type", "")).lower()
            if kind not in allowed:
                raise ValueError(
                    f"unknown {info.field_name} '{v.get('type')}'{did_you_mean(kind, allowed)}; "
                    f"choose one of {', '.join(allowed)}"
                )
            v = {**v, "type": kind}
        return v

    def maximize(self) -> bool:
        """True when a larger metric is better: `direction`, else accuracy-like names."""
        from brickwork.spec.train import MAX_MODE

        if self.direction != "auto":
            return self.direction == "maximize"
        return self.metric.removeprefix("val_").endswith(MAX_MODE)


_EXAMPLE_RANGE = {"loguniform": "1e-4, 1e-1", "int": "32, 512"}


def parse_tune_spec(data: Any) -> TuneSpec:
    if data is None:
        return TuneSpec()
    if isinstance(data, TuneSpec):
        return data
    if not isinstance(data, dict):
        raise BrickworkError(
            "tune: expected a mapping such as {metric: val_accuracy, trials: 30}, found "
            f"{type(data).__name__}."
        )
    try:
        return TuneSpec(**data)
    except ValidationError as e:
        raise BrickworkError(pydantic_message(e, "tune", TuneSpec.model_fields)) from None


def marker_kind(value: Any, path: str = "spec") -> str | None:
    """The marker's kind when `value` is a search-space marker, else None (errors on a malformed
    one).
    """
    if not isinstance(value, dict):
        return None
    kinds = [k for k in value if k in KINDS]
    if not kinds:
        return None
    if len(kinds) > 1 or set(value) - set(KINDS) - EXTRA_KEYS:
        extra = sorted(set(value) - {kinds[0]})
        raise BrickworkError(
            f"{path}: a search space is one of {', '.join(KINDS)} plus optional step/log/name, "
            f"found keys {extra}"
            f" besides '{kinds[0]}'; write e.g. {{int: [32, 512], step: 32}}."
        )
    kind = kinds[0]
    args = value[kind]
    if kind == "choice":
        if not isinstance(args, list) or not args:
            raise BrickworkError(
                f"{path}: `choice:` needs a non-empty list of options, e.g. {{choice: [adam, "
                f"sgd]}}; found {args!r}."
            )
        return kind
    if not (
        isinstance(args, list)
        and len(args) == 2
        and all(isinstance(a, int | float) and not isinstance(a, bool) for a in args)
    ):
        raise BrickworkError(
            f"{path}: `{kind}:` needs [low, high] numbers, e.g. {{{kind}: "
            f"[{_EXAMPLE_RANGE.get(kind, '0.0, 0.5')}]}}; "
            f"found {args!r}."
        )
    if not all(math.isfinite(a) for a in args):
        raise BrickworkError(f"{path}: `{kind}:` bounds must be finite numbers, found {args}.")
    _check_extras(value, kind, path)
    low, high = args
    if low > high:
        raise BrickworkError(f"{path}: `{kind}:` low {low} is above high {high}.")
    if (kind == "loguniform" or value.get("log")) and low <= 0:
        raise BrickworkError(f"{path}: a log-scale range needs a positive low bound, found {low}.")
    if kind == "int" and not all(isinstance(a, int) for a in args):
        raise BrickworkError(
            f"{path}: `int:` bounds must be whole numbers, found {args}; use uniform: for floats."
        )
    return kind


def _check_extras(marker: dict, kind: str, path: str) -> None:
    """`step:` a positive number (whole for `int:`), `log:` true/false, `name:` a string."""
    step, log, name = marker.get("step"), marker.get("log"), marker.get("name")
    if step is not None and not (
        isinstance(step, int | float)
        and not isinstance(step, bool)
        and math.isfinite(step)
        and step > 0
        and (kind != "int" or isinstance(step, int))
    ):
        whole = "a whole number" if kind == "int" else "a number"
        raise BrickworkError(f"{path}: `step:` must be {whole} above 0, found {str(step)[:40]!r}.")
    if log is not None and not isinstance(log, bool):
        raise BrickworkError(f"{path}: `log:` must be true or false, found {str(log)[:40]!r}.")
    if name is not None and not isinstance(name, str):
        raise BrickworkError(f"{path}: `name:` must be a string, found {str(name)[:40]!r}.")


def search_params(spec: Any, path: str = "") -> list[str]:
    """The dotted paths of every marker in `spec`, options of choices included (for messages and
    checks).
    """
    found: list[str] = []
    kind = marker_kind(spec, path or "spec")
    if kind is not None:
        found.append(path)
        if kind == "choice":
            for i, option in enumerate(spec["choice"]):
                found += search_params(option, f"{path}[{i}]")
        return found
    if isinstance(spec, dict):
        for key, value in spec.items():
            found += search_params(value, f"{path}.{key}" if path else str(key))
    elif isinstance(spec, list):
        for i, value in enumerate(spec):
            found += search_params(value, f"{path}.{i}" if path else str(i))
    return found


def option_label(option: Any, index: int) -> Any:
    """What Optuna records for a choice option: the value itself, or a short label for a mapping."""
    if option is None or isinstance(option, bool | int | float | str):
        return option
    if isinstance(option, dict) and isinstance(option.get("type"), str):
        return option["type"]
    if isinstance(option, dict) and len(option) == 1:
        return str(next(iter(option)))
    return f"option{index}"


def choice_labels(options: list, path: str) -> list:
    labels = [option_label(o, i) for i, o in enumerate(options)]
    if len({json.dumps(x) for x in labels}) != len(labels):
        labels = [
            x if isinstance(o, bool | int | float | str) or o is None else f"{x}#{i}"
            for i, (x, o) in enumerate(zip(labels, options, strict=True))
        ]
    if len({json.dumps(x) for x in labels}) != len(labels):
        raise BrickworkError(
            f"{path}: `choice:` lists the same option twice ({labels}); remove the repeat."
        )
    return labels


Suggest = Callable[[str, str, dict], Any]


def resolve(spec: dict, suggest: Suggest) -> dict:
    """A copy of `spec` with every marker replaced by `suggest(kind, name, marker)` (depth first).

    Markers inside a choice option are resolved only when the option is picked, under names
    prefixed by the option's label, so each trial asks only for the parameters it uses.
    """

    def walk(value, path, name):
        kind = marker_kind(value, path)
        if kind is not None:
            name = str(value.get("name") or name)
            picked = suggest(kind, name, value)
            if kind != "choice":
                return picked
            labels = choice_labels(value["choice"], path)
            index = labels.index(picked)
            return walk(
                copy.deepcopy(value["choice"][index]), f"{path}[{index}]", f"{name}.{labels[index]}"
            )
        if isinstance(value, dict):
            return {k: walk(v, f"{path}.{k}", f"{name}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, f"{path}.{i}", f"{name}.{i}") for i, v in enumerate(value)]
        return value

    return {key: value if key == "tune" else walk(value, key, key) for key, value in spec.items()}


def bound_suggest(which: Literal["low", "high"]) -> Suggest:
    """A suggester that picks every range's low (or high) end and the first (or last) option: for
    checking a space.
    """

    def suggest(kind, name, marker):
        args = marker[kind]
        if kind == "choice":
            return choice_labels(args, name)[0 if which == "low" else -1]
        value = args[0] if which == "low" else args[1]
        if kind == "int":
            step = int(marker.get("step", 1))
            return int(args[0] + (value - args[0]) // step * step)
        return float(value)

    return suggest


def fixed_suggest(params: dict) -> Suggest:
    """A suggester that replays recorded parameter values (the best trial's, say)."""

    def suggest(kind, name, marker):
        if name not in params:
            raise BrickworkError(
                f"the search space has a parameter '{name}' that the trial did not "
                f"record{did_you_mean(name, params)}; "
                "the spec's search space changed since the study ran, so start a new --study."
            )
        value = params[name]
        if kind == "int":
            return int(value)
        return tidy(value) if marker.get("step") is not None and isinstance(value, float) else value

    return suggest


def optuna_suggest(trial) -> Suggest:
    """A suggester that asks an Optuna trial (define-by-run, so conditional spaces just work)."""

    def suggest(kind, name, marker):
        args = marker[kind]
        if kind == "choice":
            return trial.suggest_categorical(name, choice_labels(args, name))
        if kind == "int":
            return trial.suggest_int(
                name,
                int(args[0]),
                int(args[1]),
                step=int(marker.get("step", 1)),
                log=bool(marker.get("log", False)),
            )
        log = kind == "loguniform" or bool(marker.get("log", False))
        step = marker.get("step")
        if log or step is None:
            return trial.suggest_float(name, float(args[0]), float(args[1]), log=log)
        return tidy(trial.suggest_float(name, float(args[0]), float(args[1]), step=float(step)))

    return suggest


def tidy(value):
    """0.15000000000000002 (a float on a step grid) -> 0.15; anything else as it is."""
    return float(f"{value:.12g}") if isinstance(value, float) else value


def check_no_search_space(data: dict, where: str) -> None:
    """Refuse to train a spec that still holds markers, naming them and the command that samples
    them.
    """
    params = [p for k, v in data.items() if k != "tune" for p in search_params(v, k)]
    if params:
        more = f" and {len(params) - 5} more" if len(params) > 5 else ""
        raise BrickworkError(
            f"{where}: the spec holds search spaces ({', '.join(params[:5])}{more}), which "
            "`brickwork train` cannot train; "
            "run `brickwork tune SPEC` to search them, then train the best spec it writes."
        )
