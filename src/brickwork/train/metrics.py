"""Streaming metrics: sums and counts kept on the device, read once when asked.

Every metric is exact over an epoch whatever the batch sizes (sums, never means of batch
means), and `update` never calls `.item()`, so the device is not synchronized per step.
Definitions follow scikit-learn: macro precision/recall/F1 average over the classes that
occur in the targets or predictions, with 0 where a ratio is undefined; a binary task reports
the positive class (sklearn's average='binary'); RMSE and R2 average over output columns.
"""

from __future__ import annotations

import copy
import math
import re

import torch
import torch.nn.functional as F

from brickwork.errors import BrickworkError
from brickwork.spec.train import METRICS, MetricSpec

NEEDS_CONFUSION = {"precision", "recall", "f1"}
RESERVED = {"loss", "lr", *METRICS}  # names your own metrics cannot take


def metric_name(spec: MetricSpec) -> str:
    """The key in logs and history: `accuracy`, `top5_accuracy`, `f1`, `val_rmse`, ..."""
    return f"top{spec.options.get('k', 5)}_accuracy" if spec.type == "top_k_accuracy" else spec.type


def is_metric_object(obj) -> bool:
    """An object with update/compute/reset, such as a torchmetrics metric."""
    return all(callable(getattr(obj, name, None)) for name in ("update", "compute", "reset"))


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def split_metrics(metrics) -> tuple[list | None, dict[str, object]]:
    """`metrics=` of fit/evaluate -> (built-in names and mappings for the spec, your own by name).

    Your own are objects with update/compute/reset (torchmetrics works unchanged), logged under
    their class name in snake_case (`MulticlassAccuracy` -> `multiclass_accuracy`), or functions
    `(output, target) -> tensor`, logged under the function's name; a dict `{name: metric}` names
    them yourself. None stays None (the task's default metrics).
    """
    if metrics is None:
        return None, {}
    items = metrics.items() if isinstance(metrics, dict) else [(None, m) for m in _listed(metrics)]
    named, own = [], {}
    for key, m in items:
        if isinstance(m, str | dict | MetricSpec):
            named.append(m)  # a built-in logs under its own name
            continue
        if not (is_metric_object(m) or callable(m)):
            raise BrickworkError(
                f"metrics: {type(m).__name__} is neither a metric name, an object with "
                "update/compute/reset (e.g. a torchmetrics metric) nor a function "
                "(output, target) -> tensor."
            )
        name = key or (_snake(type(m).__name__) if is_metric_object(m) else m.__name__)
        if (
            name == "<lambda>"
            or name in own
            or name in RESERVED
            or re.fullmatch(r"top\d+_accuracy", name)
        ):
            raise BrickworkError(
                f"metrics: cannot log a metric as '{name}' (unnamed, taken, or reserved); pass "
                "metrics={'my_name': metric, ...} to name it."
            )
        own[name] = m
    return named, own


def _listed(metrics) -> list:
    return (
        [metrics]
        if isinstance(metrics, str | dict) or not hasattr(metrics, "__iter__")
        else list(metrics)
    )


