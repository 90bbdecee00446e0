"""Experiment tracking: a small logger protocol, the MLflow logger, and the callback that
feeds a logger from training.

    train:
      loggers: [mlflow]     # or [{type: mlflow, tracking_uri: http://host:5000, experiment: x}]

Every run directory already holds metrics.csv and TensorBoard events (`csv` and `tensorboard`
in `loggers:` name those two and change nothing); `mlflow` also sends the run's parameters (the
resolved spec as dotted keys), its per-epoch metrics (step = epoch), the training loss every
`log_every_n_steps` batches (`batch_loss`, step = batch), the test metrics (`test_*`) and the
run's files (model.safetensors, spec.yaml, metrics.csv, plots) to an MLflow tracking store.
Any object with the `RunLogger` methods can be fed the same way:
`fit(..., callbacks=[LoggerCallback(my_logger)])`.
"""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
from pathlib import Path
from typing import Protocol

from brickwork.errors import BrickworkError
from brickwork.train.callbacks import Callback

# A resumed run continues its MLflow run, so the checkpoint keeps the run id (state_dict).
MLFLOW_STATUS = {
    "finished": "FINISHED",
    "diverged": "FAILED",
    "failed": "FAILED",
    "interrupted": "KILLED",
}
RUN_FILES = ("model.safetensors", "spec.yaml", "metrics.csv", "test_metrics.json")
RUN_FILES += ("environment.json",)


class RunLogger(Protocol):
    """Where a run's record goes: parameters once, metrics at a step, files, then a final status
    ('finished', 'diverged', 'failed' or 'interrupted')."""

    def log_params(self, params: dict[str, str]) -> None: ...
    def log_metrics(self, metrics: dict[str, float], step: int) -> None: ...
    def log_artifact(self, path: Path, folder: str | None = None) -> None: ...
    def close(self, status: str) -> None: ...


class LoggerCallback(Callback):
    """Feeds a `RunLogger` from fit's hooks: parameters at the start, metrics per epoch (and the
    batch loss every `log_every_n_steps` batches; 0 turns that off), and at the end, unless the
    run layer finishes it (`close_at_train_end=False`), the trained model file.
    """

    main_process_only = True

    def __init__(
        self,
        logger,
        log_every_n_steps: int = 50,
        close_at_train_end: bool = True,
        run_dir: Path | None = None,
    ):
        self.logger, self.every = logger, max(0, int(log_every_n_steps))
        self.close_at_train_end, self.run_dir = close_at_train_end, run_dir

    def on_train_begin(self, logs):
        t = self.trainer
        spec = _read_run_spec(self.run_dir) or {"train": t.spec.model_dump(mode="json")}
        self.logger.log_params(params_of(spec))

    def on_batch_end(self, batch, logs):
        step = self.trainer.global_step
        if self.every and step % self.every == 0:  # reading the loss syncs the device: not always
            self.logger.log_metrics({"batch_loss": float(logs["loss"])}, step)

    def on_epoch_end(self, epoch, logs):
        self.logger.log_metrics({k: float(v) for k, v in logs.items()}, epoch + 1)

    def on_train_end(self, logs):
        if not self.close_at_train_end:
            return
        from brickwork.models.io import save_model

        with tempfile.TemporaryDirectory() as folder:
            path = save_model(self.trainer.model, Path(folder) / "model.safetensors")
            self.logger.log_artifact(path)
        diverged = self.trainer.diverged
        self.logger.close("diverged" if diverged else "finished")

    def finish(self, run_dir: Path, test_metrics: dict, status: str) -> None:
        """After the run layer's test and final model: test metrics, the run's files, status."""
        scalars = {f"test_{k}": float(v) for k, v in test_metrics.items() if _scalar(v)}
        if scalars:
            self.logger.log_metrics(scalars, max(1, len(self.trainer.history.epoch)))
        for name in RUN_FILES:
            if (run_dir / name).is_file():
                self.logger.log_artifact(run_dir / name)
        for plot in sorted((run_dir / "plots").glob("*.png")):
            self.logger.log_artifact(plot, "plots")
        self.logger.close(status)

    def state_dict(self):
        state = getattr(self.logger, "state_dict", None)
        return {"logger": state()} if state else {}

    def load_state_dict(self, state):
        if "logger" in state and hasattr(self.logger, "load_state_dict"):
            self.logger.load_state_dict(state["logger"])


