"""Notebook support outside a notebook: detection, the live_plot option, the HTML views."""

from __future__ import annotations

import json
import sys
import types

import pytest
import torch

import brickwork as bw
from brickwork.errors import BrickworkError
from brickwork.layers import Dense
from brickwork.spec.train import TrainSpec
from brickwork.train import live
from brickwork.train.callbacks import Callback
from brickwork.train.live import Evaluation, LiveCurves, in_notebook, wants_live_plot
from brickwork.train.trainer import History


def _data(n=40):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    return x, (x[:, 0] > 0).long()


class _Seen(Callback):
    def on_train_begin(self, logs):
        self.kinds = [type(cb).__name__ for cb in self.trainer.callbacks]


def test_pytest_is_no_notebook_and_auto_adds_no_live_curves():
    assert not in_notebook()
    seen = _Seen()
    model = bw.Sequential([Dense(2)], input_shape=[4])
    bw.fit(model, *_data(), epochs=1, verbose=0, callbacks=[seen])
    assert "LiveCurves" not in seen.kinds


def test_a_jupyter_kernel_and_colab_count_as_notebooks(monkeypatch):
    class ZMQInteractiveShell:
        pass

    class TerminalInteractiveShell:
        pass

    fake = types.SimpleNamespace(get_ipython=lambda: TerminalInteractiveShell())
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert not in_notebook() and not wants_live_plot("auto")
    fake.get_ipython = lambda: ZMQInteractiveShell()
    assert in_notebook() and wants_live_plot("auto")
    assert not wants_live_plot("auto", verbose=0)  # silent fits (tuning trials) draw nothing
    fake.get_ipython = lambda: None
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    assert in_notebook()


def test_live_plot_true_redraws_one_display_each_epoch(monkeypatch):
    pytest.importorskip("IPython")
    shown = []

    class Handle:
        def update(self, obj):
            shown.append(("update", obj))

    def display(obj, display_id=False):
        shown.append(("display", obj))
        return Handle()

    monkeypatch.setattr("IPython.display.display", display)
    model = bw.Sequential([Dense(2)], input_shape=[4])
    x, y = _data()
    bw.fit(model, x, y, validation_data=(x, y), epochs=3, verbose=0, live_plot=True)
    assert [k for k, _ in shown] == ["display", "update", "update"]
    assert all(obj.data.startswith(b"\x89PNG") for _, obj in shown)


def test_live_plot_is_validated():
    assert TrainSpec(live_plot="auto").live_plot == "auto"
    assert TrainSpec(live_plot=False).live_plot is False
    with pytest.raises(ValueError, match="live_plot"):
        TrainSpec(live_plot="sometimes")


def test_live_plot_true_without_ipython_says_what_to_do(monkeypatch):
    monkeypatch.setattr(live.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BrickworkError, match="IPython is not installed"):
        wants_live_plot(True)


def test_evaluation_is_a_json_dict_with_a_table_and_confusion_figure():
    model = bw.Sequential([Dense(2)], input_shape=[4])
    result = bw.evaluate(model, *_data(), task="classification")
    assert isinstance(result, dict) and isinstance(result, Evaluation)
    assert json.loads(json.dumps(result))["accuracy"] == result["accuracy"]
    page = result._repr_html_()
    assert f"{result['accuracy']:.4g}" in page and "data:image/png;base64" in page
    assert "<script" not in Evaluation({"<script>": 1.0})._repr_html_()


def test_history_and_model_show_as_html():
    empty = History()
    assert "no epochs" in empty._repr_html_()
    history = History({"loss": [1.0, 0.5], "val_loss": [1.2, 0.7], "lr": [1e-3, 1e-3]}, [0, 1])
    page = history._repr_html_()
    assert "2 epochs" in page and "data:image/png;base64" in page and "0.7" in page
    model = bw.Sequential([Dense(3), Dense(2)], input_shape=[4])
    page = model._repr_html_()
    assert "dense_1" in page and "Total params: 23" in page
    assert isinstance(bw.summary(model), dict) and json.dumps(bw.summary(model))


def test_live_curves_is_a_callback():
    assert issubclass(LiveCurves, Callback) and LiveCurves.main_process_only
