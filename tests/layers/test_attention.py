"""multi_head_attention and transformer_block against PyTorch references: outputs, gradients,
parameter counts, MACs, masks and the errors of bad settings."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from brickwork.errors import BrickworkError
from brickwork.models.build import Graph, Sequential
from brickwork.models.summary import summary

E, H, T = 16, 4, 7


def _self_attention(causal=False, **fields):
    return Sequential(
        [{"type": "multi_head_attention", "num_heads": H, "causal": causal, **fields}],
        input_shape=[T, E],
    )


def _reference_like(mha) -> nn.MultiheadAttention:
    ref = nn.MultiheadAttention(E, H, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(mha.in_proj.weight)
        ref.in_proj_bias.copy_(mha.in_proj.bias)
        ref.out_proj.weight.copy_(mha.out_proj.weight)
        ref.out_proj.bias.copy_(mha.out_proj.bias)
    return ref


def _grads(module: nn.Module) -> list[torch.Tensor]:
    return [p.grad.clone() for p in module.parameters()]


@pytest.mark.parametrize("causal", [False, True])
def test_self_attention_equals_nn_multihead_attention_outputs_and_gradients(causal):
    torch.manual_seed(0)
    model = _self_attention(causal)
    mha = model.layers["multi_head_attention_1"]
    ref = _reference_like(mha)
    x = torch.randn(3, T, E, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    ours = model(x)
    mask = torch.ones(T, T, dtype=torch.bool).triu(1) if causal else None
    theirs = ref(x_ref, x_ref, x_ref, attn_mask=mask, need_weights=False)[0]
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    weights = torch.randn_like(ours)
    (ours * weights).sum().backward()
    (theirs * weights).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad, atol=1e-5, rtol=1e-5)
    ours_g = dict(zip(["in_w", "in_b", "out_w", "out_b"], _grads(mha), strict=True))
    ref_g = [ref.in_proj_weight.grad, ref.in_proj_bias.grad]
    ref_g += [ref.out_proj.weight.grad, ref.out_proj.bias.grad]
    for got, want in zip(ours_g.values(), ref_g, strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    count = sum(p.numel() for p in model.parameters())
    assert count == sum(p.numel() for p in ref.parameters()) == 4 * E * E + 4 * E
    assert summary(model)["total_params"] == count


def test_mask_zero_becomes_the_key_padding_mask_and_padding_changes_nothing():
    torch.manual_seed(1)
    model = Sequential(
        [
            {"type": "embedding", "input_dim": 20, "output_dim": E, "mask_zero": True},
            {"type": "multi_head_attention", "num_heads": H},
        ],
        input_shape=[None],
    ).eval()
    ids = torch.tensor([[5, 3, 9, 2, 0, 0, 0], [4, 0, 7, 7, 1, 0, 0]])  # a 0 mid-sequence too
    ours = model(ids)
    mha = model.layers["multi_head_attention_1"]
    ref = _reference_like(mha)
    emb = model.layers["embedding_1"](ids)
    theirs = ref(emb, emb, emb, key_padding_mask=ids == 0, need_weights=False)[0]
    real = ids != 0
    torch.testing.assert_close(ours[real], theirs[real], atol=1e-5, rtol=1e-5)
    assert torch.all(ours[~real] == 0)
    # the first row without its padding gives the same outputs at its real steps
    alone = model(ids[:1, :4])
    torch.testing.assert_close(alone[0], ours[0, :4], atol=1e-5, rtol=1e-5)


def test_causal_attention_with_padding_never_gives_nan():
    model = Sequential(
        [
            {"type": "embedding", "input_dim": 9, "output_dim": E, "mask_zero": True},
            {"type": "transformer_block", "num_heads": H, "causal": True},
        ],
        input_shape=[None],
    )
    out = model(torch.tensor([[0, 0, 3, 4], [1, 2, 0, 0]]))  # left and right padding
    assert torch.isfinite(out).all()


def test_cross_attention_in_a_graph_equals_nn_multihead_attention_with_kdim():
    torch.manual_seed(2)
    model = Graph(
        [{"type": "multi_head_attention", "num_heads": H, "inputs": ["query", "memory"]}],
        inputs={"query": [5, E], "memory": [9, 12]},
    )
    mha = model.layers["multi_head_attention_1"]
    assert model.output_shape == [5, E]
    ref = nn.MultiheadAttention(E, H, kdim=12, vdim=12, batch_first=True)
    with torch.no_grad():
        ref.q_proj_weight.copy_(mha.q_proj.weight)
        k_w, v_w = mha.kv_proj.weight.chunk(2)
        ref.k_proj_weight.copy_(k_w)
        ref.v_proj_weight.copy_(v_w)
        ref.in_proj_bias.copy_(torch.cat([mha.q_proj.bias, mha.kv_proj.bias]))
        ref.out_proj.weight.copy_(mha.out_proj.weight)
        ref.out_proj.bias.copy_(mha.out_proj.bias)
    q, m = torch.randn(2, 5, E), torch.randn(2, 9, 12, requires_grad=True)
    m_ref = m.detach().clone().requires_grad_(True)
    ours, theirs = model(q, m), ref(q, m_ref, m_ref, need_weights=False)[0]
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    ours.sum().backward()
    theirs.sum().backward()
    torch.testing.assert_close(m.grad, m_ref.grad, atol=1e-5, rtol=1e-5)
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in ref.parameters())
    # MACs by hand: q and out projections on 5 steps, k and v on 9, then QK^T and AV
    assert summary(model)["total_macs"] == 5 * E * E * 2 + 9 * 12 * E * 2 + 2 * 5 * 9 * E


class NanoBlock(nn.Module):
    """nanoGPT's Block (model.py): LayerNorm, CausalSelfAttention, MLP with GELU."""

    def __init__(self, n_embd, n_head, bias=True):
        super().__init__()
        self.n_head = n_head
        self.ln_1 = nn.LayerNorm(n_embd, bias=bias)
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=bias)
        self.c_proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.ln_2 = nn.LayerNorm(n_embd, bias=bias)
        self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=bias)
        self.mlp_proj = nn.Linear(4 * n_embd, n_embd, bias=bias)

    def attn(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
        y = F.softmax(att, dim=-1) @ v
        return self.c_proj(y.transpose(1, 2).contiguous().view(b, t, c))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


@pytest.mark.parametrize("bias", [True, False])
def test_transformer_block_equals_nanogpt_block(bias):
    torch.manual_seed(3)
    model = Sequential(
        [{"type": "transformer_block", "num_heads": H, "causal": True, "bias": bias}],
        input_shape=[T, E],
    )
    block = model.layers["transformer_block_1"]
    ref = NanoBlock(E, H, bias)
    pairs = [
        (ref.ln_1, block.norm1),
        (ref.c_attn, block.attn.in_proj),
        (ref.c_proj, block.attn.out_proj),
        (ref.ln_2, block.norm2),
        (ref.c_fc, block.mlp[0]),
        (ref.mlp_proj, block.mlp[2]),
    ]
    with torch.no_grad():
        for theirs, ours in pairs:
            theirs.load_state_dict(ours.state_dict())
    x = torch.randn(2, T, E, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    ours, theirs = model(x), ref(x_ref)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    ours.pow(2).sum().backward()
    theirs.pow(2).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad, atol=1e-4, rtol=1e-4)
    for theirs_m, ours_m in pairs:
        for a, b in zip(theirs_m.parameters(), ours_m.parameters(), strict=True):
            torch.testing.assert_close(a.grad, b.grad, atol=1e-4, rtol=1e-4)
    count = sum(p.numel() for p in model.parameters())
    assert count == sum(p.numel() for p in ref.parameters()) == summary(model)["total_params"]
    # 12 E^2 weights per block (+ 13 E biases and norms with bias, 2 E norm scales without)
    assert count == 12 * E * E + (13 * E if bias else 2 * E)
    # MACs by hand: qkv + out projections, QK^T and AV, then the 4x MLP, over T steps
    assert summary(model)["total_macs"] == T * 4 * E * E + 2 * T * T * E + T * 8 * E * E


def test_rmsnorm_block_and_layer_use_torch_rmsnorm():
    model = Sequential(
        [{"type": "transformer_block", "num_heads": 2, "norm": "rmsnorm"}, {"type": "rmsnorm"}],
        input_shape=[None, 8],
    )
    assert isinstance(model.layers["rmsnorm_1"], nn.RMSNorm)
    assert isinstance(model.layers["transformer_block_1"].norm1, nn.RMSNorm)
    x = torch.randn(2, 3, 8)
    want = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + torch.finfo(x.dtype).eps)
    torch.testing.assert_close(model.layers["rmsnorm_1"](x), want)


