"""Stateful forward pass and token sampling for language models built by brickwork."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
from torch import nn

from brickwork.errors import BrickworkError
from brickwork.models.model import BrickModel, State

if TYPE_CHECKING:
    from brickwork.data.text import Vocab

UNKNOWN_POLICIES = ("error", "skip", "unk")


def _check_language_model(model: nn.Module) -> None:
    if not isinstance(model, BrickModel) or not model.is_chain:
        raise BrickworkError(
            "generation needs a brickwork `layers:` model (embedding, recurrent layers, dense "
            "head)."
        )
    for name, module in model.recurrent_layers.items():
        if not module.return_sequences:
            raise BrickworkError(
                f"recurrent layer '{name}' has return_sequences: false, so the model predicts one "
                "token per sequence; a language model needs return_sequences: true on every "
                "recurrent layer."
            )


def run_with_state(
    model: nn.Module, ids: torch.Tensor, state: State | None = None
) -> tuple[torch.Tensor, State]:
    """Logits [batch, steps, vocab] for token ids [batch, steps], and each recurrent layer's
    final state, so the next call continues where this one stopped."""
    _check_language_model(model)
    return model.step(ids, None if state is None else list(state))


def sample_next(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
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
    last = model.output_layer
    if isinstance(last, nn.LogSoftmax):
        return out
    if isinstance(last, nn.Softmax):
        return out.clamp_min(1e-12).log()
    return out.log_softmax(-1)


def _scores(model: nn.Module, out: torch.Tensor, vocab_size: int | None) -> torch.Tensor:
    """Last step's logits (or log-probabilities), never choosing padding or ids past the
    vocabulary.
    """
    logits = out[:, -1]
    if isinstance(model.output_layer, (nn.Softmax, nn.LogSoftmax)):
        logits = _as_log_probs(model, logits)
    if vocab_size is not None:
        logits = logits.clone()
        logits[:, 0] = float("-inf")  # id 0 is <pad>: it ends nothing and decodes to nothing
        logits[:, vocab_size:] = float("-inf")
    return logits


def check_options(length, temperature, top_k, top_p, beam, seed) -> None:
    """Raise naming the option when one is out of range: length >= 0, temperature >= 0 (0 is
    greedy), top_k >= 1, 0 < top_p <= 1, beam >= 1, seed >= 0; NaN, Inf and true/false are
    never numbers."""
    checks = [
        ("length", length, True, lambda v: v >= 0, "a whole number >= 0"),
        ("temperature", temperature, False, lambda v: v >= 0, "a number >= 0 (0 is greedy)"),
        ("top_k", top_k, True, lambda v: v >= 1, "a whole number >= 1, or None"),
        ("top_p", top_p, False, lambda v: 0 < v <= 1, "a number above 0 and at most 1, or None"),
        ("beam", beam, True, lambda v: v >= 1, "a whole number >= 1"),
        ("seed", seed, True, lambda v: v >= 0, "a whole number >= 0, or None"),
    ]
    for name, value, whole, fits, wanted in checks:
        if value is None and name in ("top_k", "top_p", "seed"):
            continue
        kinds = (int,) if whole else (int, float)
        if (
            isinstance(value, bool)
            or not isinstance(value, kinds)
            or not math.isfinite(value)
            or not fits(value)
        ):
            flag = name.replace("_", "-")
            raise BrickworkError(f"{name} (--{flag}) must be {wanted}, got {str(value)[:40]!r}.")


@torch.inference_mode()
def generate_ids(
    model: nn.Module,
    prompt_ids: list[int],
    length: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    beam: int = 1,
    seed: int | None = None,
    vocab_size: int | None = None,
) -> Iterator[int]:
    """Yield `length` new token ids after the prompt (streamed one by one unless beam > 1).

    The prompt runs once; each new token then costs one step of every layer, because the
    recurrent layers' states are carried forward. `vocab_size` (set by `generate`) keeps
    the choice to real tokens: never padding (id 0), never an id the vocabulary lacks.
    """
    if not prompt_ids:
        raise BrickworkError("the prompt is empty; give at least one character or word.")
    check_options(length, temperature, top_k, top_p, beam, seed)
    if beam > 1 and (top_k or top_p is not None or temperature != 1.0):
        raise BrickworkError(
            f"beam search (beam={beam}) keeps the most likely sequences and samples nothing, so "
            "temperature, top_k and top_p do not apply; drop them, or use beam=1 to sample."
        )
    _check_language_model(model)
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device=device)
    generator.manual_seed(seed if seed is not None else torch.seed())
    ids = torch.tensor([prompt_ids], dtype=torch.long, device=device)
    out, state = model.step(ids)
    if length == 0:
        return
    if beam > 1:
        yield from _beam_search(
            model, _scores(model, out, vocab_size), state, length, beam, vocab_size
        )
        return
    for i in range(length):
        token = sample_next(_scores(model, out, vocab_size), temperature, top_k, top_p, generator)
        yield int(token)
        if i + 1 < length:
            out, state = model.step(token.view(1, 1), state)


def _select_state(state: list, index: torch.Tensor) -> list:
    """Reorder the batch (beam) axis of every recurrent state."""

    def pick(s):
        return tuple(t[:, index] for t in s) if isinstance(s, tuple) else s[:, index]

    return [pick(s) for s in state]


def _beam_search(
    model, first, state, length: int, beam: int, vocab_size: int | None
) -> Iterator[int]:
    """Keep the `beam` most probable continuations; yield the best one at the end."""
    scores = first.log_softmax(-1)[
        0
    ]  # `first` holds logits or log-probabilities: both normalise the same
    top = scores.topk(min(beam, int(torch.isfinite(scores).sum())))
    seqs = top.indices.view(-1, 1)
    totals = top.values
    state = _select_state(state, torch.zeros(len(seqs), dtype=torch.long, device=seqs.device))
    for _ in range(length - 1):
        out, state = model.step(seqs[:, -1:], state)
        logp = _scores(model, out, vocab_size).log_softmax(-1)
        cand = (totals[:, None] + logp).flatten()
        best = cand.topk(min(beam, int(torch.isfinite(cand).sum())))
        rows, tokens = best.indices // logp.shape[-1], best.indices % logp.shape[-1]
        seqs = torch.cat([seqs[rows], tokens[:, None]], dim=1)
        totals = best.values
        state = _select_state(state, rows)
    yield from (int(t) for t in seqs[0])


def prompt_ids(vocab: Vocab, prompt: str, unknown: str = "error") -> list[int]:
    """The prompt as ids. Tokens the vocabulary lacks: `error` (default) lists them,
    `skip` drops them, `unk` maps them to <unk> (id 1, which the model has rarely seen)."""
    from brickwork.data.text import UNK, tokenize

    if unknown not in UNKNOWN_POLICIES:
        raise BrickworkError(
            f"unknown='{unknown}' is not a policy; choose one of {', '.join(UNKNOWN_POLICIES)}."
        )
    tokens = tokenize(prompt, vocab.tokenizer, vocab.lowercase)
    missing = sorted({t for t in tokens if t not in vocab.index})
    if missing and unknown == "error":
        shown = ", ".join(repr(t) for t in missing[:10]) + (
            f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        )
        raise BrickworkError(
            f"the prompt contains {len(missing)} {vocab.tokenizer}(s) that the model's vocabulary "
            "does not have: "
            f"{shown}; remove them, or pass unknown='skip' (--unknown skip) to drop them or 'unk' "
            "to map them to <unk>."
        )
    if unknown == "skip":
        tokens = [t for t in tokens if t in vocab.index]
    return [vocab.index.get(t, UNK) for t in tokens]


def generate(
    model: nn.Module,
    vocab: Vocab,
    prompt: str,
    length: int = 200,
    *,
    unknown: str = "error",
    **options,
) -> Iterator[str]:
    """Stream generated text, one piece per new token (the prompt itself is not repeated).

    `vocab` is the model's `brickwork.data.Vocab` (`Vocab.from_json(model.card.vocab)`);
    options: temperature, top_k, top_p, beam, seed. Word-level pieces start with a space,
    so joining the pieces gives the text `Vocab.decode` would. See `prompt_ids` for `unknown`.
    """
    ids = prompt_ids(vocab, prompt, unknown)
    out_dim = model.output_shape[-1] if isinstance(model, BrickModel) else None
    if out_dim is not None and out_dim < len(vocab):
        raise BrickworkError(
            f"the model predicts {out_dim} token ids but its vocabulary has {len(vocab)}; the "
            "vocabulary belongs "
            f"to a different model (the last dense layer needs units: {len(vocab)})."
        )
    sep = " " if vocab.tokenizer == "word" else ""
    for token in generate_ids(model, ids, length, vocab_size=len(vocab), **options):
        yield sep + vocab.tokens[token]