def _scalar(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _read_run_spec(run_dir: Path | None) -> dict | None:
    from brickwork.runs import read_spec

    if run_dir is None or not (Path(run_dir) / "spec.yaml").is_file():
        return None
    return read_spec(run_dir)


def params_of(spec: dict, limit: int = 6000) -> dict[str, str]:
    """The spec as dotted keys with string values (MLflow keeps at most 6000 characters each;
    a longer value is cut and ends in '...[cut]'; spec.yaml, an artifact, has it whole)."""
    from brickwork.runs import flatten

    params = {}
    for key, value in flatten(spec).items():
        text = value if isinstance(value, str) else json.dumps(value)
        key = re.sub(r"[^\w\-. :/]", "_", key)[:250]  # the characters MLflow allows in a key
        params[key] = text if len(text) <= limit else text[: limit - 8] + "...[cut]"
    return params


def spec_loggers(train, run_dir: Path | None, callbacks=(), close_at_train_end: bool = True):
    """The LoggerCallbacks that `train.loggers` asks for, unless `callbacks` already has one
    (in a distributed job only rank 0 logs)."""
    from brickwork.train.distributed import is_main

    if not is_main() or any(isinstance(cb, LoggerCallback) for cb in callbacks):
        return []
    added = []
    for entry in getattr(train, "loggers", None) or []:
        if entry.type == "mlflow":
            options = entry.options
            every = options.pop("log_every_n_steps", 50)
            logger = MLflowLogger(**options, run_dir=run_dir)
            added.append(LoggerCallback(logger, every, close_at_train_end, run_dir))
    return added


@contextlib.contextmanager
def finishing(trackers: list, run_dir: Path | None):
    """Close the run layer's trackers: on success with test metrics and files (the block fills
    `outcome["test_metrics"]` and `outcome["stop_reason"]`), on an exception as failed or
    interrupted."""
    outcome: dict = {"test_metrics": {}, "stop_reason": None}
    try:
        yield outcome
    except BaseException as e:
        for cb in trackers:
            cb.logger.close("interrupted" if isinstance(e, KeyboardInterrupt) else "failed")
        raise
    status = "diverged" if outcome["stop_reason"] == "nan" else "finished"
    for cb in trackers:
        cb.finish(Path(run_dir), outcome["test_metrics"], status)


class MLflowLogger:
    """A `RunLogger` writing to an MLflow tracking store through `MlflowClient`.

    `tracking_uri` defaults to $MLFLOW_TRACKING_URI, else `sqlite:///RUNS/mlflow.db` beside the
    run directories (see it: `mlflow ui --backend-store-uri sqlite:///runs/mlflow.db`); a SQLite
    store keeps artifacts in mlartifacts/ beside its file. `experiment` defaults to the spec's
    name, `run_name` to the run directory's name. The MLflow run starts at the first log call.
    """

    def __init__(
        self,
        tracking_uri: str | None = None,
        experiment: str | None = None,
        run_name: str | None = None,
        run_dir: Path | None = None,
    ):
        import os

        try:
            from mlflow import MlflowClient
        except ImportError:
            raise BrickworkError(
                "train.loggers: mlflow needs the mlflow package, which is not installed; "
                "pip install 'brickwork[tracking]' (or mlflow-skinny), or remove mlflow from "
                "train.loggers."
            ) from None
        runs = Path(run_dir).parent if run_dir is not None else Path("runs")
        if not (tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")):
            runs.mkdir(parents=True, exist_ok=True)
            tracking_uri = f"sqlite:///{(runs / 'mlflow.db').resolve()}"
        self.tracking_uri = tracking_uri or os.environ["MLFLOW_TRACKING_URI"]
        try:  # open the store now: a bad one fails before training, not after it
            self.client = MlflowClient(self.tracking_uri)
            self.client.search_experiments(max_results=1)
        except Exception as e:  # noqa: BLE001 - MLflow raises many kinds for a bad store
            first = (str(e).splitlines() or [""])[0][:300]
            raise BrickworkError(
                f"train.loggers: cannot open the MLflow tracking store '{self.tracking_uri[:200]}' "
                f"({type(e).__name__}: {first}); set tracking_uri (or $MLFLOW_TRACKING_URI) to a "
                "working store such as sqlite:///runs/mlflow.db or http://HOST:5000, or leave both "
                "unset for the default store beside the runs."
            ) from None
        self.experiment = experiment or _spec_name(run_dir) or "brickwork"
        self.run_name = run_name or (Path(run_dir).name if run_dir is not None else None)
        self.run_id: str | None = None
        self.reopen = False

    def _run(self) -> str:
        if self.run_id is None:
            experiment_id = self._experiment_id()
            self.run_id = self.client.create_run(experiment_id, run_name=self.run_name).info.run_id
        elif self.reopen:  # a resumed run continues the MLflow run it started
            self.client.update_run(self.run_id, status="RUNNING")
            self.reopen = False
        return self.run_id

    def _experiment_id(self) -> str:
        """The experiment's id, created when new (another process may create it at once)."""
        found = self.client.get_experiment_by_name(self.experiment)
        if found is not None:
            return found.experiment_id
        location = _beside_sqlite(self.tracking_uri)
        try:
            return self.client.create_experiment(self.experiment, artifact_location=location)
        except Exception:  # noqa: BLE001 - lost a creation race: it exists now
            found = self.client.get_experiment_by_name(self.experiment)
            if found is None:
                raise
            return found.experiment_id

    def log_params(self, params: dict[str, str]) -> None:
        """New keys only: MLflow parameters cannot change, so a resume that changed one (say
        train.epochs) records the new value as the tag `resumed.KEY`."""
        from mlflow.entities import Param, RunTag

        run = self._run()
        old = self.client.get_run(run).data.params
        new = [Param(k, v) for k, v in params.items() if k not in old]
        changed = [RunTag(f"resumed.{k}", v) for k, v in params.items() if k in old and old[k] != v]
        for i in range(0, max(len(new), len(changed)), 100):  # MLflow's batch limit
            self.client.log_batch(run, params=new[i : i + 100], tags=changed[i : i + 100])

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, int(step)) for k, v in metrics.items()]
        self.client.log_batch(self._run(), metrics=batch)

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        self.client.log_artifact(self._run(), str(path), folder)

    def close(self, status: str) -> None:
        if self.run_id is not None:
            self.client.set_terminated(self.run_id, MLFLOW_STATUS.get(status, "FAILED"))

    def state_dict(self) -> dict:
        return {"run_id": self.run_id} if self.run_id else {}

    def load_state_dict(self, state: dict) -> None:
        if state.get("run_id"):
            self.run_id, self.reopen = state["run_id"], True


def _beside_sqlite(uri: str) -> str | None:
    """Artifacts of a SQLite store go in mlartifacts/ beside its file (MLflow would use ./mlruns
    of whatever folder the run happens to start in); a server decides for itself (None)."""
    if not uri.startswith("sqlite:///") or uri.endswith(":memory:"):
        return None
    return (Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlartifacts").as_uri()


def _spec_name(run_dir: Path | None) -> str | None:
    spec = _read_run_spec(run_dir)
    return spec.get("name") if spec else None
