"""`brickwork summary`, `brickwork graph` and `brickwork layers`."""

from __future__ import annotations

import json

from brickwork.errors import BrickworkError, did_you_mean
from brickwork.spec.load import read_spec_file


def model_from_file(path: str):
    """Build the model of a spec file: a run spec's `model:` section, or a bare model spec."""
    from brickwork.models import build_model

    data = read_spec_file(path)
    section = data.get("model", data)
    if isinstance(section, dict) and "name" not in section and isinstance(data.get("name"), str):
        section = {"name": data["name"], **section}
    try:
        return build_model(section)
    except BrickworkError as e:
        raise BrickworkError(f"{path}: {e}") from None


def cmd_summary(args) -> int:
    from brickwork.models import print_summary, summary

    model = model_from_file(args.spec)
    if args.json:
        print(json.dumps(summary(model), indent=2))
    else:
        print_summary(model)
    return 0


def cmd_graph(args) -> int:
    from brickwork.models.plot import plot_model

    print(f"wrote {plot_model(model_from_file(args.spec), args.output)}")
    return 0


def cmd_layers(args) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    import brickwork.models  # noqa: F401  (registers residual)
    from brickwork.layers import LAYERS
    from brickwork.layers.registry import ALIASES, canonical

    if args.type:
        found = canonical(args.type)
        if found is None:
            raise BrickworkError(f"unknown layer type '{args.type}'{did_you_mean(args.type, list(LAYERS) + list(ALIASES))}; run `brickwork layers` for the list.")
        kind = LAYERS[found]
        doc = (kind.build.__doc__ or "").strip().splitlines()
        table = Table(title=escape(f"{found}: {doc[0]}" if doc else found), title_justify="left")
        table.add_column("Field")
        table.add_column("Type")
        table.add_column("Default")
        for name, f in kind.config.model_fields.items():
            default = "required" if f.is_required() else repr(f.default)
            kind_text = str(f.annotation).replace("typing.", "").replace("brickwork.layers.init.", "")
            table.add_row(name, escape(kind_text.replace("<class '", "").replace("'>", "")), escape(default))
        Console().print(table)
        return 0
    table = Table(title="Layer types (`brickwork layers TYPE` shows the fields)", title_justify="left")
    table.add_column("Type")
    table.add_column("Aliases")
    table.add_column("Fields")
    for name, kind in sorted(LAYERS.items()):
        aliases = ", ".join(a for a, n in ALIASES.items() if n == name)
        table.add_row(name, aliases, ", ".join(kind.config.model_fields))
    Console().print(table)
    return 0


def register(sub) -> None:
    p = sub.add_parser("summary", help="table of layers, output shapes, parameters and MACs")
    p.add_argument("spec", help="spec file (.yaml/.json) with a model: section")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_summary)
    p = sub.add_parser("graph", help="draw the network to a PNG or SVG file")
    p.add_argument("spec", help="spec file (.yaml/.json) with a model: section")
    p.add_argument("-o", "--output", default="model.png", help="output file: .png, .svg or .pdf")
    p.set_defaults(func=cmd_graph)
    p = sub.add_parser("layers", help="list the layer types, or one type's fields")
    p.add_argument("type", nargs="?", help="a layer type, e.g. conv2d")
    p.set_defaults(func=cmd_layers)
