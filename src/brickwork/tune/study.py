"""Hyperparameter search with Optuna: one trial = one in-process training of a resolved spec.

    from brickwork.tune import tune
    result = tune("examples/tune/digits_mlp.yaml", trials=30, storage="sqlite:///tune.db")
    result.best_spec, result.out_dir

Trials keep no run directory (so a study of hundreds stays light); their parameters, values
and per-epoch reports live in the study, and the best resolved spec is written as a file for
`brickwork train`. With a `storage` URL the study is kept in a database: running again
resumes it (trial numbers continue), and several processes or machines pointed at the same
storage share the work until the study holds `trials` finished trials.
"""

from __future__ import annotations

import inspect
import logging
import math
import random
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from brickwork.errors import BrickworkError, did_you_mean
from brickwork.files import refuse_to_overwrite
from brickwork.spec.load import apply_overrides, read_spec_file
from brickwork.spec.run import RunSpec, check_override, parse_run_spec
from brickwork.spec.tune import (
    TuneSpec,
    bound_suggest,
    optuna_suggest,
    parse_tune_spec,
    resolve,
    search_params,
)
from brickwork.train.callbacks import MonitorCallback
from brickwork.train.rundir import check_name
from brickwork.tune.workers import trial_gate

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


@dataclass
class TuneResult:
    study: optuna.Study
    best_spec: dict | None
    out_dir: Path


class TrialPruning(MonitorCallback):
    """Report the monitored metric to the trial each epoch; stop the trial when the pruner says
    so.
    """

    def __init__(self, trial: optuna.Trial, monitor: str, mode: str):
        super().__init__(monitor, mode)
        self.trial = trial

    def on_epoch_end(self, epoch, logs):
        if self.monitor not in logs:
            names = sorted(k for k in logs if isinstance(logs[k], int | float))
            raise BrickworkError(
                f"tune.metric: '{self.monitor}' is not among the metrics each epoch reports "
                f"({', '.join(names)}){did_you_mean(self.monitor, names)}; set tune.metric to one "
                "of them (val_ metrics need validation data)."
            )
        value = self.current(logs)
        self.trial.set_user_attr("epochs", epoch + 1)
        if not math.isfinite(value):
            return
        if self.best_epoch < 0 or self.improved(value):
            self.best, self.best_epoch = value, epoch
            self.trial.set_user_attr("best_epoch", epoch + 1)
        self.trial.report(value, epoch + 1)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"{self.monitor} {value:.4g} after epoch {epoch + 1}")


def read_template(spec: str | Path | dict, overrides: list[str] = ()) -> tuple[dict, str]:
    """(the spec with its search spaces, where it came from), overrides applied and the space
    checked.

    Both corners of the space (every low end / first option, every high end / last option)
    must give a valid spec, so a typo fails now rather than in trial 17.
    """
    where = str(spec) if not isinstance(spec, dict) else "spec"
    data = read_spec_file(spec) if not isinstance(spec, dict) else dict(spec)
    for item in overrides:
        check_override(item)
    data = apply_overrides(data, list(overrides))
    params = [p for k, v in data.items() if k != "tune" for p in search_params(v, k)]
    if not params:
        raise BrickworkError(
            f"{where}: the spec has no search space to tune; write e.g. `lr: {{loguniform: [1e-4, "
            "1e-1]}` "
            "or `units: {int: [32, 512], step: 32}` where a value should be searched."
        )
    parse_tune_spec(data.get("tune"))
    for corner in ("low", "high"):
        try:
            parse_run_spec(resolve(data, bound_suggest(corner)), where)
        except BrickworkError as e:
            raise BrickworkError(f"{e} (with every search space at its {corner} end)") from None
    return data, where


def make_sampler(tune: TuneSpec, seed: int | None) -> optuna.samplers.BaseSampler:
    classes = {"tpe": optuna.samplers.TPESampler, "random": optuna.samplers.RandomSampler}
    return _construct(
        classes[tune.sampler.type], {"seed": seed, **tune.sampler.options}, "tune.sampler"
    )


