"""Characters/second of `generate` (state carried forward) vs re-running the whole prefix per
character.

    python bench/bench_generate.py [MODEL] [--length 1000] [--threads 2]
    python bench/bench_generate.py --gpt [--length 300]


MODEL is a trained character model (file or run directory); without one, an untrained
1 x 512 LSTM with Tiny Shakespeare's 67-id vocabulary stands in (same cost per character).
Both ways sample the same characters (seeded, greedy for the baseline check), so the ratio
is the price of not carrying the hidden state. The target for a 1 x 512 LSTM on the 2-core
CPU box is at least 500 characters per second.

`--gpt` (or a trained attention MODEL) times an attention model instead: generation with its
KV cache against re-running the whole window per character (`kv_cache=False`), both sampled
with the same seed, which must give the same text. The stand-in is nanoGPT's CPU recipe (4
blocks, 4 heads, width 128, context 64). Within the context the cache saves re-running the
window; past it both re-run the last 64 characters for each new one (learned positions cannot
slide), so the figure is given for a text inside the context and for --length characters.
"""

from __future__ import annotations

import argparse
import time

import torch

from brickwork.data import Vocab
from brickwork.generate import generate
from brickwork.models import Sequential


def stand_in() -> tuple[torch.nn.Module, Vocab]:
    torch.manual_seed(0)
    chars = [chr(c) for c in range(32, 97)]  # 65 characters, like Tiny Shakespeare
    vocab = Vocab(chars)
    model = Sequential(
        [
            {"type": "embedding", "input_dim": len(vocab), "output_dim": 64},
            {"type": "lstm", "units": 512, "return_sequences": True},
            {"type": "dense", "units": len(vocab)},
        ],
        input_shape=[None],
    ).eval()
    return model, vocab


def gpt_stand_in() -> tuple[torch.nn.Module, Vocab]:
    torch.manual_seed(0)
    vocab = Vocab([chr(c) for c in range(32, 97)])
    blocks = [{"type": "transformer_block", "num_heads": 4, "causal": True}] * 4
    model = Sequential(
        [
            {"type": "embedding", "input_dim": len(vocab), "output_dim": 128},
            {"type": "positional_embedding", "kind": "learned"},
            *blocks,
            {"type": "layernorm"},
            {"type": "dense", "units": len(vocab)},
        ],
        input_shape=[64],
    ).eval()
    return model, vocab


def cache_speedup(model, vocab: Vocab, prompt: str, length: int) -> None:
    """Chars/s with and without the KV cache, for a text inside the context and for `length`."""
    inside = max(1, (model.context_length or length) - len(vocab.encode(prompt)))
    print(f"{'way':<44}{'chars/s':>10}")
    for n in sorted({min(inside, length), length}):
        speeds, texts = {}, {}
        for cache in (True, False):
            start = time.perf_counter()
            options = {"temperature": 0.8, "seed": 1, "kv_cache": cache}
            texts[cache] = "".join(generate(model, vocab, prompt, length=n, **options))
            speeds[cache] = n / (time.perf_counter() - start)
        assert texts[True] == texts[False], "the KV cache must not change the text"
        for cache, label in ((True, "KV cache"), (False, "re-run the window")):
            print(f"{label + ', ' + str(n) + ' chars':<44}{speeds[cache]:>10,.0f}")
        print(f"ratio for {n} chars: {speeds[True] / speeds[False]:.1f}x")


@torch.inference_mode()
def rerun_prefix(model, vocab: Vocab, prompt: str, length: int) -> str:
    """The naive way: run the whole text so far for every new character (greedy)."""
    ids = vocab.encode(prompt)
    for _ in range(length):
        logits = model(torch.tensor([ids]))[0, -1]
        logits[0] = float("-inf")
        ids.append(int(logits[: len(vocab)].argmax()))
    return vocab.decode(ids[len(vocab.encode(prompt)) :])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "model", nargs="?", help="trained character model (default: an untrained stand-in)"
    )
    parser.add_argument("--length", type=int, default=1000)
    parser.add_argument(
        "--baseline-length", type=int, default=200, help="characters for the slow baseline"
    )
    parser.add_argument("--prompt", default="ROMEO:")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--gpt", action="store_true", help="time an untrained GPT stand-in")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.model:
        from brickwork.models.io import load
        from brickwork.train.runner import model_path

        model = load(model_path(args.model))
        vocab = Vocab.from_json(model.card.vocab)
    else:
        model, vocab = gpt_stand_in() if args.gpt else stand_in()
    list(generate(model, vocab, args.prompt, length=20, seed=0))  # warm-up
    if model.context_length is not None:
        print(
            f"model: {args.model or 'untrained GPT stand-in'}, {torch.get_num_threads()} thread(s)"
        )
        cache_speedup(model, vocab, args.prompt, args.length)
        return 0
    start = time.perf_counter()
    text = "".join(generate(model, vocab, args.prompt, length=args.length, temperature=0.8, seed=1))
    ours = len(text) / (time.perf_counter() - start)
    n = args.baseline_length
    greedy = "".join(generate(model, vocab, args.prompt, length=n, temperature=0))
    start = time.perf_counter()
    slow = rerun_prefix(model, vocab, args.prompt, n)
    theirs = n / (time.perf_counter() - start)
    assert slow == greedy, (
        "carrying the state must give the same characters as re-running the prefix"
    )
    print(
        f"model: {args.model or 'untrained 1x512 LSTM stand-in'}, {torch.get_num_threads()} torch "
        "thread(s)"
    )
    print(f"{'way':<44}{'chars/s':>10}")
    print(f"{'generate (state carried), ' + str(args.length) + ' chars':<44}{ours:>10,.0f}")
    print(f"{'re-run the prefix per char, ' + str(n) + ' chars':<44}{theirs:>10,.0f}")
    print(
        f"ratio: {ours / theirs:.1f}x   target >= 500 chars/s: "
        f"{'met' if ours >= 500 else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
