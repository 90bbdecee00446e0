"""positional_embedding: learned and sinusoidal tables added to the input, and its limits."""

from __future__ import annotations

import math

import pytest
import torch

from brickwork.errors import BrickworkError
from brickwork.models.build import Sequential
from brickwork.models.summary import summary


def test_sinusoidal_positions_follow_the_formula_and_hold_no_parameters():
    model = Sequential([{"type": "positional_embedding", "kind": "sinusoidal"}], input_shape=[5, 6])
    x = torch.zeros(1, 5, 6)
    out = model(x)[0]
    for pos in range(5):
        for i in range(3):
            angle = pos / 10000 ** (2 * i / 6)
            assert out[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert out[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)
    assert summary(model)["total_params"] == 0 and model.state_dict() == {}


def test_learned_positions_add_a_table_of_max_length_rows():
    model = Sequential([{"type": "positional_embedding", "max_length": 9}], input_shape=[None, 4])
    table = model.layers["positional_embedding_1"].weight
    assert table.shape == (9, 4) and summary(model)["total_params"] == 36
    x = torch.randn(2, 3, 4)
    torch.testing.assert_close(model(x), x + table[:3])
    with pytest.raises(BrickworkError, match="holds 9 positions.*position 10"):
        model(torch.randn(1, 10, 4))


@pytest.mark.parametrize(
    ("fields", "shape", "words"),
    [
        ({}, [None, 4], "needs max_length"),
        ({"max_length": 3}, [5, 4], "max_length 3"),
        ({"kind": "sinusoidal"}, [5, 3], "odd"),
        ({}, [4], "[steps, features]"),
    ],
)
def test_bad_positions_name_the_layer(fields, shape, words):
    with pytest.raises(BrickworkError) as err:
        Sequential([{"type": "positional_embedding", **fields}], input_shape=shape)
    assert "'positional_embedding_1'" in str(err.value) and words in str(err.value)
