"""The base of every spec and layer schema: unknown fields, NaN/Inf and true-as-a-number fail.

pydantic on its own reads `units: true` as 1 unit, `verbose: true` as 1 and `lr: .nan` as a
learning rate; each is a mistake the user made and should hear about where it was written,
not a silently odd run. `SpecModel` refuses all three, naming the field:

    class DenseConfig(SpecModel):
        units: int = Field(gt=0)      # `units: true` -> "field 'units': expected a number"
"""

from __future__ import annotations

from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator


class SpecModel(BaseModel):
    """Unknown fields are errors, floats must be finite, a boolean is never a number."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_number(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if field is not None and bool_where_number(value, field.annotation):
            raise ValueError(
                "expected a number, found a boolean (true/false); write the number itself"
            )
        return value


def bool_where_number(value: Any, annotation: Any) -> bool:
    """True when `value` is (or a list of `value` holds) a bool where `annotation` wants a number
    (or a word) and takes no bool; fields of Any or model type are left to their own checks."""
    if isinstance(value, dict):
        values = _dict_values(annotation)
        return values is not None and any(bool_where_number(v, values) for v in value.values())
    scalars, items = _kinds(annotation)
    if isinstance(value, bool):
        return bool(scalars) and bool not in scalars and Any not in scalars
    if isinstance(value, list) and items is not None:
        return any(bool_where_number(v, items) for v in value)
    return False


def _dict_values(annotation: Any) -> Any:
    """The value type of the mapping form of a field (`dict[str, list[int]]`), else None."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _dict_values(args[0])
    if origin in (Union, UnionType):
        return next((v for v in map(_dict_values, args) if v is not None), None)
    return args[1] if origin is dict and len(args) == 2 else None


def _kinds(annotation: Any) -> tuple[set, Any]:
    """(the plain types a field takes directly, the item type of its list form or None)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _kinds(args[0])
    if origin in (Union, UnionType):
        scalars, items = set(), None
        for member in args:
            more, member_items = _kinds(member)
            scalars |= more
            items = member_items if items is None else items
        return scalars, items
    if origin is Literal:
        return {type(a) for a in args}, None
    if origin is list:
        return set(), args[0] if args else Any
    if annotation is Any:
        return {Any}, None
    if annotation in (bool, int, float, str):
        return {annotation}, None
    return set(), None