def make_pruner(tune: TuneSpec, epochs: int) -> optuna.pruners.BasePruner:
    """median/percentile: against other trials at the same epoch; hyperband/asha: successive halving
    over epochs.
    """
    p = tune.pruner
    defaults = {
        "median": {"n_startup_trials": 2, "n_warmup_steps": 1},
        "percentile": {"percentile": 50.0, "n_startup_trials": 2, "n_warmup_steps": 1},
        "hyperband": {"min_resource": 1, "max_resource": epochs, "reduction_factor": 3},
        "asha": {"min_resource": 1, "reduction_factor": 3},
    }.get(p.type, {})
    classes = {
        "median": optuna.pruners.MedianPruner,
        "percentile": optuna.pruners.PercentilePruner,
        "hyperband": optuna.pruners.HyperbandPruner,
        "asha": optuna.pruners.SuccessiveHalvingPruner,
        "none": optuna.pruners.NopPruner,
    }
    return _construct(classes[p.type], {**defaults, **p.options}, "tune.pruner")


def _construct(cls, options: dict, where: str):
    params = [n for n in inspect.signature(cls).parameters if n != "self"]
    for key in options:
        if key not in params:
            raise BrickworkError(
                f"{where}: {cls.__name__} has no setting '{key}'{did_you_mean(key, params)}; its "
                f"settings: {', '.join(params) or 'none'}."
            )
    try:
        return cls(**options)
    except (TypeError, ValueError) as e:
        raise BrickworkError(f"{where}: {cls.__name__} rejected {options}: {e}.") from None


# Processes started together on a new database all try to create Optuna's tables; the losers
# see one of these and simply open the database again once the tables are there.
CREATION_RACE = ("already exists", "UNIQUE constraint failed", "database is locked")
STORAGE_ATTEMPTS = 8


def make_storage(url: str | None):
    """None (in memory), or a database shared by every process that names it (SQLite waits for
    locks).
    """
    if url is None:
        return None
    if "://" not in url:
        raise BrickworkError(
            f"--storage '{url}' is not a database URL; write e.g. sqlite:///tune.db (a file in "
            "this folder) or postgresql://host/db."
        )
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    for attempt in range(STORAGE_ATTEMPTS):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter(
                    "ignore", optuna.exceptions.ExperimentalWarning
                )  # the heartbeat is "experimental" since 2.9
                return optuna.storages.RDBStorage(
                    url, engine_kwargs=kwargs, heartbeat_interval=30, grace_period=120
                )
        except Exception as e:  # noqa: BLE001 - SQLAlchemy raises many kinds for a bad URL or database
            if attempt + 1 < STORAGE_ATTEMPTS and any(s in str(e) for s in CREATION_RACE):
                time.sleep(random.uniform(0.2, 1.0))  # another process is creating the same tables
                continue
            raise BrickworkError(
                f"cannot open the study storage '{url}' ({type(e).__name__}: "
                f"{str(e).splitlines()[0]})."
            ) from None


def prepare_run(spec: RunSpec):
    """(model, bundle, train spec, callbacks) for a plain or fine-tuning spec."""
    if spec.finetune is not None:
        from brickwork.finetune.run import prepare

        model, bundle, train, callbacks, _ = prepare(spec)
        return model, bundle, train, callbacks
    from brickwork.train.runner import load_run

    model, bundle = load_run(spec)
    return model, bundle, spec.train, []


def objective(template: dict, where: str, tune: TuneSpec, verbose: int, started=None):
    """The function Optuna calls per trial: resolve the spec, train it, return the best epoch's
    metric. `started()`, if given, is called as soon as the trial exists (see workers.py).
    """
    from brickwork.train.loop import fit

    mode = "max" if tune.maximize() else "min"

    def run(trial: optuna.Trial) -> float:
        if started is not None:
            started()
        resolved = resolve(template, optuna_suggest(trial))
        resolved.pop("tune", None)
        spec = parse_run_spec(resolved, f"{where} (trial {trial.number})")
        model, bundle, train, callbacks = prepare_run(spec)
        train = train.model_copy(update={"verbose": verbose})
        pruning = TrialPruning(trial, tune.metric, mode)
        val = bundle.val if bundle.val is not None and len(bundle.val.y) else None
        history = fit(
            model,
            bundle.train,
            validation_data=val,
            task=bundle.task,
            train=train,
            callbacks=[*callbacks, pruning],
        )
        if history.stop_reason == "nan" or pruning.best_epoch < 0:
            return float("nan")  # Optuna records the trial as failed and moves on
        return pruning.best

    return run


