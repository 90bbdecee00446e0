"""pt2 and ONNX export of attention models, checked for parity by export_model itself and
here again on a sequence length the export never saw."""

from __future__ import annotations

import pytest
import torch

from brickwork.export.exporters import export_model
from brickwork.export.formats import runner
from brickwork.models.build import Sequential


def gpt(steps, mask_zero=False, rotary=False, positions="learned"):
    torch.manual_seed(0)
    layers = [{"type": "embedding", "input_dim": 17, "output_dim": 16, "mask_zero": mask_zero}]
    if positions:
        layers.append({"type": "positional_embedding", "kind": positions, "max_length": 32})
    layers += [
        {"type": "transformer_block", "num_heads": 2, "causal": True, "rotary": rotary},
        {"type": "multi_head_attention", "num_heads": 4},
        {"type": "rmsnorm"},
        {"type": "dense", "units": 17},
    ]
    return Sequential(layers, input_shape=[steps])


@pytest.mark.parametrize("fmt", ["onnx", "pt2"])
@pytest.mark.parametrize(
    ("steps", "fields"),
    [(8, {}), (None, {"rotary": True, "positions": "sinusoidal"}), (None, {"mask_zero": True})],
)
def test_attention_model_exports_with_parity_and_a_dynamic_length(tmp_path, fmt, steps, fields):
    model = gpt(steps, **fields).eval()
    path = tmp_path / f"gpt.{fmt}"
    report = export_model(model, path, fmt, dynamic_steps=True)
    assert report["ok"] and path.is_file()
    run = runner(path, fmt, model)
    ids = torch.randint(1, 17, (3, 11))
    if fields.get("mask_zero"):
        ids[0, 6:] = 0
    want = model(ids)
    got = torch.as_tensor(run([ids])[0])
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
