"""The `model:` section: input dimensions must be positive sizes (or null for a variable length)."""

import pytest

from brickwork.errors import BrickworkError
from brickwork.spec.model import parse_model_spec


def test_variable_length_dimension_is_allowed():
    assert parse_model_spec({"input_shape": [None, 3], "layers": ["relu"]}).input_shape == [None, 3]


@pytest.mark.parametrize(
    "shape,field",
    [([-1, 28, 28], "input_shape.0"), ([-5], "input_shape.0"), ([1, 0, 28], "input_shape.1")],
)
def test_non_positive_input_dimension_is_refused(shape, field):
    with pytest.raises(
        BrickworkError, match=rf"model: field '{field}': an input dimension must be at least 1"
    ):
        parse_model_spec({"input_shape": shape, "layers": ["relu"]})


def test_graph_input_dimension_names_the_input():
    with pytest.raises(BrickworkError, match=r"field 'inputs.image.2'"):
        parse_model_spec({"inputs": {"image": [1, 28, 0]}, "nodes": ["relu"]})
