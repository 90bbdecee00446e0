"""`brickwork tune SPEC`: search the spec's hyperparameters with Optuna; writes runs/tune/STUDY."""

from __future__ import annotations

from brickwork.cli.args import at_least, folder, number
from brickwork.cli.options import add_force_option


def cmd_tune(args) -> int:
    from brickwork.tune import tune

    result = tune(
        args.spec,
        trials=args.trials,
        timeout=args.timeout,
        storage=args.storage,
        study_name=args.study,
        seed=args.seed,
        overrides=args.set,
        runs_dir=args.runs_dir,
        out_dir=args.out,
        verbose=1 if args.verbose else 0,
        force=args.force,
    )
    return 0 if result.best_spec is not None else 1


def register(sub) -> None:
    p = sub.add_parser(
        "tune", help="search hyperparameters (Optuna): ranked trials, best spec, plots"
    )
    p.add_argument(
        "spec",
        help="spec file whose values may be search spaces such as {loguniform: [1e-4, 1e-1]}",
    )
    p.add_argument(
        "--trials",
        type=at_least(1),
        help="finished trials the study should hold (default: tune.trials, 20); a resumed or "
        "shared study runs only the rest",
    )
    p.add_argument(
        "--timeout",
        type=number(0, low_open=True),
        metavar="SECONDS",
        help="stop starting trials after this long (this process)",
    )
    p.add_argument(
        "--storage",
        metavar="URL",
        help="study database, e.g. sqlite:///tune.db, to resume it or share it between processes "
        "(default: in memory)",
    )
    p.add_argument("--study", metavar="NAME", help="study name (default: the spec's name)")
    p.add_argument(
        "--seed",
        type=at_least(0),
        help="sampler seed (default: tune.seed, else random); give each process of a shared study "
        "its own",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a field, e.g. --set train.epochs=3 (repeatable)",
    )
    p.add_argument(
        "--runs-dir",
        type=folder,
        default="runs",
        help="the report goes to RUNS_DIR/tune/STUDY (default: runs)",
    )
    p.add_argument("--out", help="write the report here instead")
    p.add_argument("--verbose", action="store_true", help="show each trial's training progress")
    add_force_option(p, "the report")
    p.set_defaults(func=cmd_tune)