def tune(
    spec: str | Path | dict,
    *,
    trials: int | None = None,
    timeout: float | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    seed: int | None = None,
    overrides: list[str] = (),
    runs_dir: str | Path = "runs",
    out_dir: str | Path | None = None,
    verbose: int = 0,
    echo=print,
    force: bool = False,
) -> TuneResult:
    """Run (or resume, or join) a study until it holds `trials` finished trials or `timeout` seconds
    pass.

    Writes `out_dir` (default runs/tune/STUDY): trials.csv, best_spec.yaml, plots/*.png; it
    refuses (unless `force`) when one of them would replace the spec file being tuned.
    """
    from brickwork.tune.report import write_report

    template, where = read_template(spec, overrides)
    tspec = parse_tune_spec(template.get("tune"))
    target = trials or tspec.trials
    timeout = timeout or tspec.timeout
    name = study_name or template.get("name") or (Path(where).stem if where != "spec" else "study")
    if out_dir is None:  # the study's folder is runs_dir/tune/NAME: the name may not leave it
        check_name(name, "study name (--study or the spec's `name:`)")
    out = Path(out_dir) if out_dir is not None else Path(runs_dir) / "tune" / name
    if not isinstance(spec, dict):
        for report in ("trials.csv", "best_spec.yaml"):
            refuse_to_overwrite(out / report, [spec], "--out", force)
    epochs = max(
        parse_run_spec(resolve(template, bound_suggest(c)), where).train.epochs
        for c in ("low", "high")
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store = make_storage(storage)
    study = optuna.create_study(
        study_name=name,
        storage=store,
        load_if_exists=True,
        sampler=make_sampler(tspec, seed if seed is not None else tspec.seed),
        pruner=make_pruner(tspec, epochs),
        direction="maximize" if tspec.maximize() else "minimize",
    )
    wanted = (
        optuna.study.StudyDirection.MAXIMIZE
        if tspec.maximize()
        else optuna.study.StudyDirection.MINIMIZE
    )
    if study.direction != wanted:
        raise BrickworkError(
            f"study '{name}' in {storage} was created to {study.direction.name.lower()} but "
            f"tune.metric {tspec.metric} "
            f"is to be {wanted.name.lower()}d; choose another --study name or set tune.direction."
        )
    done = len(study.get_trials(deepcopy=False, states=FINISHED))
    gate = trial_gate(store, name, target)  # workers sharing the study never overshoot `target`
    try:
        if done >= target:
            echo(
                f"study '{name}' already holds {done} finished trials (--trials {target}); raise "
                "--trials to run more."
            )
        elif not gate.room(study):
            echo(
                f"study '{name}': other workers are running its last trials ({done} finished, "
                f"--trials {target}); nothing left for this one."
            )
        else:
            echo(
                f"study '{name}': {done} finished trials, running until {target}"
                + (f" or {timeout:g} s" if timeout else "")
                + f"; {tspec.metric} is to be "
                f"{'maximized' if tspec.maximize() else 'minimized'}."
            )
            _optimize(
                study,
                objective(template, where, tspec, verbose, gate.started),
                target - done,
                timeout,
                [gate, _echo_trial(tspec.metric, echo)],
            )
    finally:
        gate.close()
    best = write_report(study, template, tspec, out, echo)
    return TuneResult(study, best, out)


class _NoUserErrorTraceback(logging.Filter):
    """Drop Optuna's "Trial N failed ... Traceback" record when a trial stopped on the user's
    error: the error itself reaches the user, once, as one paragraph."""

    dropped = False

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, BrickworkError):
            self.dropped = True
            return False
        if self.dropped and "failed with value" in record.getMessage():
            self.dropped = False  # Optuna's second line about the same trial
            return False
        return True


def _optimize(study, objective, n_trials: int, timeout, callbacks) -> None:
    """study.optimize with Optuna's log of a failed trial kept to one line for user errors."""
    quiet = _NoUserErrorTraceback()
    logging.getLogger("optuna.study._optimize").addFilter(quiet)  # logs failed trials
    try:
        study.optimize(
            objective, n_trials=n_trials, timeout=timeout, callbacks=callbacks, gc_after_trial=False
        )
    finally:
        logging.getLogger("optuna.study._optimize").removeFilter(quiet)


def _echo_trial(metric: str, echo):
    def report(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        seconds = (
            (trial.datetime_complete - trial.datetime_start).total_seconds()
            if trial.datetime_complete
            else math.nan
        )
        epochs = trial.user_attrs.get("epochs", "?")
        value = (
            trial.value
            if trial.state == TrialState.COMPLETE
            else (
                trial.intermediate_values.get(max(trial.intermediate_values), math.nan)
                if trial.intermediate_values
                else math.nan
            )
        )
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in trial.params.items())
        echo(
            f"trial {trial.number:>3} {trial.state.name.lower():<8} {metric} {value:.4g}  "
            f"({epochs} epochs, {seconds:.1f} s)  {params}"
        )

    return report


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
