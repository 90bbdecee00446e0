"""Replace a model's output layer: new number of classes, fresh weights, the rest kept."""

from __future__ import annotations

import copy

from torch import nn

from brickwork.errors import BrickworkError


def head_name(model: nn.Module) -> str:
    """The last dense layer: the classifier head."""
    for info in reversed(model.layer_info):
        if info["type"] == "dense":
            return info["name"]
    raise BrickworkError("replace_head: the model has no dense layer to replace.")


def _entry_name(entries: list, name: str) -> int:
    """Index of the spec entry that built layer `name` (names are auto-assigned in order)."""
    from brickwork.layers import canonical
    from brickwork.models.build import normalize_entry

    counts: dict[str, int] = {}
    for i, raw in enumerate(entries):
        entry = normalize_entry(raw, f"layer {i}")
        kind = canonical(str(entry["type"])) or str(entry["type"])
        counts[kind] = counts.get(kind, 0) + 1
        if entry.get("name", f"{kind}_{counts[kind]}") == name:
            return i
    raise BrickworkError(f"replace_head: layer '{name}' is not in the model spec.")


def replace_head(model: nn.Module, num_classes: int, activation: str | None = "keep") -> nn.Module:
    """A new model whose head has `num_classes` outputs, initialised fresh; every other
    layer keeps its weights and frozen state. The spec records the change."""
    from brickwork.models import build_model
    from brickwork.models.build import normalize_entry

    name = head_name(model)
    spec = copy.deepcopy(model.spec)
    key = "layers" if "layers" in spec else "nodes"
    index = _entry_name(spec[key], name)
    entry = normalize_entry(spec[key][index], f"layer {index}")
    entry["units"] = int(num_classes)
    entry.setdefault("name", name)
    if activation != "keep":
        entry.pop("activation", None)
        if activation:
            entry["activation"] = activation
    spec[key][index] = entry
    new = build_model(spec)
    kept = {k: v for k, v in model.state_dict().items() if not k.startswith(f"layers.{name}.")}
    new.load_state_dict(kept, strict=False)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    for n, p in new.named_parameters():
        p.requires_grad_(n not in frozen)
    new_modules = dict(new.named_modules())
    for n, old_m in model.named_modules():
        if getattr(old_m, "frozen_stats", False) and n in new_modules:
            new_modules[n].frozen_stats = True
    return new.train(model.training)
