"""Hyperparameter search: search spaces, pruning, resumed and shared SQLite studies, the report."""

import csv
import os
import subprocess
import sys

import optuna
import pytest
import yaml

from brickwork.errors import BrickworkError
from brickwork.spec.run import load_run_spec, parse_run_spec
from brickwork.spec.tune import fixed_suggest, resolve, search_params
from brickwork.train.loop import fit
from brickwork.tune import TrialPruning, tune

SPEC = {
    "name": "mlp",
    "model": {
        "input_shape": [1, 8, 8],
        "layers": [
            "flatten",
            {"type": "dense", "units": {"int": [8, 64], "step": 8}, "activation": "relu"},
            {"type": "dropout", "rate": {"uniform": [0.0, 0.3]}},
            {"type": "dense", "units": 10},
        ],
    },
    "data": {"dataset": "digits", "validation_split": 0.2},
    "train": {
        "epochs": 2,
        "batch_size": 64,
        "lr": {"loguniform": [1e-3, 3e-2]},
        "optimizer": {"choice": ["adam", {"type": "sgd", "momentum": {"uniform": [0.5, 0.95]}}]},
    },
    "tune": {"metric": "val_accuracy", "sampler": "random", "pruner": "none", "seed": 0},
}


def test_search_space_resolves_to_a_plain_spec_with_conditional_parameters():
    assert search_params(SPEC["train"], "train") == [
        "train.lr",
        "train.optimizer",
        "train.optimizer[1].momentum",
    ]
    params = {
        "model.layers.1.units": 24,
        "model.layers.2.rate": 0.1,
        "train.lr": 0.01,
        "train.optimizer": "sgd",
        "train.optimizer.sgd.momentum": 0.9,
    }
    spec = resolve(SPEC, fixed_suggest(params))
    assert spec["train"]["optimizer"] == {"type": "sgd", "momentum": 0.9}
    assert spec["model"]["layers"][1]["units"] == 24
    parse_run_spec({k: v for k, v in spec.items() if k != "tune"})
    adam = resolve(
        SPEC, fixed_suggest({**params, "train.optimizer": "adam"})
    )  # momentum is not asked for
    assert adam["train"]["optimizer"] == "adam"
    with pytest.raises(
        BrickworkError, match="holds search spaces .*train.lr.*run `brickwork tune SPEC`"
    ):
        parse_run_spec(SPEC)
    with pytest.raises(BrickworkError, match=r"train.lr: .*found keys \['high'\]"):
        search_params({"lr": {"loguniform": [1e-4, 1e-1], "high": 2}}, "train")
    with pytest.raises(BrickworkError, match="log-scale range needs a positive low bound"):
        search_params({"lr": {"loguniform": [0, 1]}}, "train")


def test_a_bad_space_fails_before_any_trial(tmp_path):
    bad = {**SPEC, "train": {**SPEC["train"], "epochs": {"int": [0, 3]}}}
    with pytest.raises(BrickworkError, match="epochs.*greater than or equal to 1.*at its low end"):
        tune(bad, trials=1, out_dir=tmp_path)
    with pytest.raises(BrickworkError, match="no search space"):
        tune(
            {k: v for k, v in SPEC.items() if k not in ("model", "train")}
            | {"model": {"input_shape": [64], "layers": [{"dense": 10}]}},
            out_dir=tmp_path,
        )


def test_a_pruned_trial_stops_early():
    """A pruner that prunes at the first report: the trial ends after epoch 1 of 5, as PRUNED."""
    from brickwork.data import load_data
    from brickwork.models import build_model

    bundle = load_data({"dataset": "digits", "limit": 300}, seed=0)
    study = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=1.01)
    )
    epochs_run = []

    def objective(trial):
        model = build_model({"input_shape": [1, 8, 8], "layers": ["flatten", {"dense": 10}]})
        history = fit(
            model,
            bundle.train,
            validation_data=bundle.val,
            epochs=5,
            verbose=0,
            task="classification",
            callbacks=[TrialPruning(trial, "val_accuracy", "max")],
        )
        epochs_run.append(len(history.epoch))
        return history.history["val_accuracy"][-1]

    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert (
        list(trial.intermediate_values) == [1]
        and trial.user_attrs["epochs"] == 1
        and epochs_run == []
    )


