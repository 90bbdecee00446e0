"""PNG plots for a run: learning curves, confusion matrix, misclassified examples (matplotlib
figures, written atomically).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from brickwork.figures import png_bytes, subplots
from brickwork.models.io import atomic_write


def learning_curves(history: dict[str, list[float]], path: Path) -> Path:
    """One panel per metric (loss first), training and validation curves together."""
    names = [k for k in history if not k.startswith("val_") and k != "lr"]
    fig, axes = subplots(
        1, max(1, len(names)), figsize=(4.5 * max(1, len(names)), 3.5), squeeze=False
    )
    for ax, name in zip(axes[0], names, strict=False):
        epochs = np.arange(1, len(history[name]) + 1)
        ax.plot(epochs, history[name], marker="o", label="train")
        if f"val_{name}" in history:
            ax.plot(epochs, history[f"val_{name}"], marker="o", label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, path)


def confusion_matrix(cm: list[list[int]], class_names: list[str] | None, path: Path) -> Path:
    """Counts with true classes down the rows and predicted classes across."""
    cm = np.asarray(cm)
    names = class_names or [str(i) for i in range(len(cm))]
    size = max(4.0, 0.45 * len(cm) + 2)
    fig, ax = subplots(figsize=(size, size))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(cm)), names, rotation=90 if len(cm) > 10 else 0)
    ax.set_yticks(range(len(cm)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(cm) <= 20:
        for i in range(len(cm)):
            for j in range(len(cm)):
                ax.text(
                    j,
                    i,
                    int(cm[i, j]),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if cm[i, j] > cm.max() / 2 else "black",
                )
    return _save(fig, path)


def misclassified(
    x: torch.Tensor,
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    class_names: list[str] | None,
    path: Path,
    limit: int = 25,
) -> Path | None:
    """A grid of wrongly predicted images titled 'true -> predicted'; None if there are none or x is
    not images.
    """
    wrong = (y_true != y_pred).nonzero().flatten()[:limit]
    if len(wrong) == 0 or x.dim() != 4 or x.shape[1] not in (1, 3):
        return None
    name = (lambda i: class_names[i]) if class_names else str
    cols = min(5, len(wrong))
    rows = (len(wrong) + cols - 1) // cols
    fig, axes = subplots(rows, cols, figsize=(2 * cols, 2.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong.tolist(), strict=False):
        image = x[i].float()
        image = (
            ((image - image.min()) / (image.max() - image.min()).clamp_min(1e-8))
            .permute(1, 2, 0)
            .numpy()
        )
        ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray")
        ax.set_title(f"{name(int(y_true[i]))} -> {name(int(y_pred[i]))}", fontsize=9)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    return atomic_write(path, png_bytes(fig))
