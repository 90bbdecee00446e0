"""examples/shakespeare/char_gpt.yaml is nanoGPT's CPU recipe: the same layout and the 0.80 M
parameters nanoGPT prints.

nanoGPT's `get_num_params()` leaves out the position table (`wpe`) and counts the tied
head/embedding once; its vocabulary is the 65 characters, brickwork's adds <pad> and <unk>.
"""

from pathlib import Path

import torch
import yaml

from brickwork.models import build_model

SPEC = Path(__file__).resolve().parents[1] / "examples" / "shakespeare" / "char_gpt.yaml"


def nanogpt_count(n_layer: int, n_embd: int, vocab: int) -> int:
    """nanoGPT model.py with bias=False: per block ln_1, c_attn (3d x d), c_proj (d x d), ln_2,
    c_fc (4d x d), c_proj (d x 4d); then ln_f and wte (= lm_head); wpe excluded."""
    block = 2 * n_embd + 3 * n_embd**2 + n_embd**2 + 4 * n_embd**2 + 4 * n_embd**2
    return n_layer * block + n_embd + vocab * n_embd


def test_the_spec_has_nanogpts_parameter_count():
    spec = yaml.safe_load(SPEC.read_text())
    model = build_model(spec["model"])
    total = sum(p.numel() for p in model.parameters())  # a tied tensor counts once
    positions = 64 * 128
    extra_ids = 2 * 128  # <pad> and <unk> rows of the tied embedding
    ln_f_bias = 128  # brickwork's layernorm always has a bias; nanoGPT's has none
    assert nanogpt_count(4, 128, 65) == 795_904
    assert total == 804_480 == nanogpt_count(4, 128, 65) + positions + extra_ids + ln_f_bias
    assert f"{(total - positions) / 1e6:.2f}M" == "0.80M"  # counted as nanoGPT prints it


def test_the_head_is_tied_to_the_embedding_and_only_the_final_norm_has_a_bias():
    spec = yaml.safe_load(SPEC.read_text())
    model = build_model(spec["model"])
    names = [name for name, _ in model.named_parameters()]
    assert [n for n in names if n.endswith("bias")] == ["layers.layernorm_1.bias"]
    tables = [p for p in model.parameters() if p.shape == (67, 128)]
    assert len(tables) == 1  # the head uses the embedding's table, not a copy of it
    logits = model(torch.randint(2, 67, (2, 64)))
    assert logits.shape == (2, 64, 67)