def test_median_pruning_inside_tune_cuts_a_bad_trial(tmp_path):
    """lr 1e-6 cannot learn in an epoch; after one good trial the median pruner stops it at epoch
    1.
    """
    spec = {
        **SPEC,
        "train": {
            **SPEC["train"],
            "epochs": 4,
            "optimizer": "adam",
            "lr": {"choice": [0.01, 1e-6]},
        },
        "model": {"input_shape": [1, 8, 8], "layers": ["flatten", {"type": "dense", "units": 10}]},
        "tune": {
            "metric": "val_accuracy",
            "sampler": "random",
            "seed": 6,
            "pruner": {"type": "median", "n_startup_trials": 1, "n_warmup_steps": 0},
        },
    }
    study = tune(spec, trials=6, out_dir=tmp_path, echo=lambda line: None).study
    states = {t.params["train.lr"]: [] for t in study.trials}
    for t in study.trials:
        states[t.params["train.lr"]].append((t.number, t.state.name, t.user_attrs["epochs"]))
    first_good = min(n for n, _, _ in states[0.01])
    later_bad = [(s, e) for n, s, e in states.get(1e-6, []) if n > first_good]
    assert later_bad, states  # seed 6 samples good, good, bad, good, bad, bad
    assert all(s == "PRUNED" and e == 1 for s, e in later_bad)
    assert all(s == "COMPLETE" and e == 4 for _, s, e in states[0.01])


@pytest.mark.parametrize("pruner", ["asha", "hyperband"])
def test_successive_halving_pruners_stop_the_weaker_trials_early(tmp_path, pruner):
    """ASHA / Hyperband over epochs: every trial reports epoch 1; only the better ones go on."""
    spec = {
        **SPEC,
        "train": {
            **SPEC["train"],
            "epochs": 3,
            "optimizer": "adam",
            "lr": {"loguniform": [1e-6, 3e-2]},
        },
        "model": {"input_shape": [1, 8, 8], "layers": ["flatten", {"type": "dense", "units": 10}]},
        "data": {"dataset": "digits", "limit": 400, "validation_split": 0.25},
        "tune": {"metric": "val_accuracy", "sampler": "random", "seed": 0, "pruner": pruner},
    }
    study = tune(spec, trials=8, out_dir=tmp_path, echo=lambda line: None).study
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert pruned and done, [t.state for t in study.trials]
    assert any(
        t.user_attrs["epochs"] < 3 for t in pruned
    )  # cut at the first rung, before the last epoch
    assert all(t.user_attrs["epochs"] == 3 for t in done)
    assert max(t.value for t in done) >= max(
        t.intermediate_values[t.user_attrs["epochs"]] for t in pruned
    )


def test_resumed_study_continues_numbering_and_writes_the_report(tmp_path):
    storage = f"sqlite:///{tmp_path / 'tune.db'}"
    first = tune(
        SPEC, trials=2, storage=storage, out_dir=tmp_path / "out", echo=lambda line: None
    ).study
    kept = [(t.number, t.params, t.value) for t in first.trials]
    lines = []
    study = tune(SPEC, trials=4, storage=storage, out_dir=tmp_path / "out", echo=lines.append).study
    assert [t.number for t in study.trials] == [0, 1, 2, 3]
    assert [(t.number, t.params, t.value) for t in study.trials[:2]] == kept
    assert lines[0].startswith("study 'mlp': 2 finished trials, running until 4")
    again = []
    tune(SPEC, trials=4, storage=storage, out_dir=tmp_path / "out", echo=again.append)
    assert "already holds 4 finished trials" in again[0]
    with open(tmp_path / "out" / "trials.csv") as f:
        table = list(csv.DictReader(f))
    assert [int(r["rank"]) for r in table] == [1, 2, 3, 4]
    values = [float(r["value"]) for r in table]
    assert values == sorted(values, reverse=True) and values[0] == study.best_value
    best = load_run_spec(tmp_path / "out" / "best_spec.yaml")  # ready for brickwork train
    assert best.tune is None and best.train.lr == study.best_params["train.lr"]
    assert (tmp_path / "out" / "plots" / "optimization_history.png").stat().st_size > 1000
    assert (tmp_path / "out" / "plots" / "param_importances.png").stat().st_size > 1000


