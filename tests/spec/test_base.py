"""Every numeric field of every spec and layer schema refuses NaN, Inf and true/false, naming
the field: checked over all of them, not a few examples."""

from __future__ import annotations

import math
from types import UnionType
from typing import Annotated, Literal, Union, get_args, get_origin

import pytest
from pydantic import ValidationError

from brickwork.errors import BrickworkError
from brickwork.layers import LAYERS
from brickwork.layers.init import Initializer, Regularizer
from brickwork.spec.base import SpecModel, bool_where_number
from brickwork.spec.data import AugmentSpec, DataSpec, NormalizeSpec
from brickwork.spec.finetune import FinetuneSpec, FreezeSpec, HeadSpec, UnfreezeStep
from brickwork.spec.train import TrainSpec, parse_train_spec
from brickwork.spec.tune import TuneSpec, marker_kind

SPEC_MODELS = [TrainSpec, DataSpec, NormalizeSpec, AugmentSpec, TuneSpec, FinetuneSpec]
SPEC_MODELS += [FreezeSpec, HeadSpec, UnfreezeStep, Initializer, Regularizer]


def _plain(annotation) -> set:
    """The plain types a field takes directly (through Optional, unions, Annotated, Literal)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _plain(args[0])
    if origin in (Union, UnionType):
        return set().union(*map(_plain, args))
    if origin is Literal:
        return {type(a) for a in args}
    return {annotation} if annotation in (bool, int, float, str) else set()


def numeric_fields():
    models = SPEC_MODELS + [kind.config for kind in LAYERS.values()]
    for model in dict.fromkeys(models):
        for name, field in model.model_fields.items():
            kinds = _plain(field.annotation)
            if kinds & {int, float} and bool not in kinds:
                yield pytest.param(model, name, float in kinds, id=f"{model.__name__}.{name}")


FIELDS = list(numeric_fields())


def _errors_for(model, name, value) -> list[dict]:
    try:
        model(**{name: value})
    except ValidationError as e:
        return [err for err in e.errors() if err["loc"] and err["loc"][0] == name]
    return []


def test_every_schema_builds_on_the_strict_base():
    for model in SPEC_MODELS + [kind.config for kind in LAYERS.values()]:
        assert issubclass(model, SpecModel), model
    assert len(FIELDS) > 40


@pytest.mark.parametrize(("model", "name", "is_float"), FIELDS)
def test_a_boolean_is_never_a_number(model, name, is_float):
    for value in (True, False):
        errors = _errors_for(model, name, value)
        assert errors and "boolean" in errors[0]["msg"], (model, name, value)


@pytest.mark.parametrize(("model", "name", "is_float"), [f for f in FIELDS if f.values[2]])
def test_nan_and_inf_are_refused(model, name, is_float):
    for value in (math.nan, math.inf, -math.inf, "nan"):
        assert _errors_for(model, name, value), (model, name, value)


@pytest.mark.parametrize(
    ("value", "annotation", "refused"),
    [
        (True, int, True),
        (True, int | None, True),
        (True, bool | int, False),
        ([1, True], list[int], True),
        ([1, 2], list[int] | int, False),
        (True, str | int | None, True),
        (True, dict, False),
        (1, int, False),
        ({"x": [True, 4]}, dict[str, list[int]] | None, True),
        ({"x": True}, dict[str, object], False),
    ],
)
def test_bool_where_number(value, annotation, refused):
    assert bool_where_number(value, annotation) is refused


@pytest.mark.parametrize(
    ("section", "named"),
    [
        ({"optimizer": {"type": "sgd", "momentum": math.nan}}, "momentum"),
        ({"optimizer": {"type": "sgd", "momentum": 1.5}}, "momentum"),
        ({"optimizer": {"type": "adam", "betas": [0.9, True]}}, "betas"),
        ({"optimizer": {"type": "adam", "amsgrad": 1}}, "amsgrad"),
        ({"schedule": {"type": "step", "step_size": 2.5}}, "step_size"),
        ({"schedule": {"type": "one_cycle", "max_lr": 0}}, "max_lr"),
        ({"loss": {"type": "bce_with_logits", "pos_weight": [-1]}}, "pos_weight"),
        ({"metrics": [{"type": "top_k_accuracy", "k": True}]}, "'k'"),
        ({"clip_grad_norm": 0}, "clip_grad_norm"),
        ({"lr": math.inf}, "lr"),
    ],
)
def test_train_settings_are_checked_where_written(section, named):
    with pytest.raises(BrickworkError, match=named):
        parse_train_spec(section)


def test_good_settings_still_pass():
    spec = parse_train_spec(
        {
            "optimizer": {"type": "sgd", "momentum": 0.9, "nesterov": True},
            "schedule": {"type": "multistep", "milestones": [2, 4], "gamma": 0.5},
            "loss": {"type": "cross_entropy", "label_smoothing": 0.1},
            "clip_grad_norm": 1.0,
            "lr": 1,
        }
    )
    assert spec.optimizer.options["momentum"] == 0.9 and spec.lr == 1.0


@pytest.mark.parametrize(
    ("marker", "says"),
    [
        ({"uniform": [0, math.inf]}, "finite"),
        ({"uniform": [0, 1], "step": 0}, "step"),
        ({"uniform": [0, 1], "step": True}, "step"),
        ({"int": [1, 8], "step": 0.5}, "whole"),
        ({"uniform": [0, 1], "log": "yes"}, "log"),
        ({"int": [1, 8], "name": 3}, "name"),
    ],
)
def test_bad_search_spaces_name_the_path(marker, says):
    with pytest.raises(BrickworkError, match=f"train.lr.*{says}"):
        marker_kind(marker, "train.lr")
