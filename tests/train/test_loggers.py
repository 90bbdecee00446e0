"""Experiment tracking: a run's parameters, metrics and model read back from a real MLflow
store (a local SQLite one) with MlflowClient; the logger protocol; the spec field."""

import pytest
import torch

from brickwork.errors import BrickworkError
from brickwork.models.io import load
from brickwork.spec.run import load_run_spec
from brickwork.spec.train import parse_train_spec
from brickwork.train.loggers import LoggerCallback, params_of
from brickwork.train.loop import fit
from brickwork.train.run import fit_run
from brickwork.train.runner import train_from_spec
from tests.conftest import EXAMPLES

mlflow = pytest.importorskip("mlflow", reason="mlflow (brickwork[tracking]) is not installed")


@pytest.fixture(autouse=True)
def no_tracking_env(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def _run_of(store: str, experiment: str):
    client = mlflow.MlflowClient(store)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment} in {store}"
    (run,) = client.search_runs([found.experiment_id])
    return client, run


def test_a_training_run_lands_in_the_default_mlflow_store(tmp_path):
    overrides = ["train.epochs=2", "train.loggers=[{type: mlflow, log_every_n_steps: 10}]"]
    spec = load_run_spec(EXAMPLES / "digits_cnn.yaml", overrides)
    result = train_from_spec(spec, runs_dir=tmp_path / "runs")
    client, run = _run_of(f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}", "digits_cnn")
    assert run.info.status == "FINISHED" and run.info.run_name == result.run_dir.name
    params = run.data.params
    assert params["train.lr"] == "0.001" and params["model.layers.0.filters"] == "32"
    assert params["data.dataset"] == "digits"
    history = client.get_metric_history(run.info.run_id, "val_loss")
    assert [m.step for m in history] == [1, 2]
    assert [m.value for m in history] == pytest.approx(result.history["val_loss"])
    assert len(client.get_metric_history(run.info.run_id, "batch_loss")) >= 5
    assert run.data.metrics["test_accuracy"] == pytest.approx(result.test_metrics["accuracy"])
    files = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"model.safetensors", "spec.yaml", "metrics.csv", "plots"} <= files
    local = client.download_artifacts(run.info.run_id, "model.safetensors", str(tmp_path / "dl"))
    logged, saved = load(local), load(result.run_dir / "model.safetensors")
    assert logged.card.name == "digits_cnn"
    for a, b in zip(logged.state_dict().values(), saved.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_plain_fit_logs_to_a_given_store_and_closes_the_run(tmp_path):
    store = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    x, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
    model = torch.nn.Sequential(torch.nn.Linear(4, 2))
    logger = {"type": "mlflow", "tracking_uri": store, "experiment": "plain", "run_name": "r"}
    fit(model, x, y, epochs=3, verbose=0, loggers=[logger], task="classification")
    client, run = _run_of(store, "plain")
    assert run.info.status == "FINISHED" and run.info.run_name == "r"
    assert run.data.params["train.epochs"] == "3"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "loss")] == [1, 2, 3]
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["model.safetensors"]
    assert list(
        (tmp_path / "mlartifacts").rglob("model.safetensors")
    )  # beside the db, not ./mlruns


class Recorder:
    """The logger protocol, kept in lists."""

    def __init__(self):
        self.params, self.metrics, self.files, self.status = {}, [], [], None

    def log_params(self, params):
        self.params.update(params)

    def log_metrics(self, metrics, step):
        self.metrics.append((step, dict(metrics)))

    def log_artifact(self, path, folder=None):
        self.files.append(path.name)

    def close(self, status):
        self.status = status


def test_any_logger_with_the_protocol_is_fed_by_the_callback():
    recorder = Recorder()
    x, y = torch.randn(40, 3), torch.randn(40, 1)
    model = torch.nn.Linear(3, 1)
    fit(model, x, y, epochs=2, batch_size=8, verbose=0, callbacks=[LoggerCallback(recorder, 2)])
    epochs = [step for step, m in recorder.metrics if "loss" in m]
    batches = [step for step, m in recorder.metrics if "batch_loss" in m]
    assert epochs == [1, 2] and batches == [2, 4, 6, 8, 10]
    assert recorder.params["train.batch_size"] == "8"
    assert recorder.files == ["model.safetensors"] and recorder.status == "finished"


def test_the_spec_field_names_unknown_loggers_settings_and_repeats():
    assert parse_train_spec({"loggers": "mlflow"}).loggers[0].type == "mlflow"
    with pytest.raises(BrickworkError, match="mlfow") as e:
        parse_train_spec({"loggers": ["mlfow"]})
    assert "did you mean 'mlflow'" in str(e.value)
    with pytest.raises(BrickworkError, match="tracking_url"):
        parse_train_spec({"loggers": [{"type": "mlflow", "tracking_url": "x"}]})
    with pytest.raises(BrickworkError, match="listed twice"):
        parse_train_spec({"loggers": ["mlflow", "mlflow"]})


def test_params_are_strings_within_mlflow_limits():
    params = params_of({"a": {"b c+d": [1, 2]}, "long": "x" * 7000, "f": 0.5, "n": None})
    assert params["a.b c_d.0"] == "1" and params["f"] == "0.5" and params["n"] == "null"
    assert len(params["long"]) == 6000 and params["long"].endswith("...[cut]")


def test_a_resumed_run_continues_its_mlflow_run(tmp_path):
    store = f"sqlite:///{tmp_path / 'm.db'}"
    logger = {"type": "mlflow", "tracking_uri": store, "experiment": "resume"}
    x, y = torch.randn(32, 4), torch.randint(0, 2, (32,))
    options = {"verbose": 0, "loggers": [logger], "task": "classification"}
    torch.manual_seed(0)
    fit_run(torch.nn.Linear(4, 2), x, y, epochs=2, run_dir=tmp_path / "run", **options)
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    fit_run(model, x, y, epochs=4, run_dir=tmp_path / "run", resume=True, **options)
    client, run = _run_of(store, "resume")  # one MLflow run, not two
    assert [m.step for m in client.get_metric_history(run.info.run_id, "loss")] == [1, 2, 3, 4]
    assert run.info.status == "FINISHED"
    assert run.data.params["train.epochs"] == "2" and run.data.tags["resumed.train.epochs"] == "4"


def test_a_store_that_cannot_be_opened_fails_before_training(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "nosuchscheme://nowhere")
    model = torch.nn.Linear(4, 2)
    before = model.weight.detach().clone()
    with pytest.raises(BrickworkError, match="cannot open the MLflow tracking store") as e:
        fit(model, torch.randn(8, 4), torch.randint(0, 2, (8,)), verbose=0, loggers=["mlflow"])
    assert "nosuchscheme://nowhere" in str(e.value) and "\n" not in str(e.value)
    assert torch.equal(model.weight, before)  # nothing trained
