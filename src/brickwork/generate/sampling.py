"""Stateful forward pass and token sampling for language models built by brickwork."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
from torch import nn

from brickwork.errors import BrickworkError
from brickwork.layers.attention import attention_of, is_attention
from brickwork.models.model import BrickModel, State

if TYPE_CHECKING:
    from brickwork.data.text import Vocab

UNKNOWN_POLICIES = ("error", "skip", "unk")


def _check_language_model(model: nn.Module) -> None:
    if not isinstance(model, BrickModel) or not model.is_chain:
        raise BrickworkError(
            "generation needs a brickwork `layers:` model (embedding, recurrent or causal "
            "attention layers, dense head)."
        )
    for name, module in model.stateful_layers.items():
        if is_attention(module) and not attention_of(module).causal:
            raise BrickworkError(
                f"attention layer '{name}' has causal: false, so each step sees the steps after "
                "it, which generation does not have yet; a language model needs causal: true on "
                "every attention layer (and training with it)."
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
    kv_cache: bool = True,
) -> Iterator[int]:
    """Yield `length` new token ids after the prompt (streamed one by one unless beam > 1).

    The prompt runs once; each new token then costs one step of every layer, because the
    recurrent layers' states and the attention layers' KV caches are carried forward
    (`kv_cache=False` re-runs the whole window for every token instead: same ids, slower).
    An attention model sees at most `model.context_length` tokens: a longer prompt is cut to
    its last ones, and once the cache is full each token re-runs the last context_length
    tokens from scratch, as nanoGPT does (absolute positions cannot slide), so the ids are
    the same as without a cache. `vocab_size` (set by `generate`) keeps the choice to real
    tokens: never padding (id 0), never an id the vocabulary lacks.
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
    feed = _Feeder(model, kv_cache)
    out, state = feed(torch.tensor([prompt_ids], dtype=torch.long, device=device))
    if length == 0:
        return
    if beam > 1:
        yield from _beam_search(model, feed, out, state, length, beam, vocab_size)
        return
    for i in range(length):
        token = sample_next(_scores(model, out, vocab_size), temperature, top_k, top_p, generator)
        yield int(token)
        if i + 1 < length:
            out, state = feed(token.view(1, 1), state)


class _Feeder:
    """Runs the model on new tokens: one step from the carried state while the context has
    room (and `kv_cache` is on), else the whole cropped window from scratch. It keeps each
    row's tokens so far, so beam search can reorder them with the state."""

    def __init__(self, model: BrickModel, kv_cache: bool):
        self.model, self.kv_cache = model, kv_cache
        self.context = model.context_length
        self.tokens: torch.Tensor | None = None
        self.fed = 0  # tokens the state holds

    def __call__(self, new: torch.Tensor, state: State | None = None):
        tokens = new if self.tokens is None else torch.cat([self.tokens, new], dim=1)
        window = tokens if self.context is None else tokens[:, -self.context :]
        # only a window can be re-run: with no context limit and the cache on, nothing re-runs
        self.tokens = None if self.context is None and self.kv_cache else window
        full = self.context is not None and self.fed + new.shape[1] > self.context
        if state is not None and self.kv_cache and not full:
            self.fed += new.shape[1]
            return self.model.step(new, state)
        self.fed = window.shape[1]
        return self.model.step(window)

    def select(self, rows: torch.Tensor) -> None:
        if self.tokens is not None:
            self.tokens = self.tokens[rows]


def _select_state(state: list, index: torch.Tensor) -> list:
    """Reorder the batch (beam) axis of every state (axis 1 of each tensor)."""

    def pick(s):
        return tuple(t[:, index] for t in s) if isinstance(s, tuple) else s[:, index]

    return [pick(s) for s in state]


def _beam_search(
    model, feed: _Feeder, out, state, length: int, beam: int, vocab_size: int | None
) -> Iterator[int]:
    """Keep the `beam` most probable continuations; yield the best one at the end."""
    # the scores hold logits or log-probabilities: both normalise the same
    scores = _scores(model, out, vocab_size).log_softmax(-1)[0]
    top = scores.topk(min(beam, int(torch.isfinite(scores).sum())))
    seqs = top.indices.view(-1, 1)
    totals = top.values
    rows = torch.zeros(len(seqs), dtype=torch.long, device=seqs.device)
    state = _select_state(state, rows)
    feed.select(rows)
    for _ in range(length - 1):
        out, state = feed(seqs[:, -1:], state)
        logp = _scores(model, out, vocab_size).log_softmax(-1)
        cand = (totals[:, None] + logp).flatten()
        best = cand.topk(min(beam, int(torch.isfinite(cand).sum())))
        rows, tokens = best.indices // logp.shape[-1], best.indices % logp.shape[-1]
        seqs = torch.cat([seqs[rows], tokens[:, None]], dim=1)
        totals = best.values
        state = _select_state(state, rows)
        feed.select(rows)
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
