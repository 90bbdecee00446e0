"""Draw a model as a top-down diagram (PNG or SVG) with matplotlib."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from brickwork.errors import BrickworkError
from brickwork.layers.registry import fmt


def _depths(model: nn.Module) -> dict[str, int]:
    depth = {name: 0 for name in model.input_shapes}
    for info in model.layer_info:
        depth[info["name"]] = 1 + max(depth[i] for i in info["inputs"])
    return depth


def plot_model(model: nn.Module, path: str | Path) -> Path:
    """Write a diagram of the model's layers, shapes and connections to `path` (.png or .svg)."""
    from brickwork.figures import png_bytes, subplots
    from brickwork.models.io import atomic_write

    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise BrickworkError(f"graph output '{path}' must end in .png, .svg or .pdf.")
    depth = _depths(model)
    labels = {name: f"{name}\ninput {fmt(shape)}" for name, shape in model.input_shapes.items()}
    for info in model.layer_info:
        labels[info["name"]] = f"{info['name']} ({info['type']})\n{fmt(info['output_shape'])}"
    rows: dict[int, list[str]] = {}
    for name, d in depth.items():
        rows.setdefault(d, []).append(name)
    width = max(len(r) for r in rows.values())
    pos = {
        name: ((i - (len(names) - 1) / 2) * 3.2, -d * 1.2)
        for d, names in rows.items()
        for i, name in enumerate(names)
    }
    fig, ax = subplots(figsize=(max(4.0, 3.2 * width), max(3.0, 1.2 * len(rows) + 0.5)))
    for info in model.layer_info:
        for src in info["inputs"]:
            (x0, y0), (x1, y1) = pos[src], pos[info["name"]]
            skip = depth[info["name"]] - depth[src] > 1  # bend skip connections around the chain
            ax.annotate(
                "",
                xy=(x1, y1 + 0.3),
                xytext=(x0, y0 - 0.3),
                arrowprops={
                    "arrowstyle": "->",
                    "color": "#555",
                    "lw": 1.2,
                    "connectionstyle": f"arc3,rad={0.5 if skip else 0}",
                },
            )
    for name, (x, y) in pos.items():
        face = "#e8f0fe" if name in model.input_shapes else "#fff7e0"
        ax.text(
            x,
            y,
            labels[name],
            ha="center",
            va="center",
            fontsize=8,
            family="monospace",
            bbox={"boxstyle": "round,pad=0.4", "fc": face, "ec": "#333"},
        )
    xs = [p[0] for p in pos.values()]
    ax.set_xlim(min(xs) - 1.8, max(xs) + 1.8)
    ax.set_ylim(-1.2 * (len(rows) - 1) - 0.6, 0.6)
    ax.axis("off")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, png_bytes(fig, dpi=120, format=path.suffix.lower()[1:], bbox_inches="tight"))
    return path
