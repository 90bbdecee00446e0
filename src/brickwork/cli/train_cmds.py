"""`brickwork train`, `brickwork eval` and `brickwork predict`."""

from __future__ import annotations

import json

from brickwork.cli.args import at_least, folder
from brickwork.cli.options import add_trust_options
from brickwork.errors import BrickworkError


def cmd_train(args) -> int:
    from brickwork.spec.run import load_run_spec
    from brickwork.train.runner import spec_from_run, train_from_spec

    args.set = with_data_dir(args.set, args.data_dir)
    if args.resume:
        spec = spec_from_run(args.resume, args.set)
        if args.spec:
            check_same_spec(load_run_spec(args.spec, args.set), spec, args.spec, args.resume)
    elif args.spec:
        spec = load_run_spec(args.spec, args.set)
    else:
        raise BrickworkError(
            "give a spec file (brickwork train SPEC.yaml) or a run to continue (--resume "
            "runs/NAME)."
        )
    if args.nproc < 1:
        raise BrickworkError(f"--nproc must be at least 1, got {args.nproc}.")
    if args.nproc > 1:
        return _launch(args, spec)
    run = train_from_spec
    if spec.finetune is not None:  # fine-tuning: another way of preparing the same run
        from brickwork.finetune.run import finetune_from_spec as run
    result = run(
        spec, runs_dir=args.runs_dir, name=args.name, resume=args.resume, device=args.device
    )
    if result.run_dir is None:  # a worker other than rank 0 of a distributed job
        return 0
    return report_run(result)


def check_same_spec(given, recorded, spec_path: str, run: str) -> None:
    """`train SPEC --resume RUN` continues RUN with the spec it started with: a SPEC that says
    something else would be silently ignored, so it is an error naming the section."""
    for section in ("model", "data", "train", "finetune"):
        if getattr(given, section) != getattr(recorded, section):
            raise BrickworkError(
                f"{spec_path}: its `{section}:` section differs from the one {run} was started "
                f"with, and --resume continues a run as it began; drop {spec_path} to resume, "
                "use --set (e.g. --set train.epochs=20) for what may change, or train a new run."
            )


def with_data_dir(overrides: list[str], data_dir: str | None) -> list[str]:
    """`--set` items plus `--data-dir DIR` as `data.data_dir=DIR` (JSON-quoted so any path stays a
    string).
    """
    return [*overrides, f"data.data_dir={json.dumps(data_dir)}"] if data_dir else list(overrides)


def report_run(result) -> int:
    """Print a finished run's test metrics and directory; exit code 1 if it diverged."""
    if result.history.stop_reason == "nan":
        print(
            "training diverged (NaN/Inf loss); the last good checkpoint is in "
            f"{result.run_dir / 'checkpoints'}"
        )
        return 1
    test = {k: v for k, v in result.test_metrics.items() if isinstance(v, float)}
    if test:
        print("test: " + "  ".join(f"{k} {v:.4f}" for k, v in test.items()))
    if result.test_metrics.get("units"):
        print(f"  ({result.test_metrics['units']})")
    print(f"run directory: {result.run_dir}")
    return 0


def _launch(args, spec) -> int:
    """`brickwork train ... --nproc N`: the same command in N processes under torchrun."""
    from brickwork.train import distributed
    from brickwork.train.rundir import discard_if_unstarted, discard_unless_started, new_run_dir

    if distributed.launched_by_torchrun():
        raise BrickworkError(
            "--nproc is for starting a job; this process already runs under torchrun, so drop "
            "--nproc."
        )
    if spec.train.batch_size % args.nproc:
        raise BrickworkError(
            f"train.batch_size {spec.train.batch_size} does not divide over --nproc {args.nproc}; "
            "the batch size "
            f"is global (each process takes batch_size / {args.nproc}), so choose a multiple of "
            f"{args.nproc}."
        )
    created = None if args.resume else new_run_dir(args.runs_dir, args.name or spec.name)
    argv = [
        "train",
        *([args.spec] if args.spec and not args.resume else []),
        *(f"--set={item}" for item in args.set),
        *(["--resume", args.resume] if args.resume else []),
        *(["--device", args.device] if args.device else []),
        *(["--trust-code"] if args.trust_code else []),
        *(f"--trust-module={prefix}" for prefix in args.trust_module),
    ]
    with discard_unless_started(created):
        code = distributed.launch(argv, args.nproc, args.resume or str(created))
    if code:  # the workers failed: a new run without a finished epoch is not kept
        discard_if_unstarted(created)
    return code


