"""The `model:` section: a sequential `layers:` list or a graph of named `nodes:`."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, ValidationError, model_validator

from brickwork.errors import BrickworkError, pydantic_message
from brickwork.spec.base import SpecModel


def _positive(size: int) -> int:
    if size < 1:
        raise ValueError(
            "an input dimension must be at least 1, or null for a variable length such as a "
            "sequence's steps"
        )
    return size


Dim = Annotated[int, AfterValidator(_positive)] | None


class ModelSpec(SpecModel):
    """Either `input_shape` + `layers` (sequential) or `inputs` + `nodes` (+ `outputs`) (graph).

    A graph node takes the previous node's output unless it names `inputs:`.
    """

    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    input_shape: list[Dim] | None = None
    layers: list[Any] | None = None  # each entry is checked by the builder, which names the layer
    inputs: dict[str, list[Dim]] | None = None
    nodes: list[Any] | None = None
    outputs: str | list[str] | None = None
    tie_weights: bool | None = None  # the output dense layer shares the embedding's weight

    @model_validator(mode="after")
    def _one_form(self):
        if (self.layers is None) == (self.nodes is None):
            raise ValueError(
                "give either `layers:` (a sequential list) or `nodes:` (a graph), not both or "
                "neither"
            )
        if self.layers is not None:
            if self.input_shape is None:
                raise ValueError(
                    "a `layers:` model needs `input_shape:`, e.g. input_shape: [1, 28, 28]"
                )
            if self.inputs is not None or self.outputs is not None:
                raise ValueError(
                    "`inputs:`/`outputs:` belong to the graph form; a `layers:` model takes "
                    "`input_shape:`"
                )
        elif self.inputs is None and self.input_shape is None:
            raise ValueError("a `nodes:` model needs `inputs:` ({name: shape}) or `input_shape:`")
        elif self.inputs is not None and self.input_shape is not None:
            raise ValueError("give `inputs:` or `input_shape:`, not both")
        return self

    @property
    def input_shapes(self) -> dict[str, list[Dim]]:
        return self.inputs if self.inputs is not None else {"input": self.input_shape}


def parse_model_spec(data: Any) -> ModelSpec:
    """Validate a `model:` section, with errors that name the field."""
    if isinstance(data, ModelSpec):
        return data
    if not isinstance(data, dict):
        raise BrickworkError(
            "model: expected a mapping with `input_shape:` and `layers:` (or `inputs:` and "
            f"`nodes:`), found {type(data).__name__}."
        )
    try:
        return ModelSpec(**data)
    except ValidationError as e:
        raise BrickworkError(pydantic_message(e, "model", ModelSpec.model_fields)) from None
