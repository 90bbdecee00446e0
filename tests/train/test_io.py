"""Model files and checkpoints: safetensors + JSON only, atomic, with mismatch reports."""

import json
import struct

import pytest
import torch
from torch import nn

from brickwork.errors import BrickworkError
from brickwork.models import build_model
from brickwork.models.io import load, save_model
from brickwork.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state

SPEC = {
    "input_shape": [1, 8, 8],
    "layers": [
        {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": 1},
        "relu",
        "flatten",
        {"type": "dense", "units": 10},
    ],
}


def assert_plain_safetensors(path):
    """The file is exactly an 8-byte length, a JSON header and raw tensor bytes: no room for a
    pickle.
    """
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])
    end = max(v["data_offsets"][1] for k, v in header.items() if k != "__metadata__")
    assert 8 + size + end == len(data)
    assert b"\x80\x02" not in data[: 8 + size] and b"torch._utils" not in data
    return header


def test_model_file_roundtrip_rebuilds_from_spec(tmp_path):
    model = build_model(SPEC)
    path = save_model(
        model,
        tmp_path / "m.safetensors",
        class_names=list("abcdefghij"),
        preprocessing={"scale": 1 / 16},
    )
    header = assert_plain_safetensors(path)
    meta = json.loads(header["__metadata__"]["brickwork"])
    assert (
        meta["model_spec"]["layers"][0]["filters"] == 4
        and meta["versions"]["torch"] == torch.__version__
    )
    loaded = load(path)
    assert loaded.card.class_names[0] == "a"
    x = torch.randn(3, 1, 8, 8)
    assert torch.equal(loaded(x), model.eval()(x))
    assert list(tmp_path.iterdir()) == [path]  # the atomic write left no temp file


def test_mismatched_architecture_lists_the_tensors(tmp_path):
    path = save_model(build_model(SPEC), tmp_path / "m.safetensors")
    other = build_model(
        {
            **SPEC,
            "layers": [
                *SPEC["layers"][:-1],
                {"type": "dense", "units": 5},
                {"type": "dense", "units": 2},
            ],
        }
    )
    with pytest.raises(BrickworkError) as e:
        load(path, model=other)
    text = str(e.value)
    assert "different shapes" in text and "[10, 256]" in text and "missing from the file" in text


def test_plain_module_needs_the_module_to_load(tmp_path):
    module = nn.Linear(3, 2)
    path = save_model(module, tmp_path / "plain.safetensors")
    with pytest.raises(BrickworkError, match="plain nn.Module"):
        load(path)
    assert torch.equal(load(path, model=nn.Linear(3, 2)).weight, module.weight)


def test_not_a_model_file(tmp_path):
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"\x80\x04not safetensors")
    with pytest.raises(BrickworkError, match="not a readable .safetensors"):
        load(bad)


def test_checkpoint_holds_optimizer_and_rng_without_pickle(tmp_path):
    model = nn.Linear(4, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.randn(5, 4)).sum().backward()
    opt.step()
    state = {
        "epoch": 3,
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "rng": rng_state(),
        "history": {"loss": [1.0, float("inf")]},
    }
    path = save_checkpoint(tmp_path / "ckpt.safetensors", state, {"model_spec": None})
    assert_plain_safetensors(path)
    expected = torch.rand(3)
    back = load_checkpoint(path)
    set_rng_state(back["rng"])
    # the RNG was saved before the draw above, so restoring it repeats the draw
    assert torch.equal(torch.rand(3), expected)
    opt2 = torch.optim.Adam(nn.Linear(4, 2).parameters(), lr=0.1)
    opt2.load_state_dict(back["optimizer"])
    assert torch.equal(
        opt2.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"]
    )
    assert list(opt2.param_groups[0]["betas"]) == list(opt.param_groups[0]["betas"])
    assert back["epoch"] == 3 and back["history"]["loss"][1] == float("inf")
    with pytest.raises(BrickworkError, match="model file, not a training checkpoint"):
        load_checkpoint(save_model(model, tmp_path / "m.safetensors"))
