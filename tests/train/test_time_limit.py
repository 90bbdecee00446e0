"""TimeLimit (`{type: time_limit, max_time: S}`): training stops at the last epoch end from which
one more epoch, as long as the longest so far, would still fit in the budget."""

import pytest

from brickwork.errors import BrickworkError
from brickwork.spec.train import parse_train_spec
from brickwork.train import Callback, fit
from brickwork.train import callbacks as callbacks_module

from .helpers import blobs, mlp


class FakeClock(Callback):
    """Each epoch takes the next of `durations` seconds on a fake monotonic clock."""

    def __init__(self, durations):
        self.durations, self.now = list(durations), 100.0

    def monotonic(self) -> float:
        return self.now

    def on_epoch_begin(self, epoch, logs):  # runs after TimeLimit's, so the epoch spans it
        self.now += self.durations[epoch]


def run(durations, max_time, monkeypatch, epochs=10):
    clock = FakeClock(durations)
    monkeypatch.setattr(callbacks_module.time, "monotonic", clock.monotonic)
    x, y = blobs(n=60)
    train = {"callbacks": [{"type": "time_limit", "max_time": max_time}], "epochs": epochs}
    return fit(mlp(), x, y, train=train, verbose=0, callbacks=[clock])


def test_stops_before_an_epoch_that_would_overrun(monkeypatch):
    history = run([10.0] * 10, max_time=35, monkeypatch=monkeypatch)
    assert len(history.epoch) == 3  # 30 s used; a 4th 10 s epoch would end at 40 > 35
    assert history.stop_reason == "stopped"


def test_judges_by_the_longest_epoch_so_far(monkeypatch):
    history = run([5.0, 20.0, 1.0, 1.0, 1.0], max_time=45, monkeypatch=monkeypatch, epochs=5)
    assert len(history.epoch) == 3  # after 26 s, a 20 s epoch would end at 46 > 45


def test_a_budget_that_is_never_reached_changes_nothing(monkeypatch):
    history = run([1.0] * 4, max_time=900, monkeypatch=monkeypatch, epochs=4)
    assert len(history.epoch) == 4 and history.stop_reason != "stopped"


@pytest.mark.parametrize("bad", [0, -5, float("inf"), "15m", True])
def test_bad_budgets_are_refused_naming_the_setting(bad):
    with pytest.raises(BrickworkError, match="max_time"):
        parse_train_spec({"callbacks": [{"type": "time_limit", "max_time": bad}]})


def test_one_callback_object_reused_by_a_second_fit_forgets_the_first_fits_epochs(monkeypatch):
    limit = callbacks_module.TimeLimit(max_time=45, verbose=0)
    x, y = blobs(n=60)
    for durations, epochs in (([30.0], 1), ([5.0] * 8, 8)):
        clock = FakeClock(durations)
        monkeypatch.setattr(callbacks_module.time, "monotonic", clock.monotonic)
        history = fit(mlp(), x, y, epochs=epochs, verbose=0, callbacks=[limit, clock])
    assert len(history.epoch) == 8  # judged by its own 5 s epochs, not the first fit's 30 s
