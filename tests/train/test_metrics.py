"""Streaming metrics against scikit-learn, over uneven batches."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from brickwork.spec.train import MetricSpec
from brickwork.train.metrics import Metrics

CLASSIFICATION = [MetricSpec(type=t) for t in ("accuracy", "precision", "recall", "f1")] + [
    MetricSpec(type="top_k_accuracy", k=3)
]


def feed(metrics: Metrics, out: torch.Tensor, y: torch.Tensor, sizes: list[int]) -> dict:
    start = 0
    for size in sizes:
        metrics.update(out[start : start + size], y[start : start + size])
        start += size
    return metrics.compute()


def batch_sizes(n: int, seed: int) -> list[int]:
    """Uneven batch sizes adding up to n (the last one short, as in a real epoch)."""
    rng = np.random.default_rng(seed)
    sizes = []
    while sum(sizes) < n:
        sizes.append(int(min(rng.integers(1, 40), n - sum(sizes))))
    return sizes


@settings(max_examples=25, deadline=None)
@given(n=st.integers(5, 300), classes=st.integers(2, 7), seed=st.integers(0, 10_000))
def test_classification_matches_sklearn(n, classes, seed):
    g = torch.Generator().manual_seed(seed)
    out = torch.randn(n, classes, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    m = Metrics(CLASSIFICATION, "multiclass", confusion=True)
    logs = feed(m, out, y, batch_sizes(n, seed))
    pred = out.argmax(1).numpy()
    yt = y.numpy()
    assert logs["accuracy"] == pytest.approx(skm.accuracy_score(yt, pred))
    for name, fn in (
        ("precision", skm.precision_score),
        ("recall", skm.recall_score),
        ("f1", skm.f1_score),
    ):
        assert logs[name] == pytest.approx(fn(yt, pred, average="macro", zero_division=0)), name
    k = min(3, classes)
    if classes > k:
        expected = skm.top_k_accuracy_score(yt, out.numpy(), k=k, labels=list(range(classes)))
    else:
        expected = 1.0
    assert logs["top3_accuracy"] == pytest.approx(expected)
    assert (
        m.confusion_matrix() == skm.confusion_matrix(yt, pred, labels=list(range(classes))).tolist()
    )
    per_class = m.classification_report()["per_class"]
    assert per_class["f1"] == pytest.approx(
        list(skm.f1_score(yt, pred, average=None, labels=list(range(classes)), zero_division=0))
    )


def test_binary_reports_positive_class_like_sklearn():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(157, 1, generator=g)
    y = torch.randint(0, 2, (157,), generator=g).float()
    m = Metrics(
        [MetricSpec(type=t) for t in ("accuracy", "precision", "recall", "f1")],
        "binary",
        from_logits=True,
    )
    logs = feed(m, logits, y, batch_sizes(157, 1))
    pred = (logits[:, 0] > 0).long().numpy()
    assert logs["accuracy"] == pytest.approx(skm.accuracy_score(y.numpy(), pred))
    assert logs["precision"] == pytest.approx(skm.precision_score(y.numpy(), pred))
    assert logs["recall"] == pytest.approx(skm.recall_score(y.numpy(), pred))
    assert logs["f1"] == pytest.approx(skm.f1_score(y.numpy(), pred))
    probs = Metrics([MetricSpec(type="accuracy")], "binary", from_logits=False)
    assert feed(probs, torch.sigmoid(logits), y, [157])["accuracy"] == pytest.approx(
        logs["accuracy"]
    )


@settings(max_examples=20, deadline=None)
@given(n=st.integers(3, 200), outputs=st.integers(1, 3), seed=st.integers(0, 10_000))
def test_regression_matches_sklearn(n, outputs, seed):
    g = torch.Generator().manual_seed(seed)
    y = torch.randn(n, outputs, generator=g) * 3 + 1
    out = y + torch.randn(n, outputs, generator=g)
    m = Metrics([MetricSpec(type=t) for t in ("mae", "rmse", "r2")], "regression")
    logs = feed(m, out, y, batch_sizes(n, seed))
    assert logs["mae"] == pytest.approx(skm.mean_absolute_error(y.numpy(), out.numpy()), rel=1e-6)
    assert logs["rmse"] == pytest.approx(
        skm.root_mean_squared_error(y.numpy(), out.numpy()), rel=1e-6
    )
    assert logs["r2"] == pytest.approx(skm.r2_score(y.numpy(), out.numpy()), rel=1e-6, abs=1e-9)


def test_loss_and_perplexity_are_exact_over_uneven_batches():
    g = torch.Generator().manual_seed(0)
    out = torch.randn(7, 11, 13, generator=g)  # language model: [N, T, vocab]
    y = torch.randint(0, 13, (7, 11), generator=g)
    m = Metrics([MetricSpec(type="perplexity"), MetricSpec(type="accuracy")], "multiclass")
    for a, b in ((0, 4), (4, 5), (5, 7)):
        m.update(out[a:b], y[a:b], F.cross_entropy(out[a:b].reshape(-1, 13), y[a:b].reshape(-1)))
    logs = m.compute()
    full = F.cross_entropy(out.reshape(-1, 13), y.reshape(-1)).item()
    assert logs["loss"] == pytest.approx(full, rel=1e-6)
    assert logs["perplexity"] == pytest.approx(math.exp(full), rel=1e-6)
    assert logs["accuracy"] == pytest.approx((out.argmax(-1) == y).float().mean().item())


def test_update_never_synchronizes(monkeypatch):
    """`update` must not read values back (no .item()/.tolist()) so the device is never synced per
    step.
    """

    def forbidden(*args, **kwargs):
        raise AssertionError("update read a value from the device")

    m = Metrics(CLASSIFICATION, "multiclass", confusion=True)
    monkeypatch.setattr(torch.Tensor, "item", forbidden)
    monkeypatch.setattr(torch.Tensor, "tolist", forbidden)
    m.update(torch.randn(8, 4), torch.randint(0, 4, (8,)), torch.tensor(1.0))
