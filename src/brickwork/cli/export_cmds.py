"""`brickwork export MODEL --format onnx|pt2|aoti|pte|web -o FILE`: the model alone, its
preprocessing beside it as JSON, and a parity check against PyTorch on random and real inputs;
`web` writes a static site that runs the model in the browser."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from brickwork.cli.options import add_force_option, add_trust_options
from brickwork.errors import BrickworkError, require_extra

if TYPE_CHECKING:  # torch loads when a command runs, so `brickwork --version` stays quick
    import torch

SPEC_SUFFIXES = {".yaml", ".yml", ".json"}
REAL_ROWS = 64
SIDE_KEYS = ("name", "task", "class_names", "num_classes", "vocab", "test_metrics")


def load_for_export(target: str) -> tuple[torch.nn.Module, dict]:
    """(model, metadata) from a model file, a run directory, or a spec file (untrained weights)."""
    from brickwork.models.io import load
    from brickwork.train.runner import model_path

    path = Path(target)
    if path.suffix.lower() in SPEC_SUFFIXES:
        from brickwork.cli.model_cmds import model_from_file
        from brickwork.spec.load import read_spec_file

        spec = read_spec_file(path)
        model = model_from_file(str(path))
        data = spec.get("data") if isinstance(spec.get("data"), dict) else None
        seed = (
            (spec.get("train") or {}).get("seed", 0) if isinstance(spec.get("train"), dict) else 0
        )
        return model, {
            "name": spec.get("name", path.stem),
            "data": data,
            "seed": seed,
            "untrained": True,
        }
    model = load(model_path(path))
    return model, model.card.to_header()


def real_inputs(
    meta: dict, inputs: list[str] | None, model
) -> tuple[torch.Tensor | None, str, dict]:
    """Preprocessed real samples for the parity check, where they come from, and metadata the
    data adds (preprocessing, class names, vocabulary) for a spec file.

    From `--inputs` files if given, else the first rows of the recorded data's test (or val,
    or train) split. Data that cannot be loaded here is reported, not fatal: parity then runs
    on random inputs only.
    """
    import torch

    from brickwork.data import apply_preprocessing

    if inputs:
        from brickwork.data.inputs import read_inputs

        raw, _ = read_inputs(inputs, list(model.input_shape), meta.get("preprocessing"))
        return (
            apply_preprocessing(meta.get("preprocessing") or {}, torch.from_numpy(raw)),
            f"{len(raw)} rows from --inputs",
            {},
        )
    if not meta.get("data"):
        return None, "none (no data recorded; pass --inputs FILES)", {}
    from brickwork.data import load_data
    from brickwork.spec.data import DataSpec

    try:
        bundle = load_data(
            DataSpec(**{**meta["data"], "download": False}), seed=meta.get("seed", 0)
        )
    except (BrickworkError, TypeError, ValueError) as e:
        return None, f"none (the data could not be loaded: {str(e).splitlines()[0][:160]})", {}
    for name in ("test", "val", "train"):
        split = getattr(bundle, name)
        if split is not None and len(split.y):
            x = split.x[:REAL_ROWS]
            extra = {
                "preprocessing": bundle.preprocessing,
                "task": bundle.task,
                "class_names": bundle.class_names,
                "num_classes": bundle.num_classes,
                "vocab": bundle.vocab.to_json() if bundle.vocab is not None else None,
            }
            return x, f"{len(x)} rows of the {meta['data'].get('dataset')} {name} split", extra
    return None, "none (the data has no rows)", {}


def refuse_overwriting_inputs(args, out: Path, meta: dict) -> None:
    """The export and its `.json` must not replace the model, its run, spec, data or inputs."""
    from brickwork.files import refuse_to_overwrite
    from brickwork.train.rundir import run_inputs
    from brickwork.train.runner import model_path

    source = Path(args.model)
    inputs = [source] if source.suffix.lower() in SPEC_SUFFIXES else []
    inputs += run_inputs(model_path(source), meta) + [Path(p) for p in args.inputs or []]
    for target, option in (
        (out, "-o/--output"),
        (out.with_name(out.name + ".json"), "-o/--output (its .json)"),
    ):
        refuse_to_overwrite(target, inputs, option, args.force)


def cmd_export(args) -> int:
    if args.format == "onnx":
        require_extra("onnx", "onnxruntime")
    from brickwork.export import export_model
    from brickwork.export.exporters import check_format
    from brickwork.export.formats import FORMATS

    if args.format != "web":
        check_format(args.format)
    model, meta = load_for_export(args.model)
    out = Path(args.output or Path(args.model).stem + (FORMATS[args.format] or "_web"))
    refuse_overwriting_inputs(args, out, meta)
    if out.is_dir() and args.format != "web":
        raise BrickworkError(
            f"-o {out} is a folder; give the file to write, e.g. "
            f"-o {out / ('model' + FORMATS[args.format])}."
        )
    real, source, extra = (
        (None, "none (--no-data)", {}) if args.no_data else real_inputs(meta, args.inputs, model)
    )
    meta = {**meta, **{k: v for k, v in extra.items() if meta.get(k) is None}}
    side = {k: meta[k] for k in SIDE_KEYS if meta.get(k) is not None}
    side = {**side, "real_inputs": source, "untrained": bool(meta.get("untrained"))}
    if args.format == "web":
        from brickwork.export.webpage import export_site

        report = export_site(model, out, meta, side, real, ort_web=args.ort_web)
    else:
        report = export_model(
            model,
            out,
            args.format,
            preprocessing=meta.get("preprocessing"),
            metadata=side,
            real_inputs=real,
        )
    if args.json:
        print(
            json.dumps({"file": str(out), "format": args.format, "real_inputs": source, **report})
        )
        return 0
    _print_report(out, args.format, report, source)
    return 0


def _print_report(out: Path, fmt: str, report: dict, source: str) -> None:
    cases = "  ".join(f"{k} {v:.2e}" for k, v in report.items() if k.startswith(("random", "real")))
    exporter = report["exporter"]
    if fmt == "web":
        print(f"wrote {out}/ (index.html, model.onnx, model.json, ort/): open {out}/index.html")
    else:
        print(f"wrote {out} and {out.name}.json ({fmt} by {exporter['exporter']}, dynamic batch)")
    if "dynamo_failed" in exporter:
        print(f"note: the dynamo ONNX exporter failed ({exporter['dynamo_failed']}); legacy used")
    print(
        f"parity with PyTorch: max abs error {report['max_abs_error']:.2e} (tolerance 1e-4): "
        f"{cases}"
    )
    print(f"real inputs: {source}")


def register(sub) -> None:
    p = sub.add_parser(
        "export",
        help="export a model to ONNX, pt2 (torch.export), AOTInductor, ExecuTorch or a web page, "
        "checking parity with PyTorch",
    )
    p.add_argument(
        "model",
        help="a model .safetensors file, a run directory, or a spec file (untrained weights)",
    )
    p.add_argument(
        "--format",
        default="onnx",
        help="onnx (default), pt2 (torch.export.load), aoti (AOTInductor package, needs a C++ "
        "compiler), pte (ExecuTorch, needs executorch) or web (a static site: -o is a folder)",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where to write (default: MODEL name + .onnx/.pt2/.pte, or _web/ for web); "
        "FILE.json gets the preprocessing",
    )
    p.add_argument(
        "--ort-web",
        metavar="DIR",
        help="for --format web: the onnxruntime-web dist folder (default: $BRICKWORK_ORT_WEB, "
        "./node_modules, or ~/.cache/brickwork/npm)",
    )
    p.add_argument(
        "--inputs",
        nargs="+",
        metavar="FILE",
        help="real samples for the parity check (images, .npy, .csv); default: the recorded "
        "data's test rows",
    )
    p.add_argument(
        "--no-data",
        action="store_true",
        help="check parity on random inputs only (do not load the data)",
    )
    p.add_argument("--json", action="store_true", help="print the parity report as JSON")
    add_trust_options(p)
    add_force_option(p, "-o/--output")
    p.set_defaults(func=cmd_export)
