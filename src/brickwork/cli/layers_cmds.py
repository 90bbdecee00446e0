"""`brickwork layers [TYPE]`: the layer types, or one type's fields, from the static catalog.

The catalog (brickwork.cli.catalog) holds what the registry would say, so this command never
imports torch and answers quickly.
"""

from __future__ import annotations

from brickwork.cli.catalog import read_catalog
from brickwork.errors import BrickworkError, did_you_mean


def _canonical(name: str, layers: dict) -> str | None:
    """The type `name` or one of its aliases names (case-insensitive), else None."""
    key = name.lower()
    if key in layers:
        return key
    return next((t for t, entry in layers.items() if key in entry["aliases"]), None)


def cmd_layers(args) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    layers = read_catalog()["layers"]
    if args.type:
        found = _canonical(args.type, layers)
        if found is None:
            known = [*layers, *(a for entry in layers.values() for a in entry["aliases"])]
            raise BrickworkError(
                f"unknown layer type '{args.type[:40]}'{did_you_mean(args.type, known)}; run "
                "`brickwork layers` for the list."
            )
        entry = layers[found]
        title = f"{found}: {entry['summary']}" if entry["summary"] else found
        table = Table(title=escape(title), title_justify="left")
        for column in ("Field", "Type", "Default"):
            table.add_column(column)
        for field in entry["fields"]:
            table.add_row(field["name"], escape(field["type"]), escape(field["default"]))
        Console().print(table)
        return 0
    table = Table(
        title="Layer types (`brickwork layers TYPE` shows the fields)", title_justify="left"
    )
    for column in ("Type", "Aliases", "Fields"):
        table.add_column(column)
    for name, entry in layers.items():
        table.add_row(
            name, ", ".join(entry["aliases"]), ", ".join(f["name"] for f in entry["fields"])
        )
    Console().print(table)
    return 0


def register(sub) -> None:
    p = sub.add_parser("layers", help="list the layer types, or one type's fields")
    p.add_argument("type", nargs="?", help="a layer type, e.g. conv2d")
    p.set_defaults(func=cmd_layers)
