"""Multi-head attention and the pre-norm transformer block, on [steps, features] inputs.

Attention runs through `torch.nn.functional.scaled_dot_product_attention`. Its state for
generation is a KV cache: `forward_with_state(x, cache)` appends the new keys and values
to the cached ones, so feeding a sequence in pieces gives the outputs of feeding it whole
(for causal attention, the only kind generation accepts).

Rotary position embeddings are a flag on the attention (`rotary: true`), not a layer of
their own: they rotate the queries and keys inside the attention, after the projections,
so no layer before the attention could apply them; a flag also gives them the cache's
position offset for free.

The key-padding mask is the token mask of an `embedding` with `mask_zero: true` (the model
hands it over as `mask`, True for real tokens): padded keys are never attended to, and the
outputs at padded query positions are zeros, as recurrent layers give.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from brickwork.errors import BrickworkError
from brickwork.layers.registry import Built, LayerConfig, ShapeError, fmt, need_rank, register

ROTARY_BASE = 10000.0


def rotary_tables(steps: int, dim: int, offset: int, device, dtype) -> tuple:
    """cos and sin [steps, dim // 2] of the rotary angles for positions offset .. offset + steps
    - 1 (frequencies ROTARY_BASE ** (-i / half))."""
    half = dim // 2
    freqs = ROTARY_BASE ** (-torch.arange(half, device=device, dtype=torch.float32) / half)
    positions = torch.arange(steps, device=device, dtype=torch.float32) + offset
    angles = positions[:, None] * freqs[None, :]
    return angles.cos().to(dtype), angles.sin().to(dtype)


def rotate(x: torch.Tensor, offset: int = 0, tables: tuple | None = None) -> torch.Tensor:
    """Rotary position embedding (RoFormer, GPT-NeoX's half-split form) of x [B, H, T, D]
    for positions offset .. offset + T - 1; `tables` (from rotary_tables) when already made."""
    cos, sin = tables or rotary_tables(x.shape[-2], x.shape[-1], offset, x.device, x.dtype)
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class MultiHeadAttention(nn.Module):
    """Self-attention (one input) or cross attention (query, then keys/values), projected
    back to the query's width so a residual connection fits."""

    def __init__(self, query_dim, context_dim, embed_dim, num_heads, *, causal, dropout, bias,
                 rotary, cross):  # fmt: skip
        super().__init__()
        self.num_heads, self.embed_dim = num_heads, embed_dim
        self.causal, self.dropout, self.rotary, self.cross = causal, dropout, rotary, cross
        if cross:
            self.q_proj = nn.Linear(query_dim, embed_dim, bias=bias)
            self.kv_proj = nn.Linear(context_dim, 2 * embed_dim, bias=bias)
        else:
            self.in_proj = nn.Linear(query_dim, 3 * embed_dim, bias=bias)
        self.out_proj = nn.Linear(embed_dim, query_dim, bias=bias)

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        b, steps, _ = t.shape
        return t.view(b, steps, self.num_heads, -1).transpose(1, 2)

    def _project(self, x, context, offset: int = 0):
        if self.cross:
            q = self.q_proj(x)
            k, v = self.kv_proj(context).chunk(2, dim=-1)
        else:
            q, k, v = self.in_proj(x).chunk(3, dim=-1)
        q, k, v = self._heads(q), self._heads(k), self._heads(v)
        if self.rotary:  # one table for queries and keys of the same length
            tables = rotary_tables(q.shape[-2], q.shape[-1], offset, q.device, q.dtype)
            q = rotate(q, tables=tables)
            k = rotate(k, tables=tables) if k.shape[-2] == q.shape[-2] else rotate(k, offset)
        return q, k, v

    def _attend(self, q, k, v, allowed=None, causal=False):
        y = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=allowed,
            dropout_p=self.dropout if self.training else 0.0,
            is_causal=causal and allowed is None,
        )
        b, _, steps, _ = y.shape
        return self.out_proj(y.transpose(1, 2).reshape(b, steps, self.embed_dim))

    def forward(self, x, context=None, *, mask=None, context_mask=None):
        """x [B, Tq, Eq] (and context [B, Tk, Ek] for cross attention) -> [B, Tq, Eq].
        `mask`/`context_mask` [B, T] are True at real tokens (None: no padding)."""
        if self.cross and context is None:
            raise BrickworkError(
                "cross attention needs two inputs, the query and the keys/values; list both "
                "under `inputs:`"
            )
        context = context if self.cross else x
        key_mask = context_mask if self.cross else mask
        if self.causal and self.cross and x.shape[1] != context.shape[1]:
            raise BrickworkError(
                f"causal cross attention needs a query as long as its keys, got {x.shape[1]} "
                f"and {context.shape[1]} steps; set causal: false"
            )
        checks = () if torch.jit.is_tracing() else ((mask, x), (key_mask, context))
        for m, t in checks:
            if m is not None and m.shape[1] != t.shape[1]:
                raise BrickworkError(
                    f"the padding mask of `mask_zero` covers {m.shape[1]} steps but the attention "
                    f"receives {t.shape[1]}; a layer between the embedding and the attention "
                    "changed the number of steps, so drop mask_zero or that layer"
                )
        q, k, v = self._project(x, context)
        allowed = None
        if key_mask is not None:
            allowed = key_mask[:, None, None, :].to(torch.bool)
            if self.causal:
                allowed = allowed & _causal(x.shape[1], k.shape[2], 0, x.device)
            # every query may see itself, so a padded query never has nothing to attend to
            # (its output is zeroed below) and a real one loses nothing
            if not self.cross:
                allowed = allowed | torch.eye(x.shape[1], dtype=torch.bool, device=x.device)
            else:  # keys/values all padding: attend to them all rather than return NaN
                allowed = allowed | ~allowed.any(-1, keepdim=True)
        y = self._attend(q, k, v, allowed, self.causal)
        if mask is not None:
            y = y * mask[:, :, None].to(y.dtype)
        return y

    def forward_with_state(self, x, cache=None):
        """Causal self-attention on new steps x, after the cached keys and values
        (a tensor [2, B, H, T, D], batch on axis 1 like recurrent states; None: none yet).
        Returns the outputs and the longer cache."""
        if not self.causal or self.cross:
            raise BrickworkError(
                f"step (carrying a KV cache) runs causal self-attention only, but this layer has "
                f"causal={self.causal}, cross={self.cross}: each step would see steps it is not "
                "given yet. Call the model on whole sequences, or train it with causal: true."
            )
        past = 0 if cache is None else cache.shape[3]
        q, k, v = self._project(x, None, past)
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
        steps = x.shape[1]
        allowed = _causal(steps, past + steps, past, x.device) if past and steps > 1 else None
        y = self._attend(q, k, v, allowed, causal=past == 0)
        return y, torch.stack([k, v])

    def extra_repr(self):
        return (
            f"num_heads={self.num_heads}, embed_dim={self.embed_dim}, causal={self.causal}, "
            f"rotary={self.rotary}, cross={self.cross}"
        )


def _causal(queries: int, keys: int, past: int, device) -> torch.Tensor:
    """[queries, keys] True where query i (at position past + i) may see key j (j <= it)."""
    q = torch.arange(queries, device=device)[:, None] + past
    return torch.arange(keys, device=device)[None, :] <= q


class AttentionConfig(LayerConfig):
    num_heads: int = Field(gt=0)
    embed_dim: int | None = Field(
        None, gt=0, description="width of queries, keys and values (default: the input's)"
    )
    causal: bool = Field(False, description="each step sees only itself and earlier steps")
    dropout: float = Field(0.0, ge=0, lt=1, description="on the attention weights")
    bias: bool = True
    rotary: bool = Field(False, description="rotary position embedding of queries and keys")


def _features(shape, what: str) -> int:
    fix = "add `embedding` before it for token ids, or `reshape` for a flat input"
    need_rank(shape, (2,), f"{what} as a [steps, features] sequence", fix)
    if shape[-1] is None:
        raise ShapeError(f"needs a known feature size but receives {fmt(shape)}")
    return shape[-1]


def check_heads(embed_dim: int, num_heads: int, rotary: bool) -> None:
    if embed_dim % num_heads:
        raise ShapeError(
            f"has width {embed_dim}, which {num_heads} heads cannot share evenly; choose "
            f"num_heads dividing {embed_dim} (or set embed_dim to a multiple of {num_heads})"
        )
    if rotary and (embed_dim // num_heads) % 2:
        raise ShapeError(
            f"uses rotary positions, which rotate pairs of features, but each of its {num_heads} "
            f"heads has an odd width {embed_dim // num_heads}; make embed_dim / num_heads even"
        )


def attention_macs(steps: int, context_steps: int, query_dim, context_dim, embed_dim):
    """Projections plus the two matmuls (Q K^T and weights x V), all computed in full."""
    projections = steps * query_dim * embed_dim * 2 + context_steps * context_dim * embed_dim * 2
    return projections + 2 * steps * context_steps * embed_dim


@register("multi_head_attention", AttentionConfig, positional=["num_heads"],
          aliases=["attention", "multiheadattention", "mha"], takes_many=True)  # fmt: skip
def multi_head_attention(cfg: AttentionConfig, shapes):
    """Self-attention on one input, cross attention on two (query, keys/values)."""
    if len(shapes) > 2:
        raise ShapeError(
            f"takes one input (self-attention) or two (query, keys/values) but `inputs:` lists "
            f"{len(shapes)}"
        )
    cross = len(shapes) == 2
    query, context = shapes[0], shapes[-1]
    query_dim = _features(query, "its query")
    context_dim = _features(context, "its keys/values")
    embed_dim = cfg.embed_dim or query_dim
    check_heads(embed_dim, cfg.num_heads, cfg.rotary)
    if cross and cfg.rotary:
        raise ShapeError(
            "uses rotary positions, which relate a query's and a key's positions in one "
            "sequence; cross attention reads two sequences, so set rotary: false"
        )
    if cross and cfg.causal and None not in (query[0], context[0]) and query[0] != context[0]:
        raise ShapeError(
            f"is causal cross attention between a {query[0]}-step query and {context[0]}-step "
            "keys, which has no meaning (causal compares positions in one sequence); set "
            "causal: false"
        )
    module = MultiHeadAttention(
        query_dim, context_dim, embed_dim, cfg.num_heads, causal=cfg.causal,
        dropout=cfg.dropout, bias=cfg.bias, rotary=cfg.rotary, cross=cross,
    )  # fmt: skip
    macs = attention_macs(query[0] or 1, context[0] or 1, query_dim, context_dim, embed_dim)
    return Built(module, tuple(query), macs)


class TransformerBlock(nn.Module):
    """Pre-norm block as in GPT-2 / nanoGPT: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, width, num_heads, hidden, *, causal, dropout, bias, rotary, norm, eps):
        super().__init__()
        make_norm = _norm(norm, width, eps, bias)
        self.norm1 = make_norm()
        self.attn = MultiHeadAttention(
            width, width, width, num_heads, causal=causal, dropout=dropout, bias=bias,
            rotary=rotary, cross=False,
        )  # fmt: skip
        self.norm2 = make_norm()
        self.mlp = nn.Sequential(
            nn.Linear(width, hidden, bias=bias), nn.GELU(), nn.Linear(hidden, width, bias=bias)
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x, *, mask=None):
        x = x + self.drop(self.attn(self.norm1(x), mask=mask))
        y = x + self.drop(self.mlp(self.norm2(x)))
        return y if mask is None else y * mask[:, :, None].to(y.dtype)

    def forward_with_state(self, x, cache=None):
        """As forward, continuing from the attention's KV cache; returns (output, cache)."""
        a, cache = self.attn.forward_with_state(self.norm1(x), cache)
        x = x + self.drop(a)
        return x + self.drop(self.mlp(self.norm2(x))), cache


def _norm(kind: str, width: int, eps: float, bias: bool):
    if kind == "rmsnorm":
        return lambda: nn.RMSNorm(width, eps=eps)
    return lambda: nn.LayerNorm(width, eps=eps, bias=bias)


class TransformerBlockConfig(LayerConfig):
    num_heads: int = Field(gt=0)
    mlp_ratio: float = Field(4.0, gt=0, description="MLP hidden width / model width")
    dropout: float = Field(0.0, ge=0, lt=1, description="on attention weights and residuals")
    causal: bool = Field(False, description="each step sees only itself and earlier steps")
    norm: Literal["layernorm", "rmsnorm"] = "layernorm"
    eps: float = Field(1e-5, gt=0, description="of the norms")
    bias: bool = Field(True, description="in the projections, MLP and layer norms")
    rotary: bool = Field(False, description="rotary position embedding in the attention")


@register("transformer_block", TransformerBlockConfig, positional=["num_heads"],
          aliases=["transformer"])  # fmt: skip
def transformer_block(cfg: TransformerBlockConfig, shape):
    """Pre-norm transformer block: norm, self-attention, residual; norm, MLP (GELU), residual."""
    width = _features(shape, "its input")
    check_heads(width, cfg.num_heads, cfg.rotary)
    hidden = round(cfg.mlp_ratio * width)
    module = TransformerBlock(
        width, cfg.num_heads, hidden, causal=cfg.causal, dropout=cfg.dropout, bias=cfg.bias,
        rotary=cfg.rotary, norm=cfg.norm, eps=cfg.eps,
    )  # fmt: skip
    steps = shape[0] or 1
    macs = attention_macs(steps, steps, width, width, width) + 2 * steps * width * hidden
    return Built(module, tuple(shape), macs)


def is_attention(module: nn.Module) -> bool:
    """Layers that take the key-padding mask and carry a KV cache in generation."""
    return isinstance(module, MultiHeadAttention | TransformerBlock)


def attention_of(module: nn.Module) -> MultiHeadAttention:
    """The attention inside a transformer block, or the attention layer itself."""
    return getattr(module, "attn", module)