def test_two_processes_share_one_study(tmp_path):
    spec = {**SPEC, "train": {**SPEC["train"], "epochs": 3}}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "brickwork.cli.main",
                "tune",
                str(path),
                "--trials",
                "10",
                "--storage",
                storage,
                "--study",
                "shared",
                "--seed",
                str(seed),
                "--out",
                str(tmp_path / f"out{seed}"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for seed in (1, 2)
    ]
    outputs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outputs]
    study = optuna.load_study(study_name="shared", storage=storage)
    assert sorted(t.number for t in study.trials) == list(range(10))
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    # together exactly the requested count (each alone would have run 10); how the 10 split
    # between the two depends on how fast each process starts, so that is not asserted
    ran = [sum(line.startswith("trial ") for line in out.splitlines()) for out, _ in outputs]
    assert sum(ran) == 10, ran


def test_the_example_search_space_is_valid():
    from brickwork.tune.study import read_template
    from tests.conftest import EXAMPLES

    template, _ = read_template(EXAMPLES / "tune" / "digits_mlp.yaml")
    assert (
        len(search_params(template["train"], "train")) == 3
        and template["tune"]["metric"] == "val_accuracy"
    )


def test_tuning_a_fine_tuning_spec_and_cli_errors(tmp_path, capsys):
    from brickwork.cli.main import main
    from brickwork.models import build_model
    from brickwork.models.io import save_model

    base = save_model(
        build_model(
            {
                "input_shape": [1, 8, 8],
                "layers": [
                    "flatten",
                    {"type": "dense", "units": 16, "name": "fc"},
                    {"type": "dense", "units": 10, "name": "head"},
                ],
            }
        ),
        tmp_path / "base.safetensors",
    )
    spec = {
        "name": "ft",
        "data": {"dataset": "digits", "limit": 300},
        "train": {"epochs": 2},
        "finetune": {
            "base": str(base),
            "head": True,
            "head_lr": {"loguniform": [1e-3, 1e-1]},
            "freeze": {"choice": [["fc"], []]},
        },
        "tune": {"metric": "val_loss", "sampler": "random", "seed": 0, "pruner": "none"},
    }
    study = tune(spec, trials=3, out_dir=tmp_path / "out", echo=lambda line: None).study
    assert study.direction == optuna.study.StudyDirection.MINIMIZE and len(study.trials) == 3
    assert {"finetune.head_lr", "finetune.freeze"} == set(study.trials[0].params)
    best = yaml.safe_load((tmp_path / "out" / "best_spec.yaml").read_text())
    assert (
        best["finetune"]["head_lr"] == study.best_params["finetune.head_lr"] and "tune" not in best
    )
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    assert main(["tune", str(path), "--storage", "tune.db", "--out", str(tmp_path / "o")]) == 2
    assert "not a database URL" in capsys.readouterr().err
    assert (
        main(
            [
                "tune",
                str(path),
                "--set",
                "tune.pruner={type: median, patience: 3}",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "MedianPruner has no setting 'patience'" in capsys.readouterr().err


def test_the_report_never_replaces_the_spec_being_tuned(tmp_path):
    spec = tmp_path / "best_spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    with pytest.raises(BrickworkError, match=r"--out .*would overwrite .*--force"):
        tune(spec, trials=1, out_dir=tmp_path, echo=lambda line: None)
    assert yaml.safe_load(spec.read_text()) == SPEC
    with pytest.raises(BrickworkError, match="not a plain folder name"):
        tune(SPEC, trials=1, study_name="../x", runs_dir=tmp_path, echo=lambda line: None)
