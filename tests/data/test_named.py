"""Named datasets: co2 and sunspots shipped inside the package, tinyshakespeare and imdb on
their downloaded files (generated stand-ins here, checksums off), and the code that reads a
named series as a `timeseries` (forecast, serve)."""

from __future__ import annotations

import pytest
import torch

from brickwork.data import load_data
from brickwork.errors import BrickworkError
from brickwork.spec.data import DataSpec


def test_co2_and_sunspots_are_embedded_series():
    co2 = load_data({"dataset": "co2", "lookback": 104, "horizon": 12})
    assert co2.input_shape == [104, 1] and co2.extra["target_columns"] == ["co2"]
    assert co2.extra["missing"]["count"] == 59  # reported and interpolated, never zeros
    assert co2.extra["source"].endswith("embedded/co2.csv")
    assert sum(co2.extra["steps"].values()) == 2284
    sun = load_data({"dataset": "sunspots", "lookback": 22, "horizon": 4})
    assert (
        sun.extra["target_columns"] == ["SUNACTIVITY"] and sum(sun.extra["steps"].values()) == 309
    )


def test_named_dataset_keeps_the_options_of_its_kind(tmp_path):
    from brickwork.data.named import concrete_spec

    spec = DataSpec(dataset="co2", target_columns="date", lookback=4, missing="drop")
    concrete = concrete_spec(spec)
    assert concrete.dataset == "timeseries" and concrete.target_columns == "date"
    assert concrete.missing == "drop" and concrete.path.endswith("co2.csv")
    assert concrete_spec(DataSpec(dataset="digits")) == DataSpec(dataset="digits")


@pytest.mark.parametrize("field", ["path", "test_path"])
def test_named_dataset_refuses_a_path(field):
    with pytest.raises(
        BrickworkError, match=f"data.{field}: dataset 'sunspots'.*dataset: timeseries"
    ):
        load_data({"dataset": "sunspots", field: "mine.csv"})


def test_tinyshakespeare_is_text_on_the_file_in_data_dir(tmp_path):
    corpus = "ROMEO:\nBut soft, what light through yonder window breaks?\n\n" * 40
    (tmp_path / "tinyshakespeare").mkdir()
    (tmp_path / "tinyshakespeare" / "input.txt").write_text(corpus)
    spec = {"dataset": "tinyshakespeare", "data_dir": str(tmp_path), "seq_len": 16}
    b = load_data({**spec, "verify_checksums": False, "download": False})
    assert b.task == "language_model" and b.input_shape == [16]
    assert b.vocab.decode(b.train.x[0]) == corpus[:16]
    with pytest.raises(BrickworkError, match="MD5"):  # not the published corpus: refused
        load_data({**spec, "download": False})


def test_tinyshakespeare_offline_names_the_dataset(tmp_path):
    with pytest.raises(BrickworkError, match=r"dataset 'tinyshakespeare'.*brickwork download"):
        load_data({"dataset": "tinyshakespeare", "data_dir": str(tmp_path), "download": False})


def test_imdb_tables_come_from_the_archive_once(tmp_path, monkeypatch):
    from tests.data.makefiles import write_imdb

    monkeypatch.setenv("BRICKWORK_DATA", str(tmp_path / "cache"))
    write_imdb(tmp_path / "imdb")
    spec = {"dataset": "imdb", "data_dir": str(tmp_path), "verify_checksums": False}
    b = load_data({**spec, "tokenizer": "word", "max_len": 12, "download": False})
    assert b.task == "binary" and b.class_names == ["neg", "pos"]
    assert len(b.train) + len(b.val) == 24 and len(b.test) == 24  # unsup, urls, vocab left out
    assert b.train.y.dtype == torch.float32 and sorted(set(b.test.y.tolist())) == [0.0, 1.0]
    assert sorted(p.name for p in (tmp_path / "imdb").iterdir()) == ["aclImdb_v1.tar.gz"]
    table = tmp_path / "cache" / "imdb" / "imdb_train.csv"
    assert "Café 0 <br />" in table.read_text(encoding="utf-8")
    before = table.stat().st_mtime_ns
    load_data({**spec, "download": False})
    assert table.stat().st_mtime_ns == before  # made once, reused while the archive is unchanged


def test_imdb_archive_that_is_not_imdb_is_refused(tmp_path, monkeypatch):
    import tarfile

    monkeypatch.setenv("BRICKWORK_DATA", str(tmp_path / "cache"))
    (tmp_path / "imdb").mkdir()
    with tarfile.open(tmp_path / "imdb" / "aclImdb_v1.tar.gz", "w:gz"):
        pass
    spec = {"dataset": "imdb", "data_dir": str(tmp_path), "verify_checksums": False}
    with pytest.raises(BrickworkError, match="not the IMDB archive"):
        load_data({**spec, "download": False})
    (tmp_path / "imdb" / "aclImdb_v1.tar.gz").write_bytes(b"\x1f\x8b truncated")
    with pytest.raises(BrickworkError, match="not a readable IMDB archive"):
        load_data({**spec, "download": False})


def test_text_classifier_example_trains_on_imdb(tmp_path, monkeypatch):
    from brickwork.spec.run import load_run_spec
    from brickwork.train.runner import train_from_spec
    from tests.conftest import EXAMPLES
    from tests.data.makefiles import write_imdb

    monkeypatch.setenv("BRICKWORK_DATA", str(tmp_path / "cache"))
    write_imdb(tmp_path / "data" / "imdb")
    overrides = [f"data.data_dir={tmp_path / 'data'}", "data.verify_checksums=false"]
    overrides += ["data.download=false", "train.epochs=1", "train.verbose=0"]
    spec = load_run_spec(EXAMPLES / "text_classifier.yaml", overrides)
    result = train_from_spec(spec, runs_dir=tmp_path / "runs")
    assert 0 <= result.test_metrics["accuracy"] <= 1
    assert (result.run_dir / "model.safetensors").is_file()


def test_forecast_and_server_treat_a_co2_model_as_a_forecaster(tmp_path):
    from brickwork.forecast.rollout import forecast, series_spec
    from brickwork.models.io import load
    from brickwork.serve.app import model_kind
    from brickwork.spec.run import parse_run_spec
    from brickwork.train.runner import train_from_spec

    spec = parse_run_spec(
        {
            "model": {"input_shape": [8, 1], "layers": ["flatten", {"type": "dense", "units": 2}]},
            "data": {"dataset": "sunspots", "lookback": 8, "horizon": 2},
            "train": {"epochs": 1, "verbose": 0},
        }
    )
    run_dir = train_from_spec(spec, runs_dir=tmp_path).run_dir
    model = load(run_dir / "model.safetensors")
    assert model.card.data["dataset"] == "sunspots"
    assert series_spec(model).dataset == "timeseries"
    assert model_kind(model, model.card) == "forecaster"
    result = forecast(model, 4)
    assert result["history_length"] == 309 and len(result["forecast"]) == 4