class Metrics:
    """Loss and metrics over one pass; `kind` is 'multiclass', 'binary' or 'regression' (None
    when only your own metrics are kept).

    `confusion=True` also keeps the confusion matrix (evaluate and plots use it). `own` holds
    your metrics by name (see `split_metrics`): objects are updated with `(output, target)` and
    read with `compute()`; a function's batch values are averaged over samples on the device.
    """

    def __init__(
        self,
        specs: list[MetricSpec],
        kind: str | None,
        from_logits: bool = True,
        confusion: bool = False,
        own: dict[str, object] | None = None,
    ):
        self.specs = list(specs)
        self.kind = kind
        self.from_logits = from_logits
        names = {s.type for s in self.specs}
        self.confusion = kind is not None and (confusion or bool(names & NEEDS_CONFUSION))
        self.want_ppl = "perplexity" in names
        self.own = dict(own or {})
        self.state: dict[str, torch.Tensor] = {}
        self.count = 0  # what the metrics average over: samples, or tokens of a language model
        self.samples = 0  # rows of the batches (sequences of a language model)
        self.tokens = False  # a language model: the metrics average over its tokens

    def copy(self) -> Metrics:
        """Fresh counters with copies of your metric objects (validation keeps its own)."""
        return Metrics(
            self.specs, self.kind, self.from_logits, self.confusion, copy.deepcopy(self.own)
        )

    def reset(self) -> None:
        self.state = {}
        self.count = self.samples = 0
        for m in self.own.values():
            if is_metric_object(m):
                m.reset()

    def _acc(self, name: str, value: torch.Tensor) -> None:
        if name in self.state:
            self.state[name].add_(value)
        else:  # every value passed in is a fresh tensor, so it can be kept as the running sum
            self.state[name] = value

    @torch.no_grad()
    def update(
        self,
        out: torch.Tensor | None,
        y: torch.Tensor,
        loss: torch.Tensor | None = None,
        parts: dict[str, torch.Tensor] | None = None,
    ) -> None:
        """Add one batch: `out` the model output (None: only losses), `y` the targets, `loss`
        the batch's mean loss, `parts` other per-batch means to log (a custom step's losses)."""
        if out is None and (self.specs or self.own):
            raise BrickworkError(
                "metrics: computing them needs the step's output; return "
                '{"loss": ..., "output": model_output} from your train_step/eval_step, or ask '
                "for no metrics."
            )
        if self.own:
            self._update_own(out, y)
        self.samples += y.shape[0] if y.dim() else 1
        tokens = out is not None and out.dim() > 2 and y.dim() == out.dim() - 1
        self.tokens = self.tokens or tokens
        if tokens:  # language model: every position is one sample
            out, y = out.reshape(-1, out.shape[-1]), y.reshape(-1)
        n = y.shape[0] if y.dim() else 1
        self.count += n
        if loss is not None:  # under no_grad: no detach needed
            if "loss" in self.state:
                self.state["loss"].add_(loss, alpha=n)  # one op per step: the hot loop calls this
            else:
                self.state["loss"] = loss.float() * n
        for name, value in (parts or {}).items():
            self._acc(f"part:{name}", value.detach().float() * n)
        if out is None or self.kind is None:
            return
        if self.kind == "regression":
            self._regression(out, y)
        else:
            self._classes(out, y, n)

    def _classes(self, out: torch.Tensor, y: torch.Tensor, n: int) -> None:
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

    def _update_own(self, out: torch.Tensor, y: torch.Tensor) -> None:
        n = y.shape[0] if y.dim() else 1
        for name, m in self.own.items():
            if is_metric_object(m):
                m.update(out, y)
            else:
                self._acc(f"fn:{name}", _scalar(m(out, y), name).detach().float() * n)
                self._acc(f"fn_n:{name}", torch.tensor(float(n), device=out.device))

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
        logs.update({k[5:]: float(v) / n for k, v in s.items() if k.startswith("part:")})
        logs.update(self._builtin(s, n))
        logs.update(self._compute_own(s))
        return logs

    def _compute_own(self, s: dict[str, torch.Tensor]) -> dict[str, float]:
        logs: dict[str, float] = {}
        for name, m in self.own.items():
            if not is_metric_object(m):
                total, count = s.get(f"fn:{name}"), s.get(f"fn_n:{name}")
                logs[name] = float(total / count) if total is not None else float("nan")
                continue
            value = m.compute()
            if isinstance(value, dict):  # a torchmetrics MetricCollection
                logs.update(
                    {f"{name}_{k}": float(_scalar(v, f"{name}.{k}")) for k, v in value.items()}
                )
            else:
                logs[name] = float(_scalar(torch.as_tensor(value), name))
        return logs

    def _builtin(self, s: dict[str, torch.Tensor], n: int) -> dict[str, float]:
        logs: dict[str, float] = {}
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


def _scalar(value, name: str) -> torch.Tensor:
    """One number from a metric, or an error naming it."""
    value = torch.as_tensor(value)
    if value.numel() != 1:
        raise BrickworkError(
            f"metric '{name}' gave a tensor of shape {list(value.shape)}; a metric must give one "
            "number (for per-class values, set average= or wrap it in a function)."
        )
    return value.reshape(())


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
