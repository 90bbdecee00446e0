"""The Python layer constructors: real signatures and help from the layer configs."""

import inspect
import pydoc
import subprocess
import sys

import pytest

import brickwork.layers as L
from brickwork.errors import BrickworkError
from brickwork.layers.registry import LAYERS
from brickwork.models import Sequential

CONSTRUCTORS = [getattr(L, name) for name in L.__all__ if hasattr(getattr(L, name), "layer_type")]
NODE_FIELDS = ["name", "inputs", "trainable"]


def test_every_registered_layer_type_has_a_constructor():
    assert {make.layer_type for make in CONSTRUCTORS} == set(LAYERS)


@pytest.mark.parametrize("make", CONSTRUCTORS, ids=lambda m: m.__name__)
def test_the_signature_lists_the_config_fields_in_positional_order(make):
    kind = LAYERS[make.layer_type]
    params = inspect.signature(make).parameters
    assert sorted(params) == sorted([*kind.config.model_fields, *NODE_FIELDS])
    positional = [n for n, p in params.items() if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert positional == list(kind.positional)
    for name, field in kind.config.model_fields.items():
        default = params[name].default
        assert (
            default is inspect.Parameter.empty if field.is_required() else default == field.default
        )


def test_dense_reads_like_keras_in_help_and_inspect():
    sig = inspect.signature(L.Dense)
    assert str(sig).startswith("(units: int, *, activation: ")
    assert sig.parameters["use_bias"].default is True
    text = pydoc.render_doc(L.Conv2D, renderer=pydoc.plaintext)
    assert "Conv2D(filters: int, kernel_size:" in text
    assert "kernel_size: int >= 1 | list[int >= 1] (default 3)" in text
    assert "dropout: float >= 0 < 1 (default 0.0) -- between stacked layers" in L.LSTM.__doc__


def test_positional_arguments_work_as_before_and_build():
    assert L.Conv2D(32, 5) == {"type": "conv2d", "filters": 32, "kernel_size": 5}
    assert L.Dense(10, activation="softmax", name="head") == {
        "type": "dense",
        "units": 10,
        "activation": "softmax",
        "name": "head",
    }
    model = Sequential(
        [L.Conv2D(4, 3), L.ReLU(), L.Residual([L.Conv2D(4, 3, padding="same")]), L.Flatten()],
        input_shape=[1, 8, 8],
    )
    assert model.output_shape == [4 * 6 * 6]


def test_mistakes_are_caught_where_written_with_a_suggestion():
    with pytest.raises(
        BrickworkError,
        match=r"Dense\(\): unknown field 'activaton' \(did you mean 'activation'\?\)",
    ):
        L.Dense(10, activaton="relu")
    with pytest.raises(BrickworkError, match="missing a required argument: 'units'"):
        L.Dense()
    with pytest.raises(BrickworkError, match="too many positional"):
        L.Dropout(0.5, 0.2)
    with pytest.raises(BrickworkError, match=r"Dense\(\): field 'units'"):
        L.Dense(0)


def test_residual_needs_no_model_import_for_its_positional_field():
    code = "import brickwork.layers as L; print(L.Residual([L.ReLU()]))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "{'type': 'residual', 'layers': [{'type': 'relu'}]}"
