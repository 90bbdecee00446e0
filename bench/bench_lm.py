"""brickwork's `fit` of the nanoGPT CPU recipe against a minimal hand-written GPT training loop.

    flock /tmp/brickwork-cpu.lock python bench/bench_lm.py                 # ~2-3 minutes
    flock /tmp/brickwork-cpu.lock python bench/bench_lm.py --steps 1000 --rounds 5

The model is examples/shakespeare/char_gpt.yaml (nanoGPT's "I only have a macbook" recipe: 4
layers, 4 heads, width 128, context 64, batch 12). Each round starts both sides from the same
initial weights (brickwork builds the model, its weights are copied into the hand-written GPT,
and the two must give the same logits) and trains them on the same batches (one permutation of
the training chunks per round, given to `fit` with shuffle off) with the same optimizer
(AdamW, the spec's lr, betas and weight decay, the same warmup + cosine lr per step, gradient
clipping):

* brickwork: `fit` for `--steps` optimizer steps (one epoch over steps x batch chunks), timed
  around the whole call (so its setup counts);
* hand: nanoGPT's inner loop (forward, cross-entropy, backward, clip, step) for the same wall
  time as that `fit` took, so a faster loop does more steps (past the schedule's end it stays at
  min_lr, on further chunks of the same permutation).

Reported per round: steps per second of each, their ratio brickwork/hand (the verdict is the
median of the paired ratios, target >= 1.0), and the validation loss (nats/char, all of the
last 10% of Tiny Shakespeare in 64-character chunks, the same evaluation code for both) each
model reached in that same wall time. The sides alternate which goes first from round to round.
Tiny Shakespeare is read from --data-dir, else ../shared/data/tinyshakespeare beside the repo.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml
from torch import nn

from brickwork.data import load_data
from brickwork.models import build_model
from brickwork.spec.train import parse_train_spec
from brickwork.train import fit
from brickwork.train.optim import lr_multiplier

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "shakespeare" / "char_gpt.yaml"
DATA = ROOT.parent / "shared" / "data"  # holds tinyshakespeare/input.txt


class Block(nn.Module):
    """nanoGPT's Block: x + attn(ln_1(x)), x + mlp(ln_2(x)); fused qkv, GELU MLP."""

    def __init__(self, width: int, heads: int, bias: bool):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(width, bias=bias)
        self.c_attn = nn.Linear(width, 3 * width, bias=bias)
        self.attn_proj = nn.Linear(width, width, bias=bias)
        self.ln_2 = nn.LayerNorm(width, bias=bias)
        self.c_fc = nn.Linear(width, 4 * width, bias=bias)
        self.mlp_proj = nn.Linear(4 * width, width, bias=bias)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.attn_proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class GPT(nn.Module):
    """nanoGPT's GPT: token + learned position embeddings, blocks, final LayerNorm, a bias-free
    head tied to the token embedding. Parameters are declared in brickwork's order."""

    def __init__(self, vocab: int, context: int, width: int, layers: int, heads: int, bias: bool):
        super().__init__()
        self.wte = nn.Embedding(vocab, width)
        self.wpe = nn.Embedding(context, width)
        self.h = nn.ModuleList(Block(width, heads, bias) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)  # with a bias, as brickwork's `layernorm` layer
        self.lm_head = nn.Linear(width, vocab, bias=False)
        self.lm_head.weight = self.wte.weight

    def forward(self, idx):
        x = self.wte(idx) + self.wpe.weight[: idx.shape[1]]
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def recipe(spec: dict) -> dict:
    """The GPT hyperparameters the spec's `layers:` describe."""
    layers = spec["model"]["layers"]
    blocks = [entry for entry in layers if entry["type"] == "transformer_block"]
    return {
        "vocab": layers[0]["input_dim"],
        "context": spec["model"]["input_shape"][0],
        "width": layers[0]["output_dim"],
        "layers": len(blocks),
        "heads": blocks[0]["num_heads"],
        "bias": blocks[0].get("bias", True),
    }


def copy_weights(source: nn.Module, target: nn.Module, probe: torch.Tensor) -> None:
    """Copy brickwork's parameters into the hand GPT in order (shapes must agree), then check
    both give the same logits, so a wrong mapping cannot pass silently."""
    src, dst = list(source.parameters()), list(target.parameters())
    shapes = [tuple(p.shape) for p in src], [tuple(p.shape) for p in dst]
    if shapes[0] != shapes[1]:
        raise SystemExit(f"parameter layouts differ:\n brickwork {shapes[0]}\n hand {shapes[1]}")
    with torch.no_grad():
        for s, d in zip(src, dst, strict=True):
            d.copy_(s)
        gap = (source.eval()(probe) - target.eval()(probe)).abs().max().item()
    if gap > 1e-4:
        raise SystemExit(f"the hand GPT's logits differ from brickwork's by {gap:.2e}")


