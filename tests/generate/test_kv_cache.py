"""Generation with a KV cache gives the very ids of re-running the whole (cropped) window."""

from __future__ import annotations

import pytest
import torch

from brickwork.errors import BrickworkError
from brickwork.generate import generate_ids, sample_next
from brickwork.models.build import Sequential

VOCAB, CONTEXT = 13, 8


def gpt(positions: str = "learned", rotary: bool = False, steps: int | None = CONTEXT):
    layers = [{"type": "embedding", "input_dim": VOCAB, "output_dim": 16}]
    if positions:
        layers.append({"type": "positional_embedding", "kind": positions, "max_length": CONTEXT})
    layers += [
        {"type": "transformer_block", "num_heads": 2, "causal": True, "rotary": rotary},
        {"type": "transformer_block", "num_heads": 2, "causal": True, "rotary": rotary},
        {"type": "layernorm"},
        {"type": "dense", "units": VOCAB},
    ]
    torch.manual_seed(0)
    return Sequential(layers, input_shape=[steps]).eval()


def uncached(model, prompt, length, seed, **options):
    """The plain loop: logits of the last CONTEXT tokens, re-run from scratch every step."""
    generator = torch.Generator().manual_seed(seed)
    ids = list(prompt)
    for _ in range(length):
        window = torch.tensor([ids[-CONTEXT:]])
        logits = model(window)[:, -1].clone()
        logits[:, 0] = float("-inf")
        ids.append(int(sample_next(logits, generator=generator, **options)))
    return ids[len(prompt) :]


@pytest.mark.parametrize(
    "options", [{}, {"temperature": 0.7, "top_k": 5}, {"top_p": 0.8}, {"temperature": 0}]
)
@pytest.mark.parametrize(("positions", "rotary"), [("learned", False), ("sinusoidal", True)])
def test_cached_generation_equals_rerunning_the_window_past_the_context(options, positions, rotary):
    model = gpt(positions, rotary)
    prompt, length = [3, 5, 7], 3 * CONTEXT  # runs well past the context length
    cached = list(generate_ids(model, prompt, length, seed=4, vocab_size=VOCAB, **options))
    assert cached == uncached(model, prompt, length, 4, **options)
    plain = generate_ids(model, prompt, length, seed=4, vocab_size=VOCAB, kv_cache=False, **options)
    assert cached == list(plain)


def test_a_prompt_longer_than_the_context_is_cut_to_its_last_tokens():
    model = gpt()
    prompt = [1 + i % 12 for i in range(3 * CONTEXT)]
    got = list(generate_ids(model, prompt, 5, seed=1, vocab_size=VOCAB))
    assert got == uncached(model, prompt, 5, 1)


def test_beam_search_with_the_cache_equals_beam_search_without():
    model = gpt()
    kw = {"beam": 3, "vocab_size": VOCAB}
    cached = list(generate_ids(model, [2, 4], 2 * CONTEXT, **kw))
    assert cached == list(generate_ids(model, [2, 4], 2 * CONTEXT, kv_cache=False, **kw))
    assert len(cached) == 2 * CONTEXT


def test_rotary_without_absolute_positions_keeps_a_growing_cache():
    model = gpt(positions="", rotary=True, steps=None)
    assert model.context_length is None
    prompt, length = [3, 1], 3 * CONTEXT
    cached = list(generate_ids(model, prompt, length, seed=2, vocab_size=VOCAB))
    plain = list(generate_ids(model, prompt, length, seed=2, vocab_size=VOCAB, kv_cache=False))
    assert cached == plain


def test_step_in_pieces_equals_one_pass_and_init_state_is_the_empty_cache():
    model = gpt()
    ids = torch.randint(1, VOCAB, (2, CONTEXT))
    whole = model(ids)
    out, state = model.step(ids[:, :3], model.init_state(2))
    pieces = [out]
    for t in range(3, CONTEXT):
        out, state = model.step(ids[:, t : t + 1], state)
        pieces.append(out)
    torch.testing.assert_close(torch.cat(pieces, 1), whole, atol=1e-5, rtol=1e-5)
    assert [tuple(s.shape) for s in state][1] == (2, 2, 2, CONTEXT, 8)  # [2, B, H, T, D]


def test_generation_refuses_non_causal_attention():
    model = Sequential(
        [
            {"type": "embedding", "input_dim": VOCAB, "output_dim": 8},
            {"type": "transformer_block", "num_heads": 2, "name": "block"},
            {"type": "dense", "units": VOCAB},
        ],
        input_shape=[None],
    )
    with pytest.raises(BrickworkError, match="'block' has causal: false"):
        list(generate_ids(model, [1, 2], 3))
