"""`brickwork runs` (list run directories), `brickwork compare` (curves and spec diff) and
`brickwork lr-find` (learning-rate sweep)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from brickwork.errors import BrickworkError


def cmd_runs(args) -> int:
    from brickwork.runs import list_runs

    runs = list_runs(args.dir)
    if args.json:
        print(json.dumps(runs, indent=2))
        return 0
    if not runs:
        print(
            f"no runs in {args.dir} (a run is a folder with spec.yaml, as `brickwork train` "
            "writes it)"
        )
        return 0
    from rich.table import Table

    keys = _metric_keys(runs)
    tests = list(dict.fromkeys(k for run in runs for k in run.get("test", {})))
    table = Table(title=f"runs in {args.dir}", title_justify="left")
    for name in ["name", "started", "status", "epochs", "time"]:
        table.add_column(name, overflow="fold")
    for key in keys:
        table.add_column(f"best {key}", justify="right")
        table.add_column(f"final {key}", justify="right")
    for key in tests:
        table.add_column(f"test {key}", justify="right")
    for run in runs:
        table.add_row(*_row(run, keys, tests))
    wide_console().print(table)
    for run in runs:
        if run.get("error"):
            print(f"{run['name']}: {run['error']}", file=sys.stderr)
    return 0


def wide_console():
    """A rich console that does not squeeze tables into 80 columns when output is a pipe."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=240)


def _metric_keys(runs: list[dict]) -> list[str]:
    """The validation metrics of the runs that have them, else their training metrics."""
    keys = list(dict.fromkeys(k for run in runs for k in run.get("best", {})))
    return [k for k in keys if k.startswith("val_")] or keys


def _row(run: dict, keys: list[str], tests: list[str]) -> list[str]:
    """The table's cells for one run; blank where it lacks a metric."""
    status = run["status"] + (" (early stop)" if run.get("stop_reason") == "stopped" else "")
    started = (run.get("started") or "")[:16].replace("T", " ")
    cells = [
        run["name"],
        started,
        status,
        str(run.get("epochs", "")),
        _duration(run.get("seconds")),
    ]
    for key in keys:
        best = run.get("best", {}).get(key)
        cells.append(f"{_num(best['value'])} @{best['epoch']}" if best else "")
        final = run.get("final", {}).get(key)
        cells.append(_num(final) if final is not None else "")
    cells += [_num(run["test"][k]) if k in run.get("test", {}) else "" for k in tests]
    return cells


def _num(value: float) -> str:
    return f"{value:.4g}"


def _duration(seconds) -> str:
    if not isinstance(seconds, int | float) or not math.isfinite(seconds):
        return ""
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


def resolve_run(target: str, runs_dir: str) -> Path:
    """A run directory given as a path, or as a name inside `runs_dir`."""
    for path in (Path(target), Path(runs_dir) / target):
        if (path / "spec.yaml").is_file():
            return path
    raise BrickworkError(
        f"'{target[:200]}' is not a run directory (no spec.yaml there, nor in {runs_dir}/"
        f"{Path(target).name[:100]}); pass folders `brickwork train` created, e.g. runs/NAME."
    )


def cmd_compare(args) -> int:
    from brickwork.figures import png_bytes
    from brickwork.models.io import atomic_write  # imports torch; compare is no quick listing
    from brickwork.runs import curves_figure, read_metrics, read_spec, spec_differences

    paths = [resolve_run(t, args.runs_dir) for t in args.runs]
    if len(paths) < 2 or len({p.resolve() for p in paths}) < len(paths):
        raise BrickworkError(
            "compare needs two or more different runs, e.g. `brickwork compare runs/a runs/b`."
        )
    names = [p.name for p in paths]
    labels = names if len(set(names)) == len(names) else [str(p) for p in paths]
    differences = spec_differences([read_spec(p) for p in paths])
    curves = {label: read_metrics(p) for label, p in zip(labels, paths, strict=True)}
    empty = [label for label, columns in curves.items() if not columns.get("epoch")]
    if len(empty) == len(curves):
        raise BrickworkError("none of these runs has metrics.csv rows yet; nothing to plot.")
    out = Path(args.out) if args.out else paths[0].parent / "compare" / f"{'-vs-'.join(names)}.png"
    atomic_write(out, png_bytes(curves_figure(curves)))
    if args.json:
        print(json.dumps({"runs": labels, "plot": str(out), "differences": differences}, indent=2))
        return 0
    for label in empty:
        print(f"note: {label} has no epochs in metrics.csv yet; it has no curves", file=sys.stderr)
    _print_differences(labels, differences)
    print(f"learning curves: {out}")
    return 0


