"""Model summary: each layer's output shape, parameters (trainable / frozen) and MACs."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from torch import nn

from brickwork.layers.registry import fmt

if TYPE_CHECKING:
    from rich.console import Console

# training FLOPs per forward MAC: 2 FLOPs a MAC, and forward + backward cost about 3 forwards
TRAIN_FLOPS_PER_MAC = 6


class Summary(dict):
    """What `summary` returns: plain data (a dict, JSON-able) that a notebook shows as a table."""

    def _repr_html_(self) -> str:
        cells = ("name", "type", "output_shape", "params", "frozen", "macs")
        head = "".join(f"<th>{c.replace('_', ' ')}</th>" for c in cells)
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(_cell(r, c))}</td>" for c in cells) + "</tr>"
            for r in self["layers"]
        )
        title = html.escape(f"Model: {self['name']}" if self["name"] else "Model")
        return (
            f"<p><b>{title}</b></p><table><tr>{head}</tr>{rows}</table>"
            f"<p>Total params: {self['total_params']:,} ({_size(self['param_bytes'])}) "
            f"&nbsp; Trainable: {self['trainable_params']:,} &nbsp; "
            f"Frozen: {self['frozen_params']:,} &nbsp; "
            f"MACs/sample: {_count(self['total_macs'])}</p>"
        )


def _cell(row: dict, column: str) -> str:
    value = row[column]
    if column == "output_shape":
        return fmt(value)
    if column == "macs":
        return _count(value) if value else ""
    if column in ("params", "frozen"):
        return f"{value:,}" if value or column == "params" else ""
    return str(value)


def summary(model: nn.Module) -> Summary:
    """Rows and totals as plain data (the CLI's `--json`). Counts equal `sum(p.numel())`.

    MACs are multiply-accumulates per sample in dense, convolution, recurrent and attention
    layers (attention counts its projections and both matmuls, Q K^T and weights x V, over
    every step; a variable length counts as 1 step). A weight shared by two layers
    (`tie_weights`) is counted once, in the first layer that holds it.
    """
    rows, seen = [], set()
    for info in model.layer_info:
        params = [p for p in model.layers[info["name"]].parameters() if id(p) not in seen]
        seen.update(id(p) for p in params)
        trainable = sum(p.numel() for p in params if p.requires_grad)
        frozen = sum(p.numel() for p in params if not p.requires_grad)
        rows.append(
            {**info, "trainable": trainable, "frozen": frozen, "params": trainable + frozen}
        )
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    macs = sum(r["macs"] for r in rows)
    return Summary(
        name=model.spec.get("name"),
        inputs=model.input_shapes,
        layers=rows,
        total_params=total,
        trainable_params=trainable,
        frozen_params=total - trainable,
        total_macs=macs,
        train_flops=TRAIN_FLOPS_PER_MAC * macs,
        param_bytes=sum(p.numel() * p.element_size() for p in params),
        buffer_bytes=sum(b.numel() * b.element_size() for b in model.buffers()),
    )


def _size(nbytes: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if nbytes < 1024 or unit == "GB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.2f} {unit}"
        nbytes /= 1024
    return ""


def _count(n: int) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.2f} G"
    if n >= 1e6:
        return f"{n / 1e6:.2f} M"
    if n >= 1e3:
        return f"{n / 1e3:.1f} K"
    return str(n)


def print_summary(model: nn.Module, console: Console | None = None) -> dict:
    """Print the summary as a rich table; returns the same data as `summary`."""
    from rich.console import Console
    from rich.table import Table

    data = summary(model)
    console = console or Console()
    title = f"Model: {data['name']}" if data["name"] else "Model"
    inputs = ", ".join(
        fmt(v) if k == "input" else f"{k} {fmt(v)}" for k, v in data["inputs"].items()
    )
    table = Table(title=f"{title}  (input {inputs})", title_justify="left")
    for col, just in (
        ("Layer", "left"),
        ("Type", "left"),
        ("Output shape", "left"),
        ("Params", "right"),
        ("Frozen", "right"),
        ("MACs", "right"),
    ):
        table.add_column(col, justify=just)
    graph = any(len(r["inputs"]) > 1 for r in data["layers"]) or len(data["inputs"]) > 1
    if graph:
        table.add_column("Inputs")
    for r in data["layers"]:
        cells = [
            r["name"],
            r["type"],
            fmt(r["output_shape"]),
            f"{r['params']:,}",
            f"{r['frozen']:,}" if r["frozen"] else "",
            _count(r["macs"]) if r["macs"] else "",
        ]
        table.add_row(*cells, *([", ".join(r["inputs"])] if graph else []))
    console.print(table)
    console.print(
        f"Total params: {data['total_params']:,} ({_size(data['param_bytes'])})   "
        f"Trainable: {data['trainable_params']:,}   Frozen: {data['frozen_params']:,}   "
        f"MACs/sample: {_count(data['total_macs'])} ({data['total_macs']:,})   "
        f"Training FLOPs/sample: {_count(data['train_flops'])} (6 x MACs)"
    )
    return data
