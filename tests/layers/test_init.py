"""Initializers and regularizers."""

import pytest
import torch

from brickwork.errors import BrickworkError
from brickwork.models import Sequential


def dense(**fields):
    return Sequential([{"type": "dense", "units": 64, **fields}], input_shape=[128]).layers[
        "dense_1"
    ]


def test_zeros_ones_constant():
    layer = dense(kernel_initializer="zeros", bias_initializer="ones")
    assert torch.all(layer.weight == 0) and torch.all(layer.bias == 1)
    layer = dense(bias_initializer={"type": "constant", "value": 0.5})
    assert torch.all(layer.bias == 0.5)


def test_orthogonal():
    w = dense(kernel_initializer="orthogonal").weight  # 64 x 128: orthonormal rows
    assert torch.allclose(w @ w.T, torch.eye(64), atol=1e-5)


@pytest.mark.parametrize(
    "name,std",
    [
        ("he_normal", (2 / 128) ** 0.5),
        ("kaiming_uniform", (2 / 128) ** 0.5),
        ("glorot_normal", (2 / (128 + 64)) ** 0.5),
        ("xavier_uniform", (2 / (128 + 64)) ** 0.5),
    ],
)
def test_variance_scaling_initializers(name, std):
    torch.manual_seed(0)
    w = dense(kernel_initializer=name).weight
    assert abs(w.std().item() - std) / std < 0.1


def test_normal_with_std():
    torch.manual_seed(0)
    w = dense(kernel_initializer={"type": "normal", "std": 0.02}).weight
    assert abs(w.std().item() - 0.02) < 0.002


def test_recurrent_initializers():
    model = Sequential(
        [
            {
                "type": "lstm",
                "units": 4,
                "recurrent_initializer": "orthogonal",
                "kernel_initializer": "zeros",
                "bias_initializer": "ones",
            }
        ],
        input_shape=[5, 3],
    )
    rnn = model.layers["lstm_1"]
    assert torch.all(rnn.weight_ih_l0 == 0) and torch.all(rnn.bias_hh_l0 == 1)


def test_unknown_initializer_names_layer_and_field():
    with pytest.raises(
        BrickworkError,
        match=r"dense 'dense_1' \(layer 0\): field 'kernel_initializer': unknown initializer "
        r"'he_normall' \(did you mean 'he_normal'\?\)",
    ):
        dense(kernel_initializer="he_normall")
    with pytest.raises(
        BrickworkError, match="field 'bias_initializer': unknown initializer 'nomral'"
    ):
        dense(bias_initializer={"type": "nomral", "std": 0.1})


def test_matrix_initializer_on_a_bias_names_the_field():
    with pytest.raises(
        BrickworkError,
        match=r"dense 'dense_1' \(layer 0\): field 'bias_initializer': initializer 'he_normal' "
        r"needs a weight matrix",
    ):
        dense(bias_initializer="he_normal")
    with pytest.raises(
        BrickworkError, match=r"conv1d 'conv1d_1' \(layer 0\): field 'bias_initializer'"
    ):
        Sequential(
            [{"type": "conv1d", "filters": 2, "bias_initializer": "orthogonal"}], input_shape=[1, 8]
        )


def test_regularization_loss_matches_hand_computation():
    model = Sequential(
        [
            {"type": "dense", "units": 4, "kernel_regularizer": {"l2": 0.01}},
            {
                "type": "dense",
                "units": 2,
                "kernel_regularizer": {"l1": 0.1},
                "bias_regularizer": {"l2": 1.0},
            },
        ],
        input_shape=[3],
    )
    a, b = model.layers["dense_1"], model.layers["dense_2"]
    expected = 0.01 * a.weight.pow(2).sum() + 0.1 * b.weight.abs().sum() + b.bias.pow(2).sum()
    assert torch.allclose(model.regularization_loss(), expected)
    model.regularization_loss().backward()
    assert a.weight.grad is not None and a.bias.grad is None


def test_no_regularizers_means_none():
    assert (
        Sequential([{"type": "dense", "units": 4}], input_shape=[3]).regularization_loss() is None
    )