def _print_differences(labels: list[str], differences: dict) -> None:
    if not differences:
        print("the runs' specs are identical")
        return
    from rich.table import Table

    table = Table(title="spec fields that differ", title_justify="left")
    table.add_column("field", overflow="fold")
    for label in labels:
        table.add_column(label, overflow="fold")
    for key, values in differences.items():
        table.add_row(key, *(_cell(v) for v in values))
    wide_console().print(table)


def _cell(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 120 else text[:117] + "..."


def register(sub) -> None:
    p = sub.add_parser("runs", help="list run directories: status, epochs, time, best metrics")
    p.add_argument("dir", nargs="?", default="runs", help="folder of runs (default: runs)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser(
        "compare",
        help="overlay runs' learning curves in one PNG and list the spec fields that differ",
    )
    p.add_argument(
        "runs", nargs="+", metavar="RUN", help="run directories (or names in --runs-dir)"
    )
    p.add_argument("-o", "--out", help="the PNG (default: RUNS/compare/A-vs-B.png)")
    p.add_argument(
        "--runs-dir", default="runs", help="where run names are looked up (default: runs)"
    )
    p.add_argument("--json", action="store_true", help="print the differences as JSON")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser(
        "lr-find", help="sweep the learning rate upward for a few batches; suggest one, plot it"
    )
    p.add_argument("spec", help="spec file (.yaml/.json) with model:, data:, train:")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a field, e.g. --set train.batch_size=64 (repeatable)",
    )
    p.add_argument("-o", "--out", help="the plot (default: RUNS_DIR/lr-find/NAME.png)")
    p.add_argument("--runs-dir", default="runs", help="default plot folder's parent (runs)")
    p.add_argument("--min-lr", type=float, default=1e-7, help="first rate (default 1e-7)")
    p.add_argument("--max-lr", type=float, default=10.0, help="last rate (default 10)")
    p.add_argument("--steps", type=int, default=100, help="batches in the sweep (default 100)")
    p.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: train.device)")
    p.add_argument("--json", action="store_true", help="print the sweep as JSON")
    p.set_defaults(func=cmd_lr_find)


def cmd_lr_find(args) -> int:
    from brickwork.spec.run import load_run_spec
    from brickwork.train.lr_find import lr_find

    spec = load_run_spec(args.spec, args.set)
    if spec.finetune is not None:  # the base model with the spec's frozen layers and new head
        from brickwork.finetune.run import prepare

        model, bundle, train, _, _ = prepare(spec)
    else:
        from brickwork.train.runner import load_run

        model, bundle = load_run(spec)
        train = spec.train
    if args.device:
        train = train.model_copy(update={"device": args.device})
    result = lr_find(
        model,
        bundle.train,
        min_lr=args.min_lr,
        max_lr=args.max_lr,
        steps=args.steps,
        task=bundle.task,
        train=train,
    )
    out = Path(args.out) if args.out else Path(args.runs_dir) / "lr-find" / f"{spec.name}.png"
    result.plot(out)
    if args.json:
        fields = ("suggestion", "stop_reason", "note", "lrs", "losses", "smoothed")
        print(json.dumps({"plot": str(out), **{k: getattr(result, k) for k in fields}}))
    elif result.suggestion is None:
        print(f"no suggestion: {result.note}\nplot: {out}")
    else:
        print(
            f"suggested learning rate: {result.suggestion:.3g} (steepest fall of the smoothed "
            f"loss; swept {result.lrs[0]:.0e}..{result.lrs[-1]:.2g} in {len(result.lrs)} steps, "
            f"{result.stop_reason})\nplot: {out}\n"
            f"try: brickwork train {args.spec} --set train.lr={result.suggestion:.2g}"
        )
    return 0 if result.suggestion is not None else 1
