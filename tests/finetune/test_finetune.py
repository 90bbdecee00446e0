"""Freezing, head replacement and pretrained loading (the model side of fine-tuning)."""

from collections import OrderedDict

import pytest
import torch
from torch import nn

from brickwork.errors import BrickworkError
from brickwork.finetune import freeze, frozen_layers, load_pretrained, replace_head, unfreeze
from brickwork.models import Sequential, summary


def cnn():
    torch.manual_seed(0)
    return Sequential(
        [
            {"type": "conv2d", "filters": 4, "kernel_size": 3, "name": "c1"},
            "batchnorm2d",
            "relu",
            {"type": "conv2d", "filters": 4, "kernel_size": 3, "name": "c2"},
            "flatten",
            {"type": "dense", "units": 8, "name": "fc", "activation": "relu"},
            {"type": "dense", "units": 10, "name": "head"},
        ],
        input_shape=[1, 8, 8],
    )


def test_freeze_by_name_glob_and_all_but_last():
    model = cnn()
    assert freeze(model, "c*") == ["c1", "c2"]
    assert frozen_layers(model) == ["c1", "c2"]
    unfreeze(model)
    assert frozen_layers(model) == []
    freeze(model, all_but_last=2)
    assert frozen_layers(model) == ["c1", "batchnorm2d_1", "c2"]
    assert summary(model)["frozen_params"] == sum(
        p.numel()
        for n, p in model.named_parameters()
        if not n.startswith(("layers.fc", "layers.head"))
    )


def test_unknown_layer_pattern_is_an_error():
    with pytest.raises(BrickworkError, match="no layer matches 'c3'"):
        freeze(cnn(), ["c3"])


def test_frozen_batchnorm_keeps_its_statistics_in_training():
    model = cnn()
    freeze(model, ["batchnorm2d_1"])
    model.train()
    bn = model.layers["batchnorm2d_1"]
    before = bn.running_mean.clone()
    model(torch.randn(16, 1, 8, 8) * 5 + 3)
    assert torch.equal(bn.running_mean, before) and not bn.training


def test_replace_head_keeps_backbone_and_freezing():
    model = cnn()
    freeze(model, all_but_last=1)
    new = replace_head(model, 3)
    assert new.layer_info[-1]["output_shape"] == [3]
    assert torch.equal(new.layers["c1"].weight, model.layers["c1"].weight)
    assert frozen_layers(new) == frozen_layers(model)
    assert all(p.requires_grad for p in new.layers["head"].parameters())
    assert new(torch.randn(2, 1, 8, 8)).shape == (2, 3)


def test_load_pretrained_from_plain_pytorch_by_order(tmp_path):
    plain = nn.Sequential(
        OrderedDict(
            conv=nn.Conv2d(1, 4, 3),
            bn=nn.BatchNorm2d(4),
            act=nn.ReLU(),
            conv2=nn.Conv2d(4, 4, 3),
            flat=nn.Flatten(),
            fc=nn.Linear(64, 8),
            act2=nn.ReLU(),
            out=nn.Linear(8, 10),
        )
    )
    torch.save(plain.state_dict(), tmp_path / "w.pt")
    model = cnn()
    report = load_pretrained(model, tmp_path / "w.pt", by_order=True)
    assert not report["missing"] or report["missing"] == [
        "layers.batchnorm2d_1.num_batches_tracked"
    ]
    x = torch.randn(2, 1, 8, 8)
    assert torch.allclose(model.eval()(x), plain.eval()(x), atol=1e-6)


def test_load_pretrained_with_key_map_and_report(tmp_path):
    model = cnn()
    state = {k.replace("layers.", "backbone."): v for k, v in model.state_dict().items()}
    state["backbone.head.weight"] = torch.zeros(5, 8)
    from safetensors.torch import save_file

    save_file(state, str(tmp_path / "w.safetensors"))
    report = load_pretrained(cnn(), tmp_path / "w.safetensors", key_map={"backbone.": "layers."})
    assert any(m.startswith("layers.head.weight") for m in report["mismatched"])
    assert "layers.c1.weight" in report["matched"]
    with pytest.raises(BrickworkError, match="do not fit"):
        load_pretrained(
            cnn(), tmp_path / "w.safetensors", key_map={"backbone.": "layers."}, strict=True
        )


def test_pickled_objects_are_refused(tmp_path):
    torch.save({"model": nn.Linear(2, 2)}, tmp_path / "evil.pt")  # a whole module: needs unpickling
    with pytest.raises(BrickworkError, match="weights_only=True"):
        load_pretrained(cnn(), tmp_path / "evil.pt")
