"""Model outputs in the user's terms: top-k labels with probabilities, or raw values.

Shared by `brickwork predict` and `brickwork serve`.
"""

from __future__ import annotations

import torch

from brickwork.models.card import ModelCard


def interpret(out: torch.Tensor, card: ModelCard, activation: str | None, top_k: int) -> list[dict]:
    """Top-k labels with probabilities for classifiers, raw values for regression.

    `activation` is the model's output activation ('softmax', 'log_softmax', 'sigmoid' or
    None for logits), so probabilities are computed once and never twice.
    """
    task = card.task
    names = card.class_names
    if task == "regression":
        return [{"values": row.flatten().tolist()} for row in out]
    if out.dim() == 1 or out.shape[-1] == 1:
        p = out.reshape(-1) if activation == "sigmoid" else torch.sigmoid(out.reshape(-1))
        probs = torch.stack([1 - p, p], -1)
    else:
        probs = (
            out
            if activation == "softmax"
            else out.exp()
            if activation == "log_softmax"
            else out.softmax(-1)
        )
    k = min(top_k, probs.shape[-1])
    values, indices = probs.topk(k, -1)
    label = (lambda i: names[i]) if names else str
    return [
        {
            "top": [
                {"label": label(int(i)), "probability": float(v)}
                for v, i in zip(vs, ix, strict=True)
            ]
        }
        for vs, ix in zip(values, indices, strict=True)
    ]
