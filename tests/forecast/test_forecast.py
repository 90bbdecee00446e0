"""Forecasting: chronological split with training-only scaling, baselines computed by hand
from the raw CSV, recursive continuation equal to a hand-written loop, and the CLI."""

import argparse
import json

import numpy as np
import pytest
import torch

from brickwork.cli import sequence_cmds
from brickwork.data import load_data
from brickwork.errors import BrickworkError
from brickwork.forecast import evaluate_forecast, forecast, seasonal_period
from brickwork.models import Sequential
from brickwork.spec.run import parse_run_spec
from brickwork.train.runner import train_from_spec

N, LOOKBACK, HORIZON, SEASON = 300, 24, 4, 12


def raw_series(n=N, seed=0):
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    return 50 + 0.05 * t + 3 * np.sin(2 * np.pi * t / SEASON) + rng.normal(0, 0.3, n)


def write_csv(path, values, extra=None):
    lines = ["step,value" + (",temp" if extra is not None else "")]
    for i, v in enumerate(values):
        lines.append(f"{i},{v:.6f}" + (f",{extra[i]:.3f}" if extra is not None else ""))
    path.write_text("\n".join(lines) + "\n")
    return path


def data_section(path, **more):
    return {
        "dataset": "timeseries",
        "path": str(path),
        "target_columns": "value",
        "lookback": LOOKBACK,
        "horizon": HORIZON,
        "validation_split": 0.1,
        "test_split": 0.2,
        **more,
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("series")
    values = raw_series()
    path = write_csv(tmp / "series.csv", values)
    spec = parse_run_spec(
        {
            "name": "tiny_lstm",
            "model": {
                "input_shape": [LOOKBACK, 1],
                "layers": [{"type": "lstm", "units": 16}, {"type": "dense", "units": HORIZON}],
            },
            "data": data_section(path),
            "train": {
                "epochs": 4,
                "batch_size": 32,
                "lr": 0.01,
                "verbose": 0,
                "loss": "mse",
                "metrics": ["mae", "rmse"],
            },
        }
    )
    result = train_from_spec(spec, runs_dir=tmp / "runs")
    from brickwork.models.io import load

    units = result.test_metrics["units"]
    assert "standardised" in units and "data's units of value" in units
    assert result.test_metrics["rmse_data_units"] > 0
    model = load(result.run_dir / "model.safetensors")
    assert model.card.name == result.run_dir.name  # the run's name travels with it
    return model, values, result.run_dir


def splits(n):
    n_test, n_val = round(n * 0.2), round(n * 0.1)
    return slice(0, n - n_val - n_test), slice(n - n_val - n_test, n - n_test), slice(n - n_test, n)


def test_seasonal_period_finds_the_cycle_despite_the_trend():
    assert seasonal_period(raw_series(), 40) == SEASON
    assert seasonal_period(np.arange(400.0), 40) is None  # a trend alone has no season
    assert seasonal_period(raw_series()[:20], 40) is None  # too short to see one season


def test_chronological_split_and_scaling_from_the_training_period_only(tmp_path):
    values = raw_series()
    tr, va, te = splits(N)
    b = load_data(data_section(write_csv(tmp_path / "a.csv", values)))
    mean, std = values[tr].mean(), values[tr].std()
    assert b.extra["target_scaler"]["mean"][0] == pytest.approx(mean, rel=1e-6)
    assert b.extra["target_scaler"]["std"][0] == pytest.approx(std, rel=1e-6)
    # windows stay inside their part: first/last targets of each part, in data units
    for part, sl in ((b.train, tr), (b.val, va), (b.test, te)):
        seg = values[sl]
        assert len(part) == len(seg) - LOOKBACK - HORIZON + 1
        assert part.x[0, :, 0].double().numpy() * std + mean == pytest.approx(
            seg[:LOOKBACK], abs=1e-3
        )
        assert part.y[-1].double().numpy() * std + mean == pytest.approx(seg[-HORIZON:], abs=1e-3)
    # the future cannot move the scaler: change the held-out period, same statistics
    changed = values.copy()
    changed[va.start :] += 1000
    b2 = load_data(data_section(write_csv(tmp_path / "b.csv", changed)))
    assert b2.extra["target_scaler"] == b.extra["target_scaler"]
    assert torch.equal(b2.train.x, b.train.x)


def test_evaluation_matches_a_direct_computation(trained):
    model, values, _ = trained
    result = evaluate_forecast(model, season=SEASON)
    seg = values[splits(N)[2]]
    n = len(seg) - LOOKBACK - HORIZON + 1
    actual = np.stack([seg[i + LOOKBACK : i + LOOKBACK + HORIZON] for i in range(n)])
    naive = np.stack([np.full(HORIZON, seg[i + LOOKBACK - 1]) for i in range(n)])
    seasonal = np.stack(
        [[seg[i + LOOKBACK - SEASON + h % SEASON] for h in range(HORIZON)] for i in range(n)]
    )
    mean, std = (
        model.card.preprocessing["steps"][0]["mean"][0],
        model.card.preprocessing["steps"][0]["std"][0],
    )
    with torch.no_grad():
        x = torch.tensor(
            (np.stack([seg[i : i + LOOKBACK] for i in range(n)]) - mean) / std, dtype=torch.float32
        )[..., None]
        pred = model(x).double().numpy() * std + mean
    assert result["windows"] == n and result["season"] == SEASON
    for name, got in (("naive", naive), ("seasonal_naive", seasonal), ("model", pred)):
        err = got - actual
        assert result[name]["mae"] == pytest.approx(np.abs(err).mean(), rel=1e-4)
        assert result[name]["rmse"] == pytest.approx(np.sqrt((err**2).mean()), rel=1e-4)
    assert result["model"]["rmse_per_step"] == pytest.approx(
        np.sqrt(((pred - actual) ** 2).mean(0)), rel=1e-4
    )
    tr, te = splits(N)[0], splits(N)[2]
    rows = te.start + LOOKBACK + np.arange(n)[:, None] + np.arange(HORIZON)[None, :]
    phase = np.array([values[tr][p::SEASON].mean() for p in range(SEASON)])
    for name, got in (
        ("mean", np.full_like(actual, values[tr].mean())),
        ("climatology", phase[rows % SEASON]),
    ):
        assert result[name]["mae"] == pytest.approx(np.abs(got - actual).mean(), rel=1e-4)
    assert "data's units of value" in result["units"]
    assert evaluate_forecast(model)["season"] == SEASON  # estimated from the training part


def test_season_only_where_the_data_support_it():
    from brickwork.forecast.evaluation import choose_season

    v, noise = raw_series()[:210], np.random.default_rng(1).normal(size=210)
    yearly = {"column": "year", "frequency": "yearly", "season": None}
    monthly = {"column": "date", "frequency": "monthly", "season": 12}
    assert choose_season(v, yearly, None) == (
        None,
        "none: yearly data has no season unless one is given (--season)",
    )
    assert choose_season(v, yearly, 11) == (11, "given")
    assert choose_season(v, monthly, None)[0] == 12
    assert choose_season(noise, monthly, None)[0] is None
    assert choose_season(noise, None, None)[0] is None
    assert choose_season(v, None, None)[0] == SEASON
    assert choose_season(v[:30], None, None)[0] is None  # fewer than three cycles


def test_recursive_forecast_equals_a_hand_written_loop(trained):
    model, values, _ = trained
    mean, std = (
        model.card.preprocessing["steps"][0]["mean"][0],
        model.card.preprocessing["steps"][0]["std"][0],
    )
    window = list((values[-LOOKBACK:] - mean) / std)
    expected = []
    with torch.no_grad():
        while len(expected) < 10:
            out = model(torch.tensor(window[-LOOKBACK:], dtype=torch.float32)[None, :, None])[
                0
            ].tolist()
            expected += out
            window += out
    expected = np.array(expected[:10]) * std + mean
    got = forecast(model, 10)
    assert got["steps"] == 10 and got["columns"] == ["value"] and got["history_length"] == N
    assert got["forecast"] == pytest.approx(expected, rel=1e-5)
    assert forecast(model, 10, history=values)["forecast"] == pytest.approx(got["forecast"])
    shorter = forecast(model, 3, history=values[:200])
    assert len(shorter["forecast"]) == 3 and shorter["history_tail"] == pytest.approx(
        values[200 - LOOKBACK : 200]
    )


def test_forecast_errors(trained, tmp_path):
    model, values, _ = trained
    with pytest.raises(BrickworkError, match="lookback"):
        forecast(model, 5, history=values[:10])
    with pytest.raises(BrickworkError, match="column"):
        forecast(model, 5, history=np.stack([values, values], 1))
    with pytest.raises(BrickworkError, match="at least 1"):
        forecast(model, 0)
    classifier = Sequential([{"type": "dense", "units": 2}], input_shape=[3])
    classifier.card = classifier.card.updated(data={"dataset": "digits"})
    with pytest.raises(BrickworkError, match="timeseries"):
        forecast(classifier, 3)
    # a model that also reads a feature column can only forecast one horizon ahead
    path = write_csv(tmp_path / "f.csv", values, extra=np.arange(N) % 7)
    two = Sequential(
        [{"type": "lstm", "units": 4}, {"type": "dense", "units": HORIZON}],
        input_shape=[LOOKBACK, 2],
    )
    two.card = two.card.updated(
        data=data_section(path, feature_columns=["temp"]),
        preprocessing=load_data(data_section(path, feature_columns=["temp"])).preprocessing,
    )
    assert len(forecast(two, HORIZON)["forecast"]) == HORIZON
    with pytest.raises(BrickworkError, match="feature column"):
        forecast(two, HORIZON + 1)


def cli(*argv) -> int:
    parser = argparse.ArgumentParser()
    sequence_cmds.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([str(a) for a in argv])
    return args.func(args)


def test_forecast_cli(trained, tmp_path, capsys):
    model, values, run_dir = trained
    assert cli("forecast", run_dir, "--steps", 6, "--plot", tmp_path / "next.png") == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["step", "value"] and len(lines) == 7
    assert float(lines[1].split()[1]) == pytest.approx(forecast(model, 1)["forecast"][0], abs=1e-4)
    assert (tmp_path / "next.png").read_bytes()[:4] == b"\x89PNG"
    assert cli("forecast", run_dir, "--evaluate", "--season", SEASON, "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["naive"]["rmse"] > 0 and result["season"] == SEASON
    assert (run_dir / "plots" / "forecast_test.png").is_file()
    assert cli("forecast", run_dir, "--evaluate") == 0
    out = capsys.readouterr().out
    assert "seasonal_naive" in out and "naive" in out
    with pytest.raises(BrickworkError, match="--steps N"):
        cli("forecast", run_dir)
    with pytest.raises(BrickworkError, match="history file"):
        cli("forecast", run_dir, "--steps", 2, "--history", tmp_path / "missing.csv")
    assert (
        cli(
            "forecast",
            run_dir,
            "--steps",
            2,
            "--history",
            write_csv(tmp_path / "h.csv", values[:100]),
            "--json",
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["forecast"] == pytest.approx(
        forecast(model, 2, history=values[:100])["forecast"]
    )
    with pytest.raises(BrickworkError, match="between 1 and the training period's 210 rows"):
        cli("forecast", run_dir, "--evaluate", "--season", 500)
