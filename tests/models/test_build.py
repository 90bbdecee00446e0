"""The builder: spec forms, the Python door, graphs, custom layers, freezing."""

import json

import pytest
import torch
import yaml

from brickwork.errors import BrickworkError
from brickwork.layers import Conv2D, Dense, Flatten, MaxPool2D, ReLU
from brickwork.models import Graph, Sequential, build_model

SPEC_YAML = """
input_shape: [1, 28, 28]
layers:
  - {type: conv2d, filters: 8, kernel_size: 3, padding: same}
  - relu
  - {maxpool2d: 2}
  - flatten
  - {dense: 10}
"""


def test_yaml_json_and_python_build_the_same_model():
    spec = yaml.safe_load(SPEC_YAML)
    from_yaml = build_model(spec)
    from_json = build_model(json.loads(json.dumps(spec)))
    from_python = Sequential(
        [Conv2D(8, 3, padding="same"), ReLU(), MaxPool2D(2), Flatten(), Dense(10)],
        input_shape=[1, 28, 28],
    )
    keys = [list(m.state_dict()) for m in (from_yaml, from_json, from_python)]
    assert keys[0] == keys[1] == keys[2]
    from_python.load_state_dict(from_yaml.state_dict())
    x = torch.randn(4, 1, 28, 28)
    assert torch.equal(from_yaml(x), from_python(x))


def test_model_is_a_plain_module_rebuilt_from_its_spec():
    model = build_model(yaml.safe_load(SPEC_YAML))
    assert isinstance(model, torch.nn.Module)
    again = build_model(json.loads(json.dumps(model.spec)))
    again.load_state_dict(model.state_dict())


def test_activation_field_adds_an_activation_after_the_layer():
    model = Sequential(
        [Dense(3, activation="relu", bias_initializer={"type": "constant", "value": -100.0})],
        input_shape=[2],
    )
    assert torch.all(model(torch.randn(5, 2)) == 0)


def test_graph_with_two_inputs_and_skip():
    model = Graph(
        inputs={"a": [4], "b": [6]},
        nodes=[
            Dense(8, name="fa", inputs="a"),
            Dense(8, name="fb", inputs="b"),
            {"type": "add", "name": "sum", "inputs": ["fa", "fb"]},
            {"type": "concat", "name": "cat", "inputs": ["sum", "fa"]},
            Dense(2, name="out"),
        ],
    )
    a, b = torch.randn(3, 4), torch.randn(3, 6)
    out = model(a, b)
    assert out.shape == (3, 2)
    assert torch.equal(out, model({"a": a, "b": b}))
    fa, fb, head = model.layers["fa"], model.layers["fb"], model.layers["out"]
    s = fa(a) + fb(b)
    assert torch.allclose(out, head(torch.cat([s, fa(a)], 1)))


def test_graph_with_several_outputs():
    model = Graph(
        inputs={"x": [4]},
        nodes=[Dense(3, name="h"), Dense(2, name="y1"), Dense(5, name="y2", inputs="h")],
        outputs=["y1", "y2"],
    )
    y1, y2 = model(torch.randn(2, 4))
    assert y1.shape == (2, 2) and y2.shape == (2, 5)


def test_residual_block_adds_identity():
    model = Sequential(
        [
            {
                "type": "residual",
                "layers": [
                    {
                        "type": "dense",
                        "units": 4,
                        "kernel_initializer": "zeros",
                        "bias_initializer": "zeros",
                    }
                ],
            }
        ],
        input_shape=[4],
    )
    x = torch.randn(3, 4)
    assert torch.equal(model(x), x)


def test_trainable_false_freezes_the_layer():
    model = Sequential([Dense(4, trainable=False), Dense(2)], input_shape=[3])
    assert not any(p.requires_grad for p in model.layers["dense_1"].parameters())
    assert all(p.requires_grad for p in model.layers["dense_2"].parameters())


@pytest.mark.parametrize("value", ["maybe", "false", 0, 1, None])
def test_trainable_must_be_a_bool(value):
    with pytest.raises(
        BrickworkError,
        match=r"dense 'dense_1' \(layer 0\): field 'trainable' must be true or false",
    ):
        Sequential([Dense(4, trainable=value)], input_shape=[3])


def test_error_inside_residual_names_the_block():
    inner = {"type": "residual", "name": "inner", "layers": [{"type": "dense", "units": 0}]}
    with pytest.raises(
        BrickworkError,
        match=r"residual 'outer' \(layer 1\): residual 'inner' \(residual layer 0\): "
        r"dense 'dense_1' \(residual layer 0\): field 'units'",
    ):
        Sequential(
            [ReLU(), {"type": "residual", "name": "outer", "layers": [inner]}], input_shape=[4]
        )


@pytest.mark.parametrize(
    "path", [":Foo", "tests.models.test_build:", "a..b:Thing", ".relative:Thing"]
)
def test_malformed_custom_layer_path_is_a_user_error(path):
    with pytest.raises(BrickworkError, match="layer 0: "):
        Sequential([{"type": path}], input_shape=[5])


class Doubler(torch.nn.Module):
    def __init__(self, factor: float = 2.0):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return torch.cat([x, x * self.factor], dim=1)


def test_custom_layer_by_import_path():
    model = Sequential(
        [{"type": "tests.models.test_build:Doubler", "factor": 3.0}, Dense(2)], input_shape=[5]
    )
    assert model.layer_info[0]["output_shape"] == [10]
    assert model(torch.randn(2, 5)).shape == (2, 2)


def test_custom_layer_that_does_not_import():
    with pytest.raises(BrickworkError, match="cannot import custom layer 'nowhere.mod:Thing'"):
        Sequential([{"type": "nowhere.mod:Thing"}], input_shape=[5])


def test_shorthand_forms():
    model = build_model(
        {
            "input_shape": [6],
            "layers": [{"dense": 4}, {"dropout": 0.2}, {"dense": {"units": 3, "name": "head"}}],
        }
    )
    assert [i["name"] for i in model.layer_info] == ["dense_1", "dropout_1", "head"]
