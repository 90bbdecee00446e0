"""The learning-rate finder: train briefly while the rate grows exponentially, and suggest one.

    import brickwork as bw
    result = bw.lr_find(model, data.train)            # model and optimizer come back unchanged
    result.suggestion, result.plot("lr_find.png")     # or result.figure() in a notebook

The sweep (Smith 2015, fastai's and Lightning's finders) takes `steps` optimizer steps on
training batches with the rate going from `min_lr` to `max_lr` geometrically, records each
batch's loss and an exponentially smoothed, bias-corrected copy (`smoothing` 0.9: fastai's
0.98 averages over ~50 of the 100 steps, and that lag moves the suggestion to several times
too high a rate), and stops early once the
smoothed loss exceeds `diverge` times its best. The suggestion is the rate where the smoothed
loss falls fastest (the steepest negative slope against log lr, Lightning's rule), searched
before the smoothed minimum and past the first tenth of the sweep; a sweep whose loss never
falls has no suggestion rather than a guessed one. Afterwards the weights (buffers too), the
optimizer's state and every random generator are what they were before the sweep.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from brickwork.errors import BrickworkError
from brickwork.models.card import card_of
from brickwork.spec.train import parse_train_spec


@dataclass
class LRFindResult:
    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)
    suggestion: float | None = None
    stop_reason: str = "max_lr"  # 'max_lr' (swept the whole range) or 'diverged'
    note: str = ""  # why there is no suggestion

    def figure(self):
        """Raw and smoothed loss against the rate (log scale), the suggestion marked."""
        from brickwork.figures import subplots

        fig, ax = subplots(figsize=(6, 4))
        ax.plot(self.lrs, self.losses, color="0.75", lw=1, label="loss")
        ax.plot(self.lrs, self.smoothed, color="C0", lw=2, label="smoothed loss")
        if self.suggestion is not None:
            ax.axvline(
                self.suggestion, color="C3", ls="--", label=f"suggested {self.suggestion:.2g}"
            )
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("training loss")
        finite = [v for v in self.smoothed if math.isfinite(v)]
        if finite:  # the diverging tail would squash the interesting part
            low, first = min(finite), finite[0]
            ax.set_ylim(low - 0.1 * abs(first - low), first + 0.5 * abs(first - low) + 1e-12)
        ax.legend()
        fig.tight_layout()
        return fig

    def plot(self, path: str | Path) -> Path:
        from brickwork.figures import png_bytes
        from brickwork.models.io import atomic_write

        return atomic_write(path, png_bytes(self.figure()))


def lr_find(
    model: nn.Module,
    data,
    *,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    steps: int = 100,
    smoothing: float = 0.9,
    diverge: float = 4.0,
    optimizer: torch.optim.Optimizer | str | dict | None = None,
    task: str | None = None,
    train=None,
    **options,
) -> LRFindResult:
    """Sweep the learning rate on `data` ((x, y) tensors, a Split, or batches); see the module.

    The optimizer, loss and batch size are the `train:` fields (`train=spec.train` or keyword
    options such as `optimizer="sgd"`, `batch_size=64`); `optimizer` may also be a torch
    optimizer already built over the model's parameters. `smoothing` is the weight of the
    running average (0 = none).
    """
    if not 0 < min_lr < max_lr:
        raise BrickworkError(f"lr_find: need 0 < min_lr < max_lr, got {min_lr} and {max_lr}.")
    if steps < 10 or not 0 <= smoothing < 1 or diverge <= 1:
        raise BrickworkError(
            f"lr_find: steps must be at least 10 (got {steps}), smoothing in [0, 1) (got "
            f"{smoothing}) and diverge above 1 (got {diverge})."
        )
    from brickwork.train.checkpoint import rng_state, set_rng_state
    from brickwork.train.device import pick_device
    from brickwork.train.optim import make_loss, make_optimizer, output_activation
    from brickwork.train.pieces import default_loss

    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        options["optimizer"], optimizer = optimizer, None  # a spec value: "adam", {type: sgd}
    base = parse_train_spec(train).model_dump(exclude_unset=True) if train is not None else {}
    spec = parse_train_spec({**base, **options})
    device = pick_device(spec.device)
    task = task or card_of(model).task
    loss_fn, _ = make_loss(default_loss(task, spec.loss), output_activation(model), device)
    batches = _batches(data, spec.batch_size, spec.seed, device)
    saved_rng, was_training = rng_state(), model.training
    home = next((p.device for p in model.parameters()), torch.device("cpu"))
    saved_model = copy.deepcopy(model.state_dict())
    opt = optimizer or make_optimizer(model.to(device), spec.optimizer, min_lr)
    saved_opt = copy.deepcopy(opt.state_dict())
    try:
        model.to(device).train()
        result = _sweep(model, opt, loss_fn, batches, min_lr, max_lr, steps, smoothing, diverge)
    finally:
        model.load_state_dict(saved_model)
        opt.load_state_dict(saved_opt)
        model.to(home).train(was_training)
        set_rng_state(saved_rng)
    result.suggestion, result.note = suggest(result.lrs, result.smoothed)
    return result


def _batches(data, batch_size: int, seed: int, device):
    """A re-iterable source of (x, y) batches."""
    if hasattr(data, "loader"):  # a Split from brickwork.data.load_data
        return data.loader(batch_size, shuffle=True, seed=seed, device=device)
    if isinstance(data, tuple | list) and len(data) == 2 and not isinstance(data[0], tuple | list):
        from brickwork.data import InMemoryLoader

        return InMemoryLoader(data[0], data[1], batch_size, shuffle=True, seed=seed, device=device)
    if hasattr(data, "__iter__"):
        return data
    raise BrickworkError(
        f"lr_find: cannot read batches from a {type(data).__name__}; pass (x, y) tensors, a "
        "Split, or an iterable of (x, y) batches such as a DataLoader."
    )


def _sweep(model, opt, loss_fn, batches, min_lr, max_lr, steps, smoothing, diverge):
    """The exponential sweep itself; stops at `steps` or when the smoothed loss blows up."""
    result = LRFindResult()
    gamma = (max_lr / min_lr) ** (1 / (steps - 1))
    reg = getattr(model, "regularization_loss", None)
    average, best, source = 0.0, math.inf, iter(batches)
    for i in range(steps):
        xb, yb = _next_batch(source, batches)
        if i == 0 and xb is None:
            raise BrickworkError("lr_find: the training data gives no batches.")
        if xb is None:
            source = iter(batches)
            xb, yb = _next_batch(source, batches)
        lr = min_lr * gamma**i
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(_to(xb, opt)), _to(yb, opt))
        if reg is not None and reg() is not None:
            loss = loss + reg()
        loss.backward()
        opt.step()
        value = float(loss.detach())
        average = smoothing * average + (1 - smoothing) * value
        smooth = average / (1 - smoothing ** (i + 1))
        result.lrs.append(lr)
        result.losses.append(value)
        result.smoothed.append(smooth)
        if not math.isfinite(smooth) or smooth > diverge * best:
            result.stop_reason = "diverged"
            break
        best = min(best, smooth)
    return result


def _next_batch(source, batches):
    try:
        return next(source)
    except StopIteration:
        return None, None


def _to(x, opt):
    """Batches go to the device of the parameters the optimizer steps."""
    device = opt.param_groups[0]["params"][0].device
    if isinstance(x, dict):
        return {k: v.to(device) for k, v in x.items()}
    return x.to(device)


def suggest(lrs: list[float], smoothed: list[float]) -> tuple[float | None, str]:
    """(rate of the steepest fall of the smoothed loss before its minimum, '') or (None, why)."""
    finite = [i for i, v in enumerate(smoothed) if math.isfinite(v)]
    if not finite:
        return None, "every loss in the sweep was NaN or infinite; lower min_lr."
    low = min(finite, key=lambda i: smoothed[i])
    start = max(1, len(lrs) // 10)
    if low - start < 3:
        return None, (
            f"the smoothed loss was lowest near the start of the sweep (at lr {lrs[low]:.2g}); "
            "lower min_lr, or check that the model can learn this data at all."
        )
    logs = [math.log10(lr) for lr in lrs]
    slopes = {
        i: (smoothed[i + 1] - smoothed[i - 1]) / (logs[i + 1] - logs[i - 1])
        for i in range(start, low)
    }
    steepest = min(slopes, key=slopes.get)
    if slopes[steepest] >= 0:
        return None, "the smoothed loss never fell during the sweep; widen min_lr..max_lr."
    return lrs[steepest], ""
