"""Sampling options are checked where they are passed, from the CLI or Python, naming the
option: NaN, Inf, true/false and out-of-range values never sample quietly."""

from __future__ import annotations

import math

import pytest

from brickwork.errors import BrickworkError
from brickwork.generate.sampling import generate_ids
from brickwork.models import build_model


@pytest.fixture(scope="module")
def lm():
    return build_model(
        {
            "input_shape": [8],
            "layers": [
                {"type": "embedding", "input_dim": 12, "output_dim": 4},
                {"type": "gru", "units": 6, "return_sequences": True},
                {"type": "dense", "units": 12},
            ],
        }
    )


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"temperature": -0.5}, "temperature"),
        ({"temperature": math.nan}, "temperature"),
        ({"temperature": math.inf}, "temperature"),
        ({"temperature": True}, "temperature"),
        ({"top_k": 0}, "top_k"),
        ({"top_k": 2.5}, "top_k"),
        ({"top_k": True}, "top_k"),
        ({"top_p": 0}, "top_p"),
        ({"top_p": 1.01}, "top_p"),
        ({"top_p": math.nan}, "top_p"),
        ({"beam": 0}, "beam"),
        ({"beam": True}, "beam"),
        ({"length": -1}, "length"),
        ({"length": 3.0}, "length"),
        ({"seed": -3}, "seed"),
    ],
)
def test_bad_options_name_the_option(lm, options, named):
    args = {"length": 4, **options}
    with pytest.raises(BrickworkError, match=rf"^{named} \(--"):
        list(generate_ids(lm, [2, 3], **args))


def test_good_options_sample(lm):
    out = list(generate_ids(lm, [2, 3], 5, temperature=0, top_k=3, top_p=1.0, seed=1))
    assert len(out) == 5
    assert list(generate_ids(lm, [2, 3], 3, beam=2)) and not list(generate_ids(lm, [2], 0))
