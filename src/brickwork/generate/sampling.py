"""Stateful forward pass and token sampling for language models built by brickwork."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from brickwork.errors import BrickworkError
from brickwork.layers.recurrent import _Sequence


def _check_language_model(model: nn.Module) -> None:
    plan = getattr(model, "_plan", None)
    if plan is None or not getattr(model, "_chain", False):
        raise BrickworkError("generation needs a brickwork `layers:` model (embedding, recurrent layers, dense head).")
    for name, module, _, _ in plan:
        if isinstance(module, _Sequence) and not module.return_sequences:
            raise BrickworkError(f"recurrent layer '{name}' has return_sequences: false, so the model predicts one token per sequence; a language model needs return_sequences: true on every recurrent layer.")


def run_with_state(model: nn.Module, ids: torch.Tensor, state: list | None = None):
    """Logits [batch, steps, vocab] for token ids [batch, steps], and each recurrent layer's
    final state, so the next call continues where this one stopped."""
    _check_language_model(model)
    state = list(state) if state is not None else None
    new_state = []
    x = ids
    i = 0
    for _, module, _, _ in model._plan:
        if isinstance(module, _Sequence):
            x, s = module.forward_with_state(x, None, None if state is None else state[i])
            new_state.append(s)
            i += 1
        else:
            x = module(x)
    return x, new_state


def sample_next(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token id per row of `logits` [batch, vocab]; temperature 0 means greedy."""
    if temperature <= 0:
        return logits.argmax(-1)
    logits = logits.float() / temperature
    if top_k:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = sorted_logits.softmax(-1)
        drop = probs.cumsum(-1) - probs > top_p  # keep the smallest set whose mass reaches top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(-1)


def _as_log_probs(model: nn.Module, out: torch.Tensor) -> torch.Tensor:
    """Models may end in logits, softmax or log_softmax; beam search needs log-probabilities."""
    last = model._plan[-1][1]
    if isinstance(last, nn.LogSoftmax):
        return out
    if isinstance(last, nn.Softmax):
        return out.clamp_min(1e-12).log()
    return out.log_softmax(-1)


@torch.no_grad()
def generate_ids(model: nn.Module, prompt_ids: list[int], length: int, temperature: float = 1.0,
                 top_k: int | None = None, top_p: float | None = None, beam: int = 1,
                 seed: int | None = None) -> Iterator[int]:
    """Yield `length` new token ids after the prompt (streamed one by one unless beam > 1)."""
    if not prompt_ids:
        raise BrickworkError("the prompt is empty; give at least one character or word.")
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device=device)
    generator.manual_seed(seed if seed is not None else torch.seed())
    ids = torch.tensor([prompt_ids], dtype=torch.long, device=device)
    out, state = run_with_state(model, ids)
    if beam > 1:
        yield from _beam_search(model, out[:, -1], state, length, beam)
        return
    logits = out[:, -1]
    if isinstance(model._plan[-1][1], (nn.Softmax, nn.LogSoftmax)):
        logits = _as_log_probs(model, logits)
    for _ in range(length):
        token = sample_next(logits, temperature, top_k, top_p, generator)
        yield int(token)
        out, state = run_with_state(model, token.view(1, 1), state)
        logits = out[:, -1]
        if isinstance(model._plan[-1][1], (nn.Softmax, nn.LogSoftmax)):
            logits = _as_log_probs(model, logits)


def _select_state(state: list, index: torch.Tensor) -> list:
    """Reorder the batch (beam) axis of every recurrent state."""
    def pick(s):
        return tuple(t[:, index] for t in s) if isinstance(s, tuple) else s[:, index]
    return [pick(s) for s in state]


def _beam_search(model, last, state, length: int, beam: int) -> Iterator[int]:
    """Keep the `beam` most probable continuations; yield the best one at the end."""
    scores = _as_log_probs(model, last)[0]
    top = scores.topk(min(beam, scores.numel()))
    seqs = top.indices.view(-1, 1)
    totals = top.values
    state = _select_state(state, torch.zeros(len(seqs), dtype=torch.long, device=seqs.device))
    for _ in range(length - 1):
        out, state = run_with_state(model, seqs[:, -1:], state)
        logp = _as_log_probs(model, out[:, -1])
        cand = (totals[:, None] + logp).flatten()
        best = cand.topk(min(beam, cand.numel()))
        rows, tokens = best.indices // logp.shape[-1], best.indices % logp.shape[-1]
        seqs = torch.cat([seqs[rows], tokens[:, None]], dim=1)
        totals = best.values
        state = _select_state(state, rows)
    yield from (int(t) for t in seqs[0])


def generate(model: nn.Module, vocab, prompt: str, length: int = 200, **options) -> Iterator[str]:
    """Stream generated text (the prompt itself is not repeated).

    `vocab` maps text to ids and back (`encode`, `decode`, `tokens`). Characters or words
    the model never saw are an error that lists them, rather than a silent substitute.
    """
    unknown = sorted(set(vocab.unknown_in(prompt))) if hasattr(vocab, "unknown_in") else []
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:10])
        raise BrickworkError(f"the prompt contains {len(unknown)} token(s) the model's vocabulary does not have: {shown}; remove them or use only tokens from the training text.")
    for token in generate_ids(model, vocab.encode(prompt), length, **options):
        yield vocab.decode([token])