def test_rotary_attention_scores_depend_only_on_relative_position():
    from brickwork.layers.attention import rotate

    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)
    scores = [(rotate(q, a) * rotate(k, a - 3)).sum() for a in (3, 10, 50)]
    torch.testing.assert_close(scores[0], scores[1])
    torch.testing.assert_close(scores[0], scores[2])
    assert not torch.allclose((rotate(q, 5) * rotate(k, 0)).sum(), scores[0])


@pytest.mark.parametrize(
    ("layers", "shape", "words"),
    [
        ([{"type": "multi_head_attention", "num_heads": 3}], [T, E], ["3 heads", "16"]),
        (
            [{"type": "transformer_block", "num_heads": 4, "rotary": True}],
            [T, 12],
            ["rotary", "odd width 3"],
        ),
        ([{"type": "dense", "units": 8}, {"type": "transformer_block", "num_heads": 2}], [6], []),
        ([{"type": "multi_head_attention", "num_heads": 4, "embed_dim": 6}], [T, E], ["6"]),
    ],
)
def test_bad_settings_raise_one_paragraph_naming_the_layer(layers, shape, words):
    with pytest.raises(BrickworkError) as err:
        Sequential(layers, input_shape=shape)
    text = str(err.value)
    assert "\n" not in text and f"'{layers[-1]['type']}_1'" in text
    assert all(w in text for w in words), text