def hand_train(model, x, y, train, seconds: float, steps_planned: int) -> int:
    """nanoGPT's loop over batches of (x, y) in order for `seconds` (its setup included, as
    fit's is); the steps it made."""
    start = time.perf_counter()
    opt = train.optimizer.options
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=train.lr,
        betas=tuple(opt.get("betas", (0.9, 0.999))),
        weight_decay=opt.get("weight_decay", 0.01),
    )
    factor = lr_multiplier(train.schedule, steps_planned, 1, train.lr)
    b, step, batches = train.batch_size, 0, len(x) // train.batch_size
    model.train()
    while time.perf_counter() - start < seconds:
        i = (step % batches) * b
        for group in optimizer.param_groups:
            group["lr"] = train.lr * (factor(step) if factor else 1.0)
        logits = model(x[i : i + b])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y[i : i + b].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if train.clip_grad_norm:
            torch.nn.utils.clip_grad_norm_(model.parameters(), train.clip_grad_norm)
        optimizer.step()
        step += 1
    return step


@torch.no_grad()
def val_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean cross-entropy per character over all validation chunks (same code for both)."""
    model.eval()
    total = 0.0
    for i in range(0, len(x), 256):
        logits = model(x[i : i + 256])
        total += F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), y[i : i + 256].reshape(-1), reduction="sum"
        ).item()
    return total / y.numel()


def one_round(r: int, spec: dict, data, args, budgets: list[float]) -> dict:
    """Both sides from the same weights on the same batches, in alternating order."""
    train = parse_train_spec({**spec["train"], "epochs": 1, "shuffle": False, "verbose": 0})
    torch.manual_seed(1000 + r)
    order = torch.randperm(len(data.train.x))
    x, y = data.train.x[order], data.train.y[order]
    n = args.steps * train.batch_size
    brick = build_model(spec["model"])
    hand = GPT(**recipe(spec))
    copy_weights(brick, hand, data.val.x[:4])
    out = {"first": "brickwork" if r % 2 == 0 else "hand"}
    for side in ("brickwork", "hand") if r % 2 == 0 else ("hand", "brickwork"):
        start = time.perf_counter()
        if side == "brickwork":
            fit(brick, x[:n], y[:n], train=train, task="language_model")
            out["seconds"] = time.perf_counter() - start
            budgets.append(out["seconds"])
        else:  # fit's time this round, or (hand first) the median of fit's times so far
            out["budget"] = budgets[-1] if r % 2 == 0 else statistics.median(budgets)
            out["hand_steps"] = hand_train(hand, x, y, train, out["budget"], args.steps)
            out["hand_seconds"] = time.perf_counter() - start
    out["brickwork_sps"] = args.steps / out["seconds"]
    out["hand_sps"] = out["hand_steps"] / out["hand_seconds"]
    out["ratio"] = out["brickwork_sps"] / out["hand_sps"]
    out["brickwork_val"] = val_loss(brick, data.val.x, data.val.y)
    out["hand_val"] = val_loss(hand, data.val.x, data.val.y)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300, help="brickwork's steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=DATA)
    parser.add_argument("--spec", type=Path, default=SPEC)
    args = parser.parse_args()
    spec = yaml.safe_load(args.spec.read_text())
    data = load_data({**spec["data"], "data_dir": str(args.data_dir)})
    print(
        f"{args.spec.name}: {sum(p.numel() for p in build_model(spec['model']).parameters()):,} "
        f"parameters, {args.steps} steps x batch {spec['train']['batch_size']} per round, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}"
    )
    print("round      first  brickwork steps/s  hand steps/s  ratio  wall s  val loss bw / hand")
    rows, budgets = [], []
    for r in range(args.rounds):
        row = one_round(r, spec, data, args, budgets)
        rows.append(row)
        print(
            f"{r + 1:>5}  {row['first']:>9}  {row['brickwork_sps']:>17.2f}  "
            f"{row['hand_sps']:>12.2f}  {row['ratio']:>5.3f}  {row['seconds']:>6.1f}  "
            f"{row['brickwork_val']:.4f} / {row['hand_val']:.4f}",
            flush=True,
        )
    ratio = statistics.median(row["ratio"] for row in rows)
    print(
        f"median ratio brickwork/hand steps per second: {ratio:.3f} "
        f"({'meets' if ratio >= 1.0 else 'misses'} the >= 1.0 target); validation loss after "
        f"the same wall time, median: brickwork "
        f"{statistics.median(r['brickwork_val'] for r in rows):.4f}, hand "
        f"{statistics.median(r['hand_val'] for r in rows):.4f}"
    )


if __name__ == "__main__":
    main()
