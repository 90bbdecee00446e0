"""Every example spec builds, runs a forward pass and has the tutorial's parameter count."""

import pytest
import torch

from brickwork.cli.model_cmds import model_from_file
from tests.conftest import EXAMPLES

EXPECTED = {
    "mnist_cnn_a.yaml": 3_199_106,
    "mnist_cnn_b.yaml": 421_642,
    "cifar10_lenet.yaml": 62_006,
    "cifar10_cnn.yaml": 145_578,
    "mlp_784_512_10.yaml": 407_050,
    "mlp_784_512_10_softmax.yaml": 407_050,
    "mlp_784_256_128_10.yaml": 235_146,
    "keras_cnn.yaml": 93_322,
    "text_classifier.yaml": 688_001,
    "cifar10_resnet.yaml": 115_370,
    "digits_cnn.yaml": 151_306,
}


@pytest.mark.parametrize("name,params", sorted(EXPECTED.items()))
def test_example_builds_runs_and_counts(name, params):
    model = model_from_file(str(EXAMPLES / name)).eval()
    assert sum(p.numel() for p in model.parameters()) == params
    with torch.no_grad():
        out = model(*model.example_input(batch=2))
    assert list(out.shape[1:]) == model.layer_info[-1]["output_shape"]


def test_every_example_model_spec_is_listed():
    from brickwork.spec.load import read_spec_file

    with_models = {p.name for p in EXAMPLES.glob("*.yaml") if "model" in read_spec_file(p)}
    assert with_models <= set(EXPECTED), with_models - set(EXPECTED)