def cmd_eval(args) -> int:
    from brickwork.data import load_data
    from brickwork.models.io import load
    from brickwork.spec.data import DataSpec
    from brickwork.train import evaluate
    from brickwork.train.runner import model_path

    model = load(model_path(args.model))
    card = model.card
    if not card.data:
        raise BrickworkError(
            f"'{args.model}' records no data section, so there is no {args.split} split to "
            "evaluate on; use brickwork.train.evaluate(model, x, y) from Python."
        )
    bundle = load_data(DataSpec(**card.data), seed=card.seed or 0)
    split = getattr(bundle, args.split)
    if split is None or len(split.y) == 0:
        raise BrickworkError(
            f"the data has no '{args.split}' rows; choose --split train, val or test."
        )
    result = evaluate(model, split, batch_size=args.batch_size, device=args.device)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    _print_eval(result, card.class_names, args.split)
    return 0


def _print_eval(result: dict, class_names, split: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(
        f"{split}: " + "  ".join(f"{k} {v:.4f}" for k, v in result.items() if isinstance(v, float)),
        highlight=False,
    )
    cm = result.get("confusion_matrix")
    if cm is None:
        return
    names = class_names or [str(i) for i in range(len(cm))]
    table = Table(title="confusion matrix (rows: true, columns: predicted)", title_justify="left")
    table.add_column("")
    for name in names:
        table.add_column(str(name), justify="right")
    for name, row in zip(names, cm, strict=False):
        table.add_row(str(name), *(str(v) for v in row))
    console.print(table)


def cmd_predict(args) -> int:
    import torch

    from brickwork.data import apply_preprocessing
    from brickwork.data.inputs import read_inputs
    from brickwork.models.io import load
    from brickwork.train import predict
    from brickwork.train.interpret import interpret
    from brickwork.train.optim import output_activation
    from brickwork.train.runner import model_path

    model = load(model_path(args.model))
    card = model.card
    raw, labels = read_inputs(args.inputs, list(model.input_shape), card.preprocessing)
    x = apply_preprocessing(card.preprocessing or {}, torch.from_numpy(raw))
    out = predict(model, x, device=args.device)
    results = interpret(out, card, output_activation(model), args.top_k)
    if args.json:
        print(
            json.dumps(
                [{"input": label, **r} for label, r in zip(labels, results, strict=True)], indent=2
            )
        )
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table()
    table.add_column("input")
    table.add_column("prediction")
    for label, r in zip(labels, results, strict=True):
        shown = (
            ", ".join(f"{p['label']} {p['probability']:.3f}" for p in r["top"])
            if "top" in r
            else ", ".join(f"{v:.4g}" for v in r["values"])
        )
        table.add_row(label, shown)
    Console().print(table)
    return 0


def register(sub) -> None:
    p = sub.add_parser("train", help="train the model of a spec file; writes runs/NAME")
    p.add_argument("spec", nargs="?", help="spec file (.yaml/.json) with model:, data:, train:")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a field, e.g. --set train.lr=0.01 (repeatable)",
    )
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="folder with the dataset's files (mnist, fashion_mnist, cifar10, tinyshakespeare, "
        "imdb), or with one <name>/ folder per dataset (brickwork download --all --data-dir "
        "DIR), so no network is needed; shorthand for --set data.data_dir=DIR",
    )
    p.add_argument("--name", help="run name (default: the spec's name, else run-DATE)")
    p.add_argument(
        "--resume", metavar="RUN_DIR", help="continue runs/NAME from its last checkpoint"
    )
    p.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda", "mps"],
        help="force a device (default: the spec's, auto)",
    )
    p.add_argument(
        "--runs-dir", type=folder, default="runs", help="where run directories go (default: runs)"
    )
    p.add_argument(
        "--nproc",
        type=at_least(1),
        default=1,
        metavar="N",
        help="train in N processes on this machine with DistributedDataParallel (torchrun; Gloo "
        "on CPU, NCCL on GPUs)",
    )
    add_trust_options(p)
    p.set_defaults(func=cmd_train)
    p = sub.add_parser(
        "eval", help="metrics and confusion matrix of a trained model on a data split"
    )
    p.add_argument("model", help="a model .safetensors file or a run directory")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--batch-size", type=at_least(1), default=256)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    add_trust_options(p)
    p.set_defaults(func=cmd_eval)
    p = sub.add_parser("predict", help="predict for image files, .npy arrays or CSV rows")
    p.add_argument("model", help="a model .safetensors file or a run directory")
    p.add_argument(
        "inputs", nargs="+", help="PNG/JPEG images, .npy arrays or .csv files (one sample per row)"
    )
    p.add_argument(
        "--top-k", type=at_least(1), default=3, help="labels to show per input (classifiers)"
    )
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--json", action="store_true", help="print predictions as JSON")
    add_trust_options(p)
    p.set_defaults(func=cmd_predict)
