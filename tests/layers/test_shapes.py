"""Shape inference against PyTorch itself: the inferred shape must equal the real output."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from brickwork.errors import BrickworkError
from brickwork.models import Sequential


def check(layers, input_shape, dtype=torch.float32):
    model = Sequential(layers, input_shape=input_shape).eval()
    x = (
        torch.zeros(3, *input_shape, dtype=dtype)
        if dtype == torch.float32
        else torch.ones(3, *input_shape, dtype=dtype)
    )
    out = model(x)
    assert list(out.shape[1:]) == model.layer_info[-1]["output_shape"], layers
    return model, out


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(5, 20),
    channels=st.integers(1, 4),
    filters=st.integers(1, 6),
    kernel=st.integers(1, 5),
    stride=st.integers(1, 3),
    dilation=st.integers(1, 2),
    padding=st.sampled_from(["same", "valid", 0, 1, 2]),
    dims=st.sampled_from([1, 2]),
)
def test_conv_shape_matches_pytorch(
    size, channels, filters, kernel, stride, dilation, padding, dims
):
    shape = [channels] + [size] * dims
    layer = {
        "type": f"conv{dims}d",
        "filters": filters,
        "kernel_size": kernel,
        "stride": stride,
        "dilation": dilation,
        "padding": padding,
    }
    try:
        model, out = check([layer], shape)
    except BrickworkError as e:
        assert "larger than" in str(e)  # kernel does not fit: a clear error, not a crash
        return
    if padding == "same":
        assert (
            list(out.shape[2:]) == [-(-size // stride)] * dims
        )  # ceil(size / stride), as in Keras


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(4, 20),
    pool=st.integers(1, 4),
    stride=st.sampled_from([None, 1, 2, 3]),
    kind=st.sampled_from(["maxpool", "avgpool"]),
    dims=st.sampled_from([1, 2]),
)
def test_pool_shape_matches_pytorch(size, pool, stride, kind, dims):
    check([{"type": f"{kind}{dims}d", "pool_size": pool, "stride": stride}], [2] + [size] * dims)


@pytest.mark.parametrize(
    "layers,shape",
    [
        (["flatten", {"type": "dense", "units": 7}], [2, 3, 4]),
        ([{"type": "reshape", "shape": [4, -1]}], [2, 3, 4]),
        (["global_avg_pool"], [5, 6, 6]),
        (["global_max_pool"], [5, 9]),
        (["batchnorm2d"], [3, 4, 4]),
        (["batchnorm1d"], [6]),
        (["batchnorm"], [3, 10]),
        ([{"type": "layernorm"}], [4, 6]),
        ([{"type": "layernorm", "axes": "all"}], [2, 3, 4]),
        ([{"type": "dropout", "rate": 0.3}, "dropout2d"], [3, 5, 5]),
        ([{"type": "dense", "units": 5}], [7, 3]),
        (
            [
                {"type": a}
                for a in [
                    "relu",
                    "leaky_relu",
                    "elu",
                    "gelu",
                    "sigmoid",
                    "tanh",
                    "softmax",
                    "log_softmax",
                ]
            ],
            [4],
        ),
        (
            [
                {
                    "type": "residual",
                    "layers": [
                        {
                            "type": "conv2d",
                            "filters": 8,
                            "kernel_size": 3,
                            "stride": 2,
                            "padding": "same",
                        }
                    ],
                }
            ],
            [3, 8, 8],
        ),
        (
            [
                {
                    "type": "residual",
                    "layers": [
                        {"type": "dense", "units": 5},
                        "relu",
                        {"type": "dense", "units": 5},
                    ],
                }
            ],
            [5],
        ),
    ],
)
def test_layer_shapes_match_pytorch(layers, shape):
    check(layers, shape)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_recurrent_shapes(kind, bidirectional, return_sequences):
    layers = [
        {"type": "embedding", "input_dim": 20, "output_dim": 6},
        {
            "type": kind,
            "units": 5,
            "num_layers": 2,
            "dropout": 0.1,
            "bidirectional": bidirectional,
            "return_sequences": return_sequences,
        },
    ]
    model, out = check(layers, [9], dtype=torch.long)
    assert out.shape[-1] == 5 * (2 if bidirectional else 1)


def test_last_step_equals_final_sequence_output():
    torch.manual_seed(0)
    seq = Sequential([{"type": "lstm", "units": 4, "return_sequences": True}], input_shape=[6, 3])
    last = Sequential([{"type": "lstm", "units": 4}], input_shape=[6, 3])
    last.load_state_dict(seq.state_dict())
    x = torch.randn(2, 6, 3)
    assert torch.allclose(seq(x)[:, -1], last(x))


def test_variable_length_sequences():
    model = Sequential(
        [{"type": "embedding", "input_dim": 10, "output_dim": 4}, {"type": "gru", "units": 3}],
        input_shape=[None],
    )
    assert model(torch.ones(2, 11, dtype=torch.long)).shape == (2, 3)
    assert model.layer_info[0]["output_shape"] == [None, 4]


def test_mask_zero_makes_padding_irrelevant():
    torch.manual_seed(0)
    model = Sequential(
        [
            {"type": "embedding", "input_dim": 10, "output_dim": 4, "mask_zero": True},
            {"type": "lstm", "units": 3, "bidirectional": True},
        ],
        input_shape=[None],
    ).eval()
    short = torch.tensor([[3, 4, 5]])
    padded = torch.tensor([[3, 4, 5, 0, 0, 0]])
    assert torch.allclose(model(short), model(padded), atol=1e-6)


def test_stride_two_same_padding_is_asymmetric_like_keras():
    model, out = check(
        [{"type": "conv2d", "filters": 2, "kernel_size": 4, "stride": 2, "padding": "same"}],
        [1, 7, 7],
    )
    assert list(out.shape) == [3, 2, 4, 4]


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_invariance_in_stacks(kind, bidirectional):
    torch.manual_seed(0)
    model = Sequential(
        [
            {"type": "embedding", "input_dim": 10, "output_dim": 4, "mask_zero": True},
            {"type": kind, "units": 3, "return_sequences": True, "bidirectional": bidirectional},
            {"type": kind, "units": 5, "num_layers": 2},
        ],
        input_shape=[None],
    ).eval()
    batch = torch.tensor([[3, 4, 5, 0, 0, 0], [1, 2, 3, 4, 5, 6], [7, 0, 0, 0, 0, 0]])
    together = model(batch)
    alone = torch.cat([model(row[row != 0].unsqueeze(0)) for row in batch])
    assert torch.allclose(together, alone, atol=1e-5)


@pytest.mark.parametrize(
    "fields,field",
    [
        ({"stride": 0}, "stride"),
        ({"kernel_size": 0}, "kernel_size"),
        ({"kernel_size": -3}, "kernel_size"),
        ({"dilation": 0}, "dilation"),
        ({"padding": -1}, "padding"),
        ({"padding": [1, -1]}, "padding.1"),
        ({"stride": [1, 0]}, "stride.1"),
    ],
)
def test_conv_sizes_are_checked_when_built(fields, field):
    with pytest.raises(BrickworkError, match=rf"conv2d 'conv2d_1' \(layer 0\): field '{field}'"):
        Sequential([{"type": "conv2d", "filters": 4, **fields}], input_shape=[1, 8, 8])


@pytest.mark.parametrize(
    "fields,field",
    [({"pool_size": 0}, "pool_size"), ({"stride": 0}, "stride"), ({"padding": -1}, "padding")],
)
def test_pool_sizes_are_checked_when_built(fields, field):
    with pytest.raises(
        BrickworkError, match=rf"maxpool1d 'maxpool1d_1' \(layer 0\): field '{field}'"
    ):
        Sequential([{"type": "maxpool1d", **fields}], input_shape=[1, 8])


@pytest.mark.parametrize("axis", [-2, -1, 0, 1])
def test_softmax_on_any_valid_axis_sums_to_one(axis):
    model, out = check([{"type": "softmax", "axis": axis}], [3, 4])
    assert torch.allclose(out.sum(dim=axis if axis < 0 else axis + 1), torch.ones(()))


@pytest.mark.parametrize("axis", [2, -3])
def test_softmax_axis_outside_the_input_fails_at_build(axis):
    with pytest.raises(
        BrickworkError,
        match=rf"softmax 'softmax_1' \(layer 0\) has axis {axis} but receives \[3, 4\]",
    ):
        Sequential([{"type": "softmax", "axis": axis}], input_shape=[3, 4])
