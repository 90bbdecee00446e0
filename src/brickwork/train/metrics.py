"""Streaming metrics: sums and counts kept on the device, read once when asked.

Every metric is exact over an epoch whatever the batch sizes (sums, never means of batch
means), and `update` never calls `.item()`, so the device is not synchronized per step.
Definitions follow scikit-learn: macro precision/recall/F1 average over the classes that
occur in the targets or predictions, with 0 where a ratio is undefined; a binary task reports
the positive class (sklearn's average='binary'); RMSE and R2 average over output columns.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from brickwork.spec.train import MetricSpec

NEEDS_CONFUSION = {"precision", "recall", "f1"}


def metric_name(spec: MetricSpec) -> str:
    """The key in logs and history: `accuracy`, `top5_accuracy`, `f1`, `val_rmse`, ..."""
    return f"top{spec.options.get('k', 5)}_accuracy" if spec.type == "top_k_accuracy" else spec.type


class Metrics:
    """Loss and metrics over one pass; `kind` is 'multiclass', 'binary' or 'regression'.

    `confusion=True` also keeps the confusion matrix (evaluate and plots use it).
    """

    def __init__(
        self, specs: list[MetricSpec], kind: str, from_logits: bool = True, confusion: bool = False
    ):
        self.specs = list(specs)
        self.kind = kind
        self.from_logits = from_logits
        names = {s.type for s in self.specs}
        self.confusion = confusion or bool(names & NEEDS_CONFUSION)
        self.want_ppl = "perplexity" in names
        self.state: dict[str, torch.Tensor] = {}
        self.count = 0

    def reset(self) -> None:
        self.state = {}
        self.count = 0

    def _acc(self, name: str, value: torch.Tensor) -> None:
        if name in self.state:
            self.state[name].add_(value)
        else:  # every value passed in is a fresh tensor, so it can be kept as the running sum
            self.state[name] = value

    @torch.no_grad()
    def update(self, out: torch.Tensor, y: torch.Tensor, loss: torch.Tensor | None = None) -> None:
        """Add one batch: `out` the model output, `y` the targets, `loss` the batch's mean loss."""
        tokens = out.dim() > 2 and y.dim() == out.dim() - 1
        if tokens:  # language model: every position is one sample
            out, y = out.reshape(-1, out.shape[-1]), y.reshape(-1)
        n = y.shape[0]
        self.count += n
        if loss is not None:  # under no_grad: no detach needed
            if "loss" in self.state:
                self.state["loss"].add_(loss, alpha=n)  # one op per step: the hot loop calls this
            else:
                self.state["loss"] = loss.float() * n
        if self.kind == "regression":
            self._regression(out, y)
            return
        if self.kind == "binary":
            pred = (out.reshape(n, -1)[:, 0] > (0.0 if self.from_logits else 0.5)).long()
            y = y.reshape(n, -1)[:, 0].round().long()
            classes = 2
        else:
            if y.dim() == out.dim():  # one-hot or soft targets
                y = y.argmax(-1)
            pred = out.argmax(-1)
            classes = out.shape[-1]
        self._acc("correct", (pred == y).sum())
        for spec in self.specs:
            if spec.type == "top_k_accuracy":
                k = min(spec.options.get("k", 5), out.shape[-1])
                self._acc(
                    metric_name(spec), (out.topk(k, -1).indices == y.unsqueeze(-1)).any(-1).sum()
                )
        if self.confusion:
            if "confusion" not in self.state:
                self.state["confusion"] = torch.zeros(
                    classes, classes, dtype=torch.long, device=out.device
                )
            ones = torch.ones_like(y, dtype=torch.long)
            self.state["confusion"].index_put_((y.long(), pred), ones, accumulate=True)
        if self.want_ppl:
            logp = (
                F.log_softmax(out.float(), -1)
                if self.from_logits
                else torch.log(out.float().clamp_min(1e-7))
            )
            self._acc("nll", F.nll_loss(logp, y, reduction="sum"))

    def _regression(self, out: torch.Tensor, y: torch.Tensor) -> None:
        dtype = torch.float32 if out.device.type == "mps" else torch.float64
        n = y.shape[0]
        out = out.reshape(n, -1).to(dtype)
        y = y.reshape(n, -1).to(dtype)
        err = out - y
        self._acc("abs", err.abs().sum(0))
        self._acc("sq", err.pow(2).sum(0))
        self._acc("y", y.sum(0))
        self._acc("y2", y.pow(2).sum(0))

    def compute(self) -> dict[str, float]:
        """The metrics so far as floats (this reads the device once per value)."""
        if not self.count:
            return {}
        n = self.count
        s = {k: v.double().cpu() for k, v in self.state.items()}
        logs: dict[str, float] = {}
        if "loss" in s:
            logs["loss"] = float(s["loss"]) / n
        for spec in self.specs:
            name = metric_name(spec)
            if spec.type == "accuracy":
                logs[name] = float(s["correct"]) / n if "correct" in s else float("nan")
            elif spec.type == "top_k_accuracy":
                logs[name] = float(s[name]) / n if name in s else float("nan")
            elif spec.type in NEEDS_CONFUSION:
                logs[name] = (
                    self.classification_report()[spec.type] if "confusion" in s else float("nan")
                )
            elif spec.type == "perplexity":
                logs[name] = math.exp(float(s["nll"]) / n) if "nll" in s else float("nan")
            elif "sq" not in s:
                logs[name] = float("nan")
            elif spec.type == "mae":
                logs[name] = float(s["abs"].mean()) / n
            elif spec.type == "rmse":
                logs[name] = float((s["sq"] / n).sqrt().mean())
            elif spec.type == "r2":
                total = s["y2"] - s["y"] ** 2 / n
                r2 = torch.where(
                    total > 0,
                    1 - s["sq"] / total.clamp_min(1e-300),
                    torch.where(s["sq"] > 0, 0.0, 1.0),
                )
                logs[name] = float(r2.mean())
        return logs

    def confusion_matrix(self) -> list[list[int]] | None:
        """Rows are true classes, columns predicted classes (as
        sklearn.metrics.confusion_matrix).
        """
        cm = self.state.get("confusion")
        return None if cm is None else cm.cpu().tolist()

    def classification_report(self) -> dict:
        """Precision, recall, F1 (macro, or the positive class when binary) and per-class lists."""
        cm = self.state["confusion"].double().cpu()
        tp = cm.diag()
        predicted, actual = cm.sum(0), cm.sum(1)
        precision = torch.where(predicted > 0, tp / predicted.clamp_min(1), 0.0)
        recall = torch.where(actual > 0, tp / actual.clamp_min(1), 0.0)
        denom = predicted + actual
        f1 = torch.where(denom > 0, 2 * tp / denom.clamp_min(1), 0.0)
        per_class = {
            "precision": precision.tolist(),
            "recall": recall.tolist(),
            "f1": f1.tolist(),
            "support": actual.long().tolist(),
        }
        if self.kind == "binary":
            return {
                "precision": float(precision[1]),
                "recall": float(recall[1]),
                "f1": float(f1[1]),
                "per_class": per_class,
            }
        seen = denom > 0
        return {
            "precision": float(precision[seen].mean()),
            "recall": float(recall[seen].mean()),
            "f1": float(f1[seen].mean()),
            "per_class": per_class,
        }


def default_metrics(kind: str, language_model: bool = False) -> list[MetricSpec]:
    """Metrics used when the spec lists none: accuracy, MAE for regression, perplexity for text."""
    if language_model:
        return [MetricSpec(type="accuracy"), MetricSpec(type="perplexity")]
    return [MetricSpec(type="mae")] if kind == "regression" else [MetricSpec(type="accuracy")]


def task_kind(loss_type: str, task: str | None = None) -> str:
    """What the loss (and the data's task) say about the outputs: 'multiclass', 'binary' or
    'regression'. Class labels under mse/l1/huber/bce are one-hot targets of a multiclass model."""
    if loss_type in ("cross_entropy", "nll") or task == "classification":
        return "multiclass"
    return "binary" if loss_type.startswith("bce") else "regression"