def test_causal_cross_attention_between_different_lengths_is_refused():
    with pytest.raises(BrickworkError, match="causal cross attention.*causal: false"):
        Graph(
            [{"type": "mha", "num_heads": 2, "causal": True, "inputs": ["q", "kv"], "name": "x"}],
            inputs={"q": [4, 8], "kv": [6, 8]},
        )
    with pytest.raises(BrickworkError, match="rotary"):
        Graph(
            [{"type": "mha", "num_heads": 2, "rotary": True, "inputs": ["q", "kv"]}],
            inputs={"q": [4, 8], "kv": [6, 8]},
        )


def test_cross_attention_takes_the_padding_mask_of_its_keys_embedding():
    torch.manual_seed(4)
    model = Graph(
        [
            {"type": "embedding", "input_dim": 9, "output_dim": E, "inputs": "q", "name": "qe"},
            {"type": "embedding", "input_dim": 9, "output_dim": E, "mask_zero": True,
             "inputs": "m", "name": "me"},
            {"type": "mha", "num_heads": H, "inputs": ["qe", "me"], "name": "cross"},
        ],
        inputs={"q": [None], "m": [None]},
    )  # fmt: skip
    cross = model.layers["cross"]
    ref = nn.MultiheadAttention(E, H, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([cross.q_proj.weight, cross.kv_proj.weight]))
        ref.in_proj_bias.copy_(torch.cat([cross.q_proj.bias, cross.kv_proj.bias]))
        ref.out_proj.load_state_dict(cross.out_proj.state_dict())
    q, m = torch.tensor([[1, 2, 3], [4, 5, 6]]), torch.tensor([[3, 4, 0, 0, 0], [5, 0, 6, 7, 0]])
    qe, me = model.layers["qe"](q), model.layers["me"](m)
    want = ref(qe, me, me, key_padding_mask=m == 0, need_weights=False)[0]
    torch.testing.assert_close(model(q, m), want, atol=1e-5, rtol=1e-5)


def test_step_refuses_non_causal_attention_instead_of_making_it_causal():
    """`step` carries a KV cache, which only causal self-attention can use: a non-causal
    layer would see later steps in `model(x)` but not in `step(x)` (different numbers)."""
    model = Sequential(
        [{"type": "embedding", "input_dim": 11, "output_dim": 8}, {"type": "mha", "num_heads": 2}],
        input_shape=[6],
    )
    with pytest.raises(BrickworkError, match="causal"):
        model.step(torch.randint(0, 11, (1, 6)))


def test_rotary_tables_shared_by_queries_and_keys_equal_separate_rotation():
    from brickwork.layers.attention import rotary_tables, rotate

    x = torch.randn(2, 3, 7, 8)
    tables = rotary_tables(7, 8, 4, x.device, x.dtype)
    torch.testing.assert_close(rotate(x, tables=tables), rotate(x, 4))
