"""The model card: what a model is for and how it was made, typed, stored in its file.

Every brickwork model carries one as `model.card` (a `ModelCard`): the task, the input and
output shapes, the preprocessing that turns raw inputs into what the model reads, class
names or vocabulary, the loss and metrics it was trained with, where its data came from and
how well it did on the test split. `save_model` writes it into the safetensors header (key
`brickwork`, one JSON document) and `load` reads it back, so a file is self-describing.

The JSON document keeps the flat layout of earlier versions (`task`, `class_names`, ...
at the top level), so files written before the card existed still load, and keys the card
does not know, such as `save_model(model, path, owner="me")`, survive in `card.extra`.
"""

from __future__ import annotations

import json
import platform
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from brickwork.errors import BrickworkError
from brickwork.version import __version__


class Task(str, Enum):
    """What the model predicts; it picks the default loss, metrics and how outputs read."""

    classification = "classification"
    binary = "binary"
    regression = "regression"
    language_model = "language_model"

    def __str__(self) -> str:
        return self.value


Shape = list[int | None]  # per sample; None marks a variable length


class ModelCard(BaseModel):
    """Typed description of a model; `model.card`. Unknown keys of a file go to `extra`."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str | None = Field(None, description="the run's or spec's name")
    task: Task | None = None
    model_spec: dict[str, Any] | None = Field(None, description="the `model:` it rebuilds from")
    input_shape: Shape | None = None
    output_shape: Shape | None = None
    preprocessing: dict[str, Any] | None = Field(
        None, description="steps from raw input to model input (brickwork.data.preprocess)"
    )
    class_names: list[str] | None = None
    num_classes: int | None = None
    vocab: dict[str, Any] | None = Field(None, description="a language model's Vocab.to_json()")
    loss: str | dict[str, Any] | None = Field(None, description="the loss it was trained with")
    metrics: list[str | dict[str, Any]] | None = None
    data: dict[str, Any] | None = Field(None, description="provenance: the run's `data:` section")
    seed: int | None = None
    finetuned_from: str | None = None
    train_metrics: dict[str, Any] | None = Field(None, description="the last epoch's logs")
    test_metrics: dict[str, Any] | None = Field(None, description="name -> value on the test split")
    versions: dict[str, str] | None = Field(None, description="brickwork, torch, python")
    extra: dict[str, Any] = Field(default_factory=dict, description="keys the card lacks")

    @field_validator("class_names", mode="before")
    @classmethod
    def _labels_read_as_text(cls, value: Any) -> Any:
        """Numeric labels (`class_names=[0, 1]`, accepted by earlier versions) read as text."""
        if isinstance(value, list):
            return [
                str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
                for v in value
            ]
        return value

    def updated(self, **fields: Any) -> ModelCard:
        """A copy with `fields` set (validated); names the card lacks go to `extra`."""
        known = {k: v for k, v in fields.items() if k in CARD_FIELDS}
        extra = {**self.extra, **{k: v for k, v in fields.items() if k not in CARD_FIELDS}}
        doc = {**self.model_dump(exclude={"extra"}), **known, "extra": extra}
        return _validate(doc, "the model card")

    def to_header(self) -> dict[str, Any]:
        """The JSON document stored in a model file: the fields, then `extra`'s keys beside
        them (the flat layout every version of brickwork reads)."""
        for key, value in self.extra.items():
            try:
                json.dumps(value)
            except (TypeError, ValueError) as e:
                raise BrickworkError(
                    f"model card: extra field '{key}' holds a {type(value).__name__}, which a "
                    f"model file cannot store ({e}); pass strings, numbers, lists or dicts."
                ) from None
        return {**self.extra, **self.model_dump(mode="json", exclude={"extra"}, exclude_none=True)}

    @classmethod
    def from_header(cls, doc: Any, source: str) -> ModelCard:
        """Read the JSON document of a model file (any version); raise naming a bad field."""
        if not isinstance(doc, dict):
            raise BrickworkError(
                f"'{source}': the brickwork metadata is a {type(doc).__name__}, expected a JSON "
                "object; the file was not written by brickwork's save_model."
            )
        known = {k: v for k, v in doc.items() if k in CARD_FIELDS}
        extra = {k: v for k, v in doc.items() if k not in CARD_FIELDS}
        return _validate({**known, "extra": extra}, f"'{source}': the model card")


CARD_FIELDS = frozenset(ModelCard.model_fields) - {"extra"}


def _validate(doc: dict, where: str) -> ModelCard:
    try:
        return ModelCard.model_validate(doc)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        found = repr(err.get("input"))
        found = found if len(found) <= 60 else found[:57] + "..."
        choices = f"; task is one of {', '.join(t.value for t in Task)}" if field == "task" else ""
        raise BrickworkError(
            f"{where}: field '{field}' is {found}, which is not valid ({err['msg']}){choices}; "
            "give it a valid value (a file edited by hand or by another tool can be re-saved "
            "with brickwork.save_model)."
        ) from None


def card_of(model: Any) -> ModelCard:
    """`model.card`, or an empty card for a plain nn.Module that never had one."""
    card = getattr(model, "card", None)
    return card if isinstance(card, ModelCard) else ModelCard()


def versions() -> dict[str, str]:
    """The versions a model file records: brickwork, torch and python."""
    import torch

    return {
        "brickwork": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def new_card(model: Any, **fields: Any) -> ModelCard:
    """A card for `model` that describes only `fields` and the model's own spec and shapes,
    nothing carried over from an earlier card (a fine-tuned model is not its base)."""
    return ModelCard().updated(**_own(model), **fields)


def file_card(model: Any) -> ModelCard:
    """The card `save_model` writes: `model.card` with the spec and shapes the model itself
    has (so the file describes the weights beside it) and the versions writing it."""
    return card_of(model).updated(**_own(model), versions=versions())


def _own(model: Any) -> dict[str, Any]:
    attrs = {"model_spec": "spec", "input_shape": "input_shape", "output_shape": "output_shape"}
    return {field: _plain(getattr(model, a)) for field, a in attrs.items() if hasattr(model, a)}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
