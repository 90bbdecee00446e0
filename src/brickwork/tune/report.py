"""What a study leaves behind: a ranked table of trials, the best spec as a file, and plots.

    runs/tune/STUDY/
      trials.csv                      every trial, best first
      best_spec.yaml                  the best trial's resolved spec: brickwork train best_spec.yaml
      plots/optimization_history.png  value per trial and the best so far
      plots/param_importances.png     fANOVA importance of each parameter (needs >= 2 completed
      trials)

Every process working on a shared study rewrites these at its end from the whole study, so
the last one to finish leaves the complete picture.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from pathlib import Path

import optuna
import yaml
from optuna.trial import TrialState

from brickwork.files import atomic_write
from brickwork.spec.run import parse_run_spec
from brickwork.spec.tune import TuneSpec, fixed_suggest, resolve, tidy


def last_value(trial: optuna.trial.FrozenTrial) -> float:
    """A completed trial's value; a pruned trial's last reported value; NaN otherwise."""
    if trial.state == TrialState.COMPLETE and trial.value is not None:
        return trial.value
    if trial.intermediate_values:
        return trial.intermediate_values[max(trial.intermediate_values)]
    return math.nan


def ranked(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Completed trials best first, then pruned ones by their last report, then the rest."""
    sign = -1 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1
    order = {TrialState.COMPLETE: 0, TrialState.PRUNED: 1}

    def key(t):
        value = last_value(t)
        return (
            order.get(t.state, 2),
            math.isnan(value),
            sign * value if not math.isnan(value) else 0.0,
            t.number,
        )

    return sorted(study.get_trials(deepcopy=False), key=key)


def rows(study: optuna.Study) -> tuple[list[str], list[list]]:
    trials = ranked(study)
    names = list(dict.fromkeys(n for t in trials for n in t.params))
    header = ["rank", "trial", "state", "value", "epochs", "best_epoch", "seconds", *names]
    table = []
    for i, t in enumerate(trials):
        seconds = (
            (t.datetime_complete - t.datetime_start).total_seconds()
            if t.datetime_complete and t.datetime_start
            else None
        )
        table.append(
            [
                i + 1,
                t.number,
                t.state.name.lower(),
                last_value(t),
                t.user_attrs.get("epochs"),
                t.user_attrs.get("best_epoch"),
                None if seconds is None else round(seconds, 2),
                *(tidy(t.params.get(n)) for n in names),
            ]
        )
    return header, table


def best_spec(study: optuna.Study, template: dict) -> dict | None:
    """The best completed trial's spec: the template with its parameters filled in, `tune:`
    dropped.
    """
    try:
        best = study.best_trial
    except ValueError:  # no completed trial yet
        return None
    spec = resolve(template, fixed_suggest(best.params))
    spec.pop("tune", None)
    parse_run_spec(spec, f"best trial {best.number}")
    return spec


def write_report(
    study: optuna.Study, template: dict, tspec: TuneSpec, out: Path, echo=print
) -> dict | None:
    """Print the ranked table; write trials.csv, best_spec.yaml and the plots into `out`."""
    header, table = rows(study)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(table)
    atomic_write(out / "trials.csv", buffer.getvalue().encode())
    print_table(header, table, tspec.metric, study.study_name)
    spec = best_spec(study, template)
    if spec is None:
        echo("no trial completed, so there is no best spec yet.")
    else:
        best = study.best_trial
        note = (
            f"# Best trial of study '{study.study_name}': trial {best.number}, {tspec.metric} = "
            f"{best.value:.6g}.\n"
            "# Written by brickwork tune; train it with: brickwork train "
            f"{out / 'best_spec.yaml'}\n"
        )
        atomic_write(
            out / "best_spec.yaml", (note + yaml.safe_dump(spec, sort_keys=False)).encode()
        )
        echo(
            f"best: trial {best.number}, {tspec.metric} {best.value:.4g}; spec written to "
            f"{out / 'best_spec.yaml'}"
        )
    for line in write_plots(study, out / "plots", tspec.metric):
        echo(line)
    echo(f"trials table: {out / 'trials.csv'}")
    return spec


def print_table(header: list[str], table: list[list], metric: str, name: str) -> None:
    from rich.console import Console
    from rich.table import Table

    fixed = header.index("seconds") + 1
    short = dict(zip(header[fixed:], short_names(header[fixed:]), strict=True))
    t = Table(
        title=f"Study '{name}': trials ranked by {metric} (full parameter names in trials.csv)",
        title_justify="left",
    )
    for col in header[:fixed]:
        t.add_column(
            {"value": metric, "best_epoch": "best"}.get(col, col),
            justify="left" if col == "state" else "right",
            no_wrap=True,
        )
    for col in header[fixed:]:
        t.add_column(short[col], justify="right")
    for row in table:
        t.add_row(
            *("" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v) for v in row)
        )
    Console(width=max(120, Console().width)).print(t)


def short_names(names: list[str]) -> list[str]:
    """The shortest dotted suffix that tells each parameter apart: `model.layers.1.units` ->
    `units`.
    """
    out = []
    for name in names:
        parts = name.split(".")
        for k in range(1, len(parts) + 1):
            suffix = ".".join(parts[-k:])
            if sum(other == suffix or other.endswith("." + suffix) for other in names) == 1:
                break
        out.append(suffix)
    return out


def write_plots(study: optuna.Study, folder: Path, metric: str = "Objective Value") -> list[str]:
    """Optimization history and parameter importances as PNG; a line for each, saying why when
    skipped.
    """
    import matplotlib.pyplot as plt  # Optuna draws with pyplot; each figure is closed below
    from optuna.exceptions import ExperimentalWarning
    from optuna.visualization import matplotlib as vis

    lines = []
    completed = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    plots = {
        "optimization_history": (vis.plot_optimization_history, 1),
        "param_importances": (vis.plot_param_importances, 2),
    }
    for name, (plot, needed) in plots.items():
        path = folder / f"{name}.png"
        if len(completed) < needed:
            lines.append(
                f"{name}.png skipped: it needs at least {needed} completed trials, the study has "
                f"{len(completed)}."
            )
            continue
        try:
            with warnings.catch_warnings():
                # Optuna marks its matplotlib plots experimental; that warning alone is hidden
                warnings.simplefilter("ignore", ExperimentalWarning)
                ax = plot(study, target_name=metric)
        except (ValueError, RuntimeError, ImportError, ZeroDivisionError) as e:
            lines.append(
                f"{name}.png skipped: {type(e).__name__}: "
                f"{str(e).splitlines()[0] if str(e) else 'no detail'}"
            )
            continue
        figure = getattr(ax, "figure", None) or ax.flat[0].figure
        figure.set_size_inches(8, 4.5)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=110)
        plt.close(figure)
        atomic_write(path, buffer.getvalue())
        lines.append(f"plot: {path}")
    return lines
