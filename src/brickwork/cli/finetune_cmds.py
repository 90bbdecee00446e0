"""`brickwork finetune BASE SPEC`: fine-tune a saved model (or a plain state dict) on new data."""

from __future__ import annotations

from brickwork.cli.args import folder
from brickwork.cli.options import add_trust_options
from brickwork.cli.train_cmds import report_run
from brickwork.errors import BrickworkError


def cmd_finetune(args) -> int:
    from brickwork.finetune.run import describe, finetune_from_spec, prepare
    from brickwork.spec.finetune import FinetuneSpec
    from brickwork.spec.run import load_run_spec
    from brickwork.train.runner import spec_from_run

    if args.resume:
        spec = spec_from_run(args.resume, args.set)
        base = None
    elif args.base and args.spec:
        spec, base = load_run_spec(args.spec, args.set), args.base
    else:
        raise BrickworkError(
            "give the base model and a spec (brickwork finetune BASE SPEC.yaml), or a run to "
            "continue (--resume runs/NAME)."
        )
    if spec.finetune is None:
        spec = spec.model_copy(update={"finetune": FinetuneSpec()})
    if args.summary:
        from brickwork.models import print_summary

        model, _, _, _, report = prepare(spec, base)
        print_summary(model)
        print(describe(model, report))
        return 0
    result = finetune_from_spec(
        spec, base, runs_dir=args.runs_dir, name=args.name, resume=args.resume, device=args.device
    )
    return report_run(result)


def register(sub) -> None:
    p = sub.add_parser("finetune", help="fine-tune a saved model on new data; writes runs/NAME")
    p.add_argument(
        "base",
        nargs="?",
        help="a brickwork model file, run directory or checkpoint, or a .pt/.pth/.safetensors "
        "state dict",
    )
    p.add_argument(
        "spec",
        nargs="?",
        help="spec file with data:, train: and finetune: (model: for a plain state dict)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a field, e.g. --set finetune.head_lr=0.01 (repeatable)",
    )
    p.add_argument(
        "--summary",
        action="store_true",
        help="show the prepared model (frozen parameters per layer) and the weight report; do not "
        "train",
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
    add_trust_options(p)
    p.set_defaults(func=cmd_finetune)
