"""model.tie_weights: one shared embedding/output matrix, counted once, saved and loaded tied."""

from __future__ import annotations

import pytest
import torch

from brickwork.errors import BrickworkError
from brickwork.models.build import build_model
from brickwork.models.io import load, save_model
from brickwork.models.summary import summary


def spec(**extra):
    return {
        "input_shape": [6],
        "tie_weights": True,
        "layers": [
            {"type": "embedding", "input_dim": 11, "output_dim": 8},
            {"type": "transformer_block", "num_heads": 2, "causal": True},
            {"type": "layernorm"},
            {"type": "dense", "units": 11},
            *extra.get("tail", []),
        ],
    }


def test_tied_weight_is_one_parameter_counted_once():
    model = build_model(spec(tail=["softmax"]))
    untied = build_model({**spec(tail=["softmax"]), "tie_weights": False})
    assert model.layers["dense_1"].weight is model.layers["embedding_1"].weight
    total = sum(p.numel() for p in model.parameters())
    assert total == sum(p.numel() for p in untied.parameters()) - 11 * 8
    table = summary(model)
    assert table["total_params"] == total == sum(r["params"] for r in table["layers"])
    assert next(r for r in table["layers"] if r["name"] == "dense_1")["params"] == 11  # bias only


def test_save_and_load_keep_the_tie(tmp_path):
    model = build_model(spec())
    with torch.no_grad():
        model.layers["embedding_1"].weight.normal_()
    path = save_model(model, tmp_path / "gpt.safetensors")
    back = load(path)
    assert back.layers["dense_1"].weight is back.layers["embedding_1"].weight
    ids = torch.randint(0, 11, (2, 6))
    torch.testing.assert_close(back(ids), model.eval()(ids))
    with torch.no_grad():  # the tie survives training: one update moves both uses
        back.layers["embedding_1"].weight.add_(1.0)
    assert torch.equal(back.layers["dense_1"].weight, back.layers["embedding_1"].weight)


def test_a_file_whose_tied_copies_differ_is_refused(tmp_path):
    import safetensors.torch

    model = build_model(spec())
    path = save_model(model, tmp_path / "gpt.safetensors")
    header = safetensors.safe_open(path, "pt").metadata()
    tensors = safetensors.torch.load(path.read_bytes())
    tensors["layers.dense_1.weight"] = tensors["layers.dense_1.weight"] + 1
    path.write_bytes(safetensors.torch.save(tensors, metadata=header))
    with pytest.raises(BrickworkError, match="ties"):
        load(path)


@pytest.mark.parametrize(
    ("layers", "words"),
    [
        ([{"type": "embedding", "input_dim": 11, "output_dim": 8}, {"type": "dense", "units": 5}],
         ["11 tokens of width 8", "units: 11"]),
        ([{"type": "dense", "units": 4}], ["needs an embedding"]),
    ],
)  # fmt: skip
def test_tying_mismatched_layers_names_them(layers, words):
    with pytest.raises(BrickworkError) as err:
        build_model({"input_shape": [6], "tie_weights": True, "layers": layers})
    assert all(w in str(err.value) for w in words), str(err.value)
