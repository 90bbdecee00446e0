"""PNG plots for forecasts: held-out forecast versus actual, and a continuation past the data."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from brickwork.figures import png_bytes, subplots
from brickwork.models.io import atomic_write


def _save(fig, path: Path) -> Path:
    return atomic_write(path, png_bytes(fig, bbox_inches="tight"))


def plot_evaluation(result: dict, path: str | Path) -> Path:
    """The held-out period of the first target: actual values, the model's forecasts one
    step ahead and `horizon` steps ahead, and the baselines at `horizon` steps ahead."""
    arrays, h = result["_arrays"], result["horizon"]
    actual = arrays["actual"][..., 0]  # [windows, horizon]
    n = len(actual)
    t = np.arange(n + h - 1)
    series = np.concatenate([actual[:, 0], actual[-1, 1:]])
    fig, ax = subplots(figsize=(10, 4))
    ax.plot(t, series, color="black", lw=1.4, label="actual")
    ax.plot(
        t[:n],
        arrays["model"][:, 0, 0],
        lw=1,
        label=f"model, 1 step ahead (RMSE {result['model']['rmse_per_step'][0]:.3g})",
    )
    if h > 1:
        ax.plot(
            t[h - 1 :],
            arrays["model"][:, h - 1, 0],
            lw=1,
            label=f"model, {h} steps ahead (RMSE {result['model']['rmse_per_step'][-1]:.3g})",
        )
    ax.plot(
        t[h - 1 :],
        arrays["naive"][:, h - 1, 0],
        lw=1,
        ls="--",
        label=f"naive, {h} ahead (RMSE {result['naive']['rmse_per_step'][-1]:.3g})",
    )
    if arrays["seasonal_naive"] is not None:
        ax.plot(
            t[h - 1 :],
            arrays["seasonal_naive"][:, h - 1, 0],
            lw=1,
            ls=":",
            label=f"seasonal naive ({result['season']}), {h} ahead (RMSE "
            f"{result['seasonal_naive']['rmse_per_step'][-1]:.3g})",
        )
    ax.set_xlabel(
        f"step of the {result['split']} period (after the first lookback of {result['lookback']})"
    )
    ax.set_ylabel(result["columns"][0])
    ax.set_title(
        f"{result['columns'][0]}: forecast vs actual on the {result['split']} period  "
        f"(all steps: model RMSE {result['model']['rmse']:.3g}, naive "
        f"{result['naive']['rmse']:.3g})"
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, Path(path))


def plot_continuation(result: dict, path: str | Path) -> Path:
    """The last lookback values of the (first) target and the forecast after them."""
    tail = np.asarray(result["history_tail"], dtype=float).reshape(len(result["history_tail"]), -1)[
        :, 0
    ]
    future = np.asarray(result["forecast"], dtype=float).reshape(result["steps"], -1)[:, 0]
    t0 = result["history_length"]
    fig, ax = subplots(figsize=(10, 4))
    ax.plot(np.arange(t0 - len(tail), t0), tail, color="black", lw=1.4, label="history")
    ax.plot(
        np.arange(t0 - 1, t0 + len(future)),
        np.concatenate([tail[-1:], future]),
        lw=1.4,
        label=f"forecast ({result['steps']} steps)",
    )
    ax.set_xlabel("step")
    ax.set_ylabel(result["columns"][0])
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, Path(path))
