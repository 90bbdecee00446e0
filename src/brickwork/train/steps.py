"""The hot loop: one training epoch and one evaluation pass, around a step.

A step turns a batch into a loss: the built-in one runs the model and the loss function; your
own `train_step(batch, trainer)` / `eval_step(batch, trainer)` may compute several losses.
Around it, the loop does what every step needs the same way: autocast, the layers'
regularization penalty, gradient accumulation (with DDP's `no_sync`), fp16 loss scaling,
clipping, the optimizer and a per-batch scheduler step, metrics and batch callbacks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch

from brickwork.errors import BrickworkError
from brickwork.train.metrics import Metrics
from brickwork.train.trainer import Trainer

Step = Callable[[tuple, Trainer], object]


def default_step(batch, t: Trainer):
    """The built-in step: `{"loss": loss_fn(model(x), y), "output": model(x)}`."""
    xb, yb = batch
    out = t.step_model(xb)
    return {"loss": t.loss_fn(out, yb), "output": out}


def unpack(result, batch, where: str) -> tuple[torch.Tensor, object, object, dict]:
    """A step's result -> (loss, output or None, target, other logged parts).

    A step returns the loss tensor, or a dict with "loss" (what is backpropagated), optionally
    "output" and "target" (for the metrics; the target defaults to the batch's second item)
    and any other 0-d tensors, logged by name as epoch means (e.g. the parts of a total loss).
    """
    if isinstance(result, torch.Tensor):
        result = {"loss": result}
    if not isinstance(result, dict) or not isinstance(result.get("loss"), torch.Tensor):
        raise BrickworkError(
            f"{where} returned {type(result).__name__}; it must return the loss tensor or a "
            'dict {"loss": tensor, "output": ..., "other_name": tensor, ...}.'
        )
    target = result.get("target", batch[1] if isinstance(batch, tuple | list) else None)
    parts = {}
    for k, v in result.items():
        if k in ("loss", "output", "target"):
            continue
        if not (isinstance(v, torch.Tensor) and v.numel() == 1):
            raise BrickworkError(
                f"{where} returned '{k}' that is not a one-number tensor; other entries of its "
                "dict are logged as epoch means, so each must be a 0-d tensor."
            )
        parts[k] = v.reshape(())
    return result["loss"], result.get("output"), target, parts


def to_device(x, device, channels_last: bool = False):
    """Tensors (or a dict / tuple of them) on `device`, 4-D inputs channels-last if asked."""
    if isinstance(x, dict):
        return {k: to_device(v, device, channels_last) for k, v in x.items()}
    if isinstance(x, tuple | list):
        return type(x)(to_device(v, device, channels_last) for v in x)
    if not isinstance(x, torch.Tensor):
        return x
    x = x.to(device, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if channels_last and x.dim() == 4 else x


def _batch(raw, t: Trainer):
    xb, yb = raw
    return to_device(xb, t.device, t.channels_last), to_device(yb, t.device)


def train_epoch(t: Trainer, loader, step: Step, amp, has_reg: bool, start: int = 0) -> None:
    """One pass over the training batches: step, backward, (accumulated) optimizer step.

    `start`: the batches of this epoch a mid-epoch checkpoint already trained on (the loader
    was told to skip them), so batch indices and accumulation groups continue from there."""
    t.in_epoch = True
    try:
        _train_batches(t, loader, step, amp, has_reg, start)
    finally:
        t.in_epoch = False


def _train_batches(t: Trainer, loader, step: Step, amp, has_reg: bool, start: int) -> None:
    optimizer, scaler, metrics, accum = t.optimizer, t.scaler, t.train_metrics, t.spec.accumulate
    begin = [cb for cb in t.callbacks if _overrides(cb, "on_batch_begin")]
    end = [cb for cb in t.callbacks if _overrides(cb, "on_batch_end")]
    model = t.step_model
    # DDP: micro-batches that do not end an accumulation group skip the gradient all-reduce
    skip_sync = (
        model.no_sync if accum > 1 and hasattr(model, "no_sync") and t.steps_per_epoch else None
    )
    logs: dict = {}
    pending = False
    for i, raw in enumerate(loader, start):
        batch = _batch(raw, t)
        if t.example_batch is None:
            t.example_batch = batch[0]
        for cb in begin:
            cb.on_batch_begin(i, logs)
        apply_multiplier(t)
        if i % accum == 0:
            optimizer.zero_grad(set_to_none=True)
        pending = (i + 1) % accum != 0
        sync = skip_sync and pending and i + 1 < t.steps_per_epoch
        with skip_sync() if sync else contextlib.nullcontext():
            with amp:
                loss, out, target, parts = unpack(step(batch, t), batch, "train_step")
                if has_reg:
                    loss = loss + t.model.regularization_loss()
            scaled = loss / accum if accum > 1 else loss
            (scaler.scale(scaled) if scaler else scaled).backward()
        if not pending:
            optimizer_step(t)
        t.global_step += 1
        metrics.update(out, target, loss, parts)
        t.batches_seen = i + 1
        if end:
            logs["loss"] = loss.detach()
            for cb in end:
                cb.on_batch_end(i, logs)
            if t.diverged:
                return
    if pending:
        optimizer_step(t)


def apply_multiplier(t: Trainer) -> None:
    """The spec's schedule (`step -> multiplier`): set each group's lr from its base lr."""
    if t.lr_multiplier is not None:
        factor = t.lr_multiplier(t.global_step)
        for group in t.optimizer.param_groups:
            group["lr"] = group["initial_lr"] * factor


def optimizer_step(t: Trainer) -> None:
    """Clip (after unscaling fp16 gradients), take one optimizer step, then a per-batch
    scheduler step."""
    optimizer, scaler, spec = t.optimizer, t.scaler, t.spec
    clip_norm, clip_value = spec.clip_grad_norm, spec.clip_grad_value
    if scaler is not None and (clip_norm or clip_value):
        scaler.unscale_(optimizer)
    if clip_norm:
        torch.nn.utils.clip_grad_norm_(t.model.parameters(), clip_norm)
    if clip_value:
        torch.nn.utils.clip_grad_value_(t.model.parameters(), clip_value)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    if t.scheduler is not None and t.scheduler_interval == "batch":
        t.scheduler.step()


def _overrides(cb, hook: str) -> bool:
    from brickwork.train.callbacks import Callback

    return getattr(type(cb), hook) is not getattr(Callback, hook)


def evaluate_loader(t: Trainer, loader, step: Step, metrics: Metrics, amp) -> None:
    """One pass in eval mode, adding every batch to `metrics` (the model's mode is restored).

    Under `torch.inference_mode` when `t.inference_mode` (built-in layers and step: nothing
    can keep a tensor made here for a later backward), else `torch.no_grad`; the counters are
    copied out afterwards, so they are ordinary tensors (DDP sums them in place).
    Steps call `trainer.step_model`, which here is the eval model (the bare module under DDP:
    each rank evaluates its own shard and the counters are summed afterwards)."""
    model, train_model = t.eval_model, t.step_model
    t.step_model = model
    was_training = model.training
    model.eval()
    grad_off = torch.inference_mode() if t.inference_mode else torch.no_grad()
    try:
        with grad_off:
            for raw in loader:
                batch = _batch(raw, t)
                with amp:
                    loss, out, target, parts = unpack(step(batch, t), batch, "eval_step")
                metrics.update(out, target, loss, parts)
    finally:
        model.train(was_training)
        t.step_model = train_model
    metrics.state = {k: v.clone() for k, v in metrics.state.items()}
