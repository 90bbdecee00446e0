"""`brickwork summary` and `brickwork graph` (`brickwork layers` is in layers_cmds)."""

from __future__ import annotations

import json
import sys

from brickwork.errors import BrickworkError

MODEL_KEYS = {"input_shape", "layers", "inputs", "nodes"}


def model_from_file(path: str, sample_spaces: bool = False):
    """Build the model of a spec file: a run spec's `model:` section, or a bare model spec.

    With `sample_spaces`, a tune spec's search spaces take each range's low end and each
    choice's first option (with a note on stderr), so `summary` and `graph` can show its model.
    """
    from brickwork.models import build_model
    from brickwork.spec.load import read_spec_file
    from brickwork.spec.tune import bound_suggest, resolve, search_params

    data = read_spec_file(path)
    if "model" not in data and not MODEL_KEYS & set(data):
        hint = (
            "; it has a `finetune:` section, so show the prepared model with `brickwork finetune "
            f"BASE {path} --summary`"
            if "finetune" in data
            else "; add a `model:` section with `input_shape:` and `layers:`"
        )
        raise BrickworkError(
            f"{path}: the file has no `model:` section (it holds "
            f"{', '.join(map(str, data)) or 'nothing'}), "
            f"so there is no model to build{hint}."
        )
    section = data.get("model", data)
    if isinstance(section, dict) and "name" not in section and isinstance(data.get("name"), str):
        section = {"name": data["name"], **section}
    try:
        params = search_params(section, "model")
        if params and not sample_spaces:
            raise BrickworkError(
                f"the model holds search spaces ({_listed(params)}); run `brickwork tune {path}` "
                "and use the best spec it writes."
            )
        if params:
            section = resolve({"model": section}, bound_suggest("low"))["model"]
            print(
                f"note: {path} holds search spaces ({_listed(params)}); showing the model with "
                "each range's low end "
                f"and each choice's first option. Run `brickwork tune {path}` to search them.",
                file=sys.stderr,
            )
        return build_model(section)
    except BrickworkError as e:
        raise BrickworkError(f"{path}: {e}") from None


def _listed(params: list[str], most: int = 3) -> str:
    more = f" and {len(params) - most} more" if len(params) > most else ""
    return ", ".join(params[:most]) + more


def cmd_summary(args) -> int:
    from brickwork.models import print_summary, summary

    model = model_from_file(args.spec, sample_spaces=True)
    speed = _speed(args.device, args.run, model)
    if args.json:
        print(json.dumps({**summary(model), "speed": speed}, indent=2))
        return 0
    data = print_summary(model)
    for p in speed["peaks"]:
        print(f"Peak of {speed['device']} in {p['precision']}: {_flops(p['flops'])} ({p['what']})")
    achieved = speed.get("achieved")
    if achieved:
        share = achieved.get("utilization")
        print(
            f"Achieved in {args.run} (epoch {achieved['epoch']}): "
            f"{_flops(achieved.get('flops_per_s'))} training"
            + (f", {share:.0%} of its device's peak" if share is not None else "")
            + f"; {data['train_flops']:,} FLOPs/sample"
        )
    return 0


def _speed(device: str, run: str | None, model) -> dict:
    """The device's fp32/bf16 peaks for this model (a CPU is measured once, then cached) and,
    for a run directory, the last epoch of its speed.csv."""
    from brickwork.train.device import native_bf16, pick_device
    from brickwork.train.utilization import device_peak, has_convolutions, read_speed

    dev = pick_device(device)
    precisions = ["fp32"] + (["bf16"] if native_bf16(dev)[0] else [])
    convolutions = has_convolutions(model)
    peaks = [
        {"precision": p, **peak} for p in precisions if (peak := device_peak(dev, p, convolutions))
    ]
    out: dict = {"device": str(dev), "peaks": peaks}
    if run:
        out["achieved"] = read_speed(run)
    return out


def _flops(value) -> str:
    from brickwork.train.utilization import flops_text

    return "unknown" if value is None else flops_text(value)


def cmd_graph(args) -> int:
    from brickwork.models.plot import plot_model

    print(f"wrote {plot_model(model_from_file(args.spec, sample_spaces=True), args.output)}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("summary", help="table of layers, output shapes, parameters and MACs")
    p.add_argument("spec", help="spec file (.yaml/.json) with a model: section")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument(
        "--run", metavar="RUN_DIR", help="also show the FLOP/s a run achieved (its speed.csv)"
    )
    p.add_argument(
        "--device", default="auto", help="the device whose peak FLOP/s to show (default: auto)"
    )
    p.set_defaults(func=cmd_summary)
    p = sub.add_parser("graph", help="draw the network to a PNG or SVG file")
    p.add_argument("spec", help="spec file (.yaml/.json) with a model: section")
    p.add_argument("-o", "--output", default="model.png", help="output file: .png, .svg or .pdf")
    p.set_defaults(func=cmd_graph)
