"""A run spec: the whole file `brickwork train` reads, with `model:`, `data:` and `train:`.

    spec = load_run_spec("examples/digits_cnn.yaml", ["train.lr=0.01", "train.epochs=5"])

Overrides are checked before they are applied: a mistyped field names the dotted path and
the closest valid one (`train.epoch` -> did you mean `train.epochs`?).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ConfigDict, ValidationError

from brickwork.errors import BrickworkError, did_you_mean, pydantic_message
from brickwork.spec.base import SpecModel
from brickwork.spec.data import DataSpec
from brickwork.spec.finetune import FinetuneSpec, parse_finetune_spec
from brickwork.spec.load import apply_overrides, read_spec_file
from brickwork.spec.model import parse_model_spec
from brickwork.spec.train import TrainSpec, parse_train_spec
from brickwork.spec.tune import TuneSpec, check_no_search_space, parse_tune_spec

SECTIONS = {"name", "description", "model", "data", "train", "finetune", "tune"}


class RunSpec(SpecModel):
    """`name`, `description`, the `model`, `data` and `train` sections, and optionally
    `finetune` (docs/finetune.md: the model may then come from its base) and `tune`
    (docs/tune.md)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    description: str | None = None
    model: dict[str, Any] | None = None
    data: DataSpec
    train: TrainSpec = TrainSpec()
    finetune: FinetuneSpec | None = None
    tune: TuneSpec | None = None


def parse_run_spec(data: dict[str, Any], where: str = "spec") -> RunSpec:
    """Validate a whole spec; errors name the section and field."""
    for key in data:
        if key not in SECTIONS:
            raise BrickworkError(
                f"{where}: unknown section '{key}'{did_you_mean(key, SECTIONS)}; a run spec has "
                f"{', '.join(sorted(SECTIONS))}."
            )
    check_no_search_space(data, where)
    finetune = parse_finetune_spec(data.get("finetune"))
    for key in ("data",) if finetune is not None else ("model", "data"):
        if key not in data:
            raise BrickworkError(
                f"{where}: the `{key}:` section is missing; `brickwork train` needs model:, data: "
                "and (optionally) train:."
            )
    if data.get("model") is not None:
        parse_model_spec(data["model"])
    train = parse_train_spec(data.get("train"))
    if not isinstance(data["data"], dict):
        raise BrickworkError(
            f"{where}: `data:` must be a mapping such as {{dataset: digits}}, found "
            f"{type(data['data']).__name__}."
        )
    try:
        dataspec = DataSpec(**data["data"])
    except ValidationError as e:
        raise BrickworkError(pydantic_message(e, "data", DataSpec.model_fields)) from None
    tune = parse_tune_spec(data["tune"]) if data.get("tune") is not None else None
    return RunSpec(
        name=data.get("name"),
        description=data.get("description"),
        model=data.get("model"),
        data=dataspec,
        train=train,
        finetune=finetune,
        tune=tune,
    )


def check_override(item: str) -> None:
    """Reject `--set` paths that name no field of the train/data sections, with the closest name."""
    path = item.split("=", 1)[0].strip()
    keys = path.split(".")
    if keys[0] not in SECTIONS:
        raise BrickworkError(
            f"override '{item}': unknown section '{keys[0]}'{did_you_mean(keys[0], SECTIONS)}; "
            "start with model., data. or train."
        )
    fields = {
        "train": TrainSpec.model_fields,
        "data": DataSpec.model_fields,
        "finetune": FinetuneSpec.model_fields,
        "tune": TuneSpec.model_fields,
    }.get(keys[0])
    if fields is not None and len(keys) > 1 and keys[1] not in fields:
        close = did_you_mean(keys[1], fields).replace("'", f"'{keys[0]}.", 1)
        raise BrickworkError(
            f"override '{item}': unknown field '{keys[0]}.{keys[1]}'{close}; valid fields of "
            f"{keys[0]}: {', '.join(fields)}."
        )


def load_run_spec(path: str | Path, overrides: list[str] = ()) -> RunSpec:
    """Read a spec file, apply `section.field=value` overrides, validate the result."""
    data = read_spec_file(path)
    for item in overrides:
        check_override(item)
    data = apply_overrides(data, list(overrides))
    try:
        return parse_run_spec(data, str(path))
    except BrickworkError as e:
        message = str(e)
        raise BrickworkError(
            message if message.startswith(str(path)) else f"{path}: {message}"
        ) from None
