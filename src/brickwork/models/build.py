"""Build a `torch.nn.Module` from a model spec: the one builder behind specs and Python.

The spec names each layer's type and its own fields; shapes flow from `input_shape` through
every layer's build function, so errors can name the layer, what it received and what it
needed. The result is a plain `nn.Module` (`BrickModel`) holding the spec it came from.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
from pydantic import ValidationError
from torch import nn

from brickwork.errors import BrickworkError, did_you_mean, pydantic_message
from brickwork.layers import LAYERS, canonical
from brickwork.layers.core import activation_module
from brickwork.layers.merge import ResidualConfig
from brickwork.layers.registry import ALIASES, Built, LayerConfig, ShapeError, fmt, register
from brickwork.models.memory import check_layer_fits
from brickwork.models.model import BrickModel
from brickwork.spec.model import parse_model_spec
from brickwork.trust import import_named

NODE_FIELDS = {"type", "name", "inputs", "trainable"}


@dataclass
class Node:
    name: str
    kind: str
    module: nn.Module
    inputs: list[str]
    out_shape: tuple
    macs: int = 0
    extra: dict = field(default_factory=dict)


def build_model(spec: dict | Any) -> BrickModel:
    """Build the model described by a `model:` section (dict or ModelSpec)."""
    parsed = parse_model_spec(spec)
    inputs = {name: tuple(shape) for name, shape in parsed.input_shapes.items()}
    entries = parsed.layers if parsed.layers is not None else parsed.nodes
    nodes, resolve = build_nodes(entries, inputs, graph=parsed.nodes is not None)
    if not nodes:
        raise BrickworkError(
            "model: the model has no layers; list at least one under `layers:` or `nodes:`."
        )
    outputs = [nodes[-1].name]
    if parsed.outputs:
        named = [parsed.outputs] if isinstance(parsed.outputs, str) else parsed.outputs
        for out in named:
            if out not in resolve:
                raise BrickworkError(
                    f"model.outputs: no node is named '{out}'{did_you_mean(out, resolve)}."
                )
        outputs = [resolve[o] for o in named]
    if parsed.tie_weights:
        tie_weights(nodes, outputs[0])
    return BrickModel(parsed.model_dump(exclude_none=True), nodes, inputs, outputs)


def tie_weights(nodes: list[Node], output: str) -> None:
    """`tie_weights: true`: the output dense layer uses the first embedding's weight matrix
    (one parameter, as in GPT-2), so both need [vocabulary, width] weights. The output layer
    is the last dense layer, after which only parameter-free layers (softmax, ...) may come."""
    embeds = [n for n in nodes if isinstance(n.module, nn.Embedding)]
    index = next((i for i, n in enumerate(nodes) if n.name == output), len(nodes) - 1)
    heads = [n for n in nodes[: index + 1] if isinstance(n.module, nn.Linear)]
    after = nodes[nodes.index(heads[-1]) + 1 : index + 1] if heads else []
    if not embeds or not heads or any(list(n.module.parameters()) for n in after):
        raise BrickworkError(
            "model.tie_weights: tying shares the first `embedding`'s weight with the output "
            "`dense` layer, so the model needs an embedding and must end in a dense layer "
            "(optionally followed by softmax or another layer without weights); add them, or "
            "remove tie_weights."
        )
    embed, head = embeds[0], heads[-1]
    if head.module.weight.shape != embed.module.weight.shape:
        vocab, width = embed.module.weight.shape
        raise BrickworkError(
            f"model.tie_weights: embedding '{embed.name}' has {vocab} tokens of width {width}, "
            f"but dense '{head.name}' maps width {head.module.in_features} to "
            f"{head.module.out_features} units; tying needs units: {vocab} on a width-{width} "
            "input (put a dense or layernorm of that width before it), or remove tie_weights."
        )
    head.module.weight = embed.module.weight


def Sequential(
    layers: list, input_shape: Sequence[int | None], name: str | None = None
) -> BrickModel:  # noqa: N802
    """Keras-style: `Sequential([Conv2D(32, 5), ReLU(), Flatten(), Dense(10)], input_shape=[1, 28,
    28])`.
    """
    return build_model({"name": name, "input_shape": list(input_shape), "layers": list(layers)})


def Graph(
    nodes: list,
    inputs: dict[str, Sequence[int | None]],
    outputs: str | list[str] | None = None,
    name: str | None = None,
) -> BrickModel:  # noqa: N802
    """A graph of named nodes; each takes the previous node's output unless it names `inputs`."""
    return build_model(
        {
            "name": name,
            "inputs": {k: list(v) for k, v in inputs.items()},
            "nodes": list(nodes),
            "outputs": outputs,
        }
    )


def normalize_entry(entry, where: str) -> dict:
    """`relu`, `{type: dense, units: 10}`, `{dense: {units: 10}}`, `{dropout: 0.5}` and
    `{dense: 64, activation: relu}` -> one form."""
    if isinstance(entry, str):
        return {"type": entry}
    if not isinstance(entry, dict):
        raise BrickworkError(
            f"{where}: expected a layer type name such as relu, or a mapping such as {{type: "
            "dense, units: 64} "
            f"or {{dense: 64}}, found {entry!r}; each entry of `layers:`/`nodes:` is one layer."
        )
    if "type" in entry:
        return dict(entry)
    keys = [k for k in entry if k not in NODE_FIELDS]
    if len(keys) > 1:  # `{dense: 64, activation: relu}`: the one key that names a layer type
        keys = [k for k in keys if canonical(k) in LAYERS] or keys
    if len(keys) != 1:
        raise BrickworkError(
            f"{where}: a layer needs `type:` (e.g. {{type: dense, units: 10}}), found fields "
            f"{sorted(entry)}."
        )
    kind, value = keys[0], entry[keys[0]]
    rest = {k: v for k, v in entry.items() if k != kind}
    if isinstance(value, dict):
        return {"type": kind, **value, **rest}
    if value is None:
        return {"type": kind, **rest}
    registered = LAYERS.get(canonical(kind) or "")
    if not registered or not registered.positional:
        raise BrickworkError(
            f"{where}: write `{kind}` with named fields, e.g. {{type: {kind}, ...}}, not `{kind}: "
            f"{value!r}`."
        )
    return {"type": kind, registered.positional[0]: value, **rest}


def build_nodes(
    entries, inputs: dict[str, tuple], graph: bool, prefix: str = ""
) -> tuple[list[Node], dict[str, str]]:
    """Build every entry in order; returns the nodes and a map from reference name to node."""
    resolve = {name: name for name in inputs}
    shapes = dict(inputs)
    nodes: list[Node] = []
    counts: dict[str, int] = {}
    previous = list(inputs)[-1]
    held = 0  # parameter bytes of the layers so far
    for index, raw in enumerate(entries):
        where = f"{prefix}layer {index}"
        entry = normalize_entry(raw, where)
        kind_name = str(entry.pop("type"))
        name = entry.pop("name", None)
        refs = entry.pop("inputs", None)
        trainable = entry.pop("trainable", True)
        kind = _kind(kind_name, where)
        counts[kind.name] = counts.get(kind.name, 0) + 1
        name = (
            str(name)
            if name is not None
            else f"{kind.name.split('.')[-1].split(':')[-1].lower()}_{counts[kind.name]}"
        )
        if name in resolve:
            raise BrickworkError(
                f"{where}: the name '{name}' is used twice; give each layer a unique `name:`."
            )
        label = f"{kind_name} '{name}' ({where})"
        if not isinstance(trainable, bool):
            raise BrickworkError(
                f"{label}: field 'trainable' must be true or false, found {trainable!r}; write "
                "trainable: false to freeze the layer."
            )
        if refs is not None and not graph:
            raise BrickworkError(
                f"{label}: `inputs:` belongs to the graph form (`nodes:`); a `layers:` list feeds "
                "each layer the one before."
            )
        refs = [previous] if refs is None else ([refs] if isinstance(refs, str) else list(refs))
        for ref in refs:
            if ref not in resolve:
                raise BrickworkError(
                    f"{label}: input '{ref}' is not an earlier node or model "
                    f"input{did_you_mean(ref, resolve)}; nodes are built in order, so list it "
                    "first."
                )
        in_names = [resolve[r] for r in refs]
        cfg = _config(kind, entry, label)
        in_shapes = [shapes[n] for n in in_names]
        if not kind.takes_many and len(in_shapes) != 1:
            raise BrickworkError(
                f"{label}: takes one input but `inputs:` lists {len(in_shapes)}; merge them first "
                "with add or concat."
            )
        layer_in = in_shapes if kind.takes_many else in_shapes[0]
        held += check_layer_fits(partial(kind.build, cfg, layer_in), label, held)
        try:
            built = kind.build(cfg, layer_in)
        except ShapeError as e:
            raise BrickworkError(f"{label} {e}.") from None
        except (
            BrickworkError
        ) as e:  # a field checked at build time, or a layer inside a residual block
            raise BrickworkError(f"{label}: {e}") from None
        if trainable is False:
            built.module.requires_grad_(False)
        nodes.append(
            Node(
                name,
                kind.name,
                built.module,
                in_names,
                tuple(built.out_shape),
                built.macs,
                {"trainable": trainable},
            )
        )
        shapes[name] = tuple(built.out_shape)
        last = name
        act = getattr(cfg, "activation", None)
        if act:
            last = f"{name}_{act}"
            nodes.append(Node(last, act, activation_module(act), [name], shapes[name]))
            shapes[last] = shapes[name]
        resolve[name] = last
        previous = name
    return nodes, resolve


def _kind(name: str, where: str):
    if ":" in name:
        return _custom_kind(name, where)
    found = canonical(name)
    if found is None:
        choices = list(LAYERS) + list(ALIASES)
        raise BrickworkError(
            f"{where}: unknown layer type '{name}'{did_you_mean(name.lower(), choices)}; run "
            "`brickwork layers` for the list, or give a custom layer as "
            "'package.module:ClassName'."
        )
    return LAYERS[found]


def _config(kind, fields: dict, label: str) -> LayerConfig:
    try:
        return kind.config(**fields)
    except ValidationError as e:
        raise BrickworkError(pydantic_message(e, label, kind.config.model_fields) + ".") from None


class Residual(nn.Module):
    """`body(x) + shortcut(x)`: the shortcut is the identity, or a 1x1 projection when shapes
    differ.
    """

    def __init__(self, body: nn.Module, shortcut: nn.Module):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x):
        return self.body(x) + self.shortcut(x)


@register("residual", ResidualConfig, positional=["layers"], aliases=["residual_block"])
def residual(cfg: ResidualConfig, shape):
    """A residual block around a list of layers (ResNet's building block)."""
    nodes, _ = build_nodes(cfg.layers, {"input": shape}, graph=False, prefix="residual ")
    if not nodes:
        raise ShapeError("needs at least one layer under `layers:`")
    out = nodes[-1].out_shape
    body = nn.Sequential(OrderedDict((n.name, n.module) for n in nodes))
    macs = sum(n.macs for n in nodes)
    if cfg.shortcut == "identity" or (cfg.shortcut == "auto" and out == shape):
        if out != shape:
            raise ShapeError(
                f"an identity shortcut needs the body to keep the shape, but it maps {fmt(shape)} "
                f"to {fmt(out)}; use shortcut: projection"
            )
        shortcut = nn.Identity()
    else:
        shortcut, extra = _projection(shape, out)
        macs += extra
    return Built(Residual(body, shortcut), out, macs)


def _projection(shape, out):
    if len(shape) == 1 and len(out) == 1:
        return nn.Linear(shape[0], out[0]), shape[0] * out[0]
    if len(shape) in (2, 3) and len(out) == len(shape):
        strides = []
        for a, b in zip(shape[1:], out[1:], strict=True):
            if a is None or b is None or a % b:
                raise ShapeError(
                    f"cannot project {fmt(shape)} onto {fmt(out)} with a strided 1x1 convolution"
                )
            strides.append(a // b)
        conv = (nn.Conv1d if len(shape) == 2 else nn.Conv2d)(
            shape[0], out[0], 1, stride=tuple(strides)
        )
        positions = 1
        for d in out[1:]:
            positions *= d
        return conv, positions * shape[0] * out[0]
    raise ShapeError(
        f"cannot project {fmt(shape)} onto {fmt(out)}; make the body keep the rank of its input"
    )


def _custom_kind(path: str, where: str):
    """A user's own nn.Module given as 'package.module:ClassName'; its fields go to __init__."""
    module_name, _, class_name = path.partition(":")
    if not module_name or not class_name.isidentifier():
        raise BrickworkError(
            f"{where}: custom layer '{path}' must look like 'package.module:ClassName', with both "
            "parts given."
        )
    try:
        cls = import_named(path, f"custom layer ({where})")
    except (ImportError, AttributeError, ValueError, TypeError) as e:
        raise BrickworkError(
            f"{where}: cannot import custom layer '{path}' ({e}); check the module is importable "
            "(on PYTHONPATH) and the class name."
        ) from None
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise BrickworkError(f"{where}: custom layer '{path}' is not a torch.nn.Module subclass.")
    return _CustomKind(path, cls)


@dataclass(frozen=True)
class _CustomKind:
    name: str
    cls: type
    takes_many: bool = False
    positional: tuple = ()

    def config(self, **fields):
        return fields

    def build(self, fields: dict, shape):
        params = inspect.signature(self.cls).parameters
        kwargs = dict(fields)
        if "input_shape" in params:
            kwargs["input_shape"] = list(shape)
        try:
            module = self.cls(**kwargs)
        except TypeError as e:
            raise ShapeError(f"could not be created with fields {sorted(fields)}: {e}") from None
        if hasattr(module, "output_shape"):
            return Built(module, tuple(module.output_shape(tuple(shape))))
        probe = torch.zeros(2, *[8 if d is None else d for d in shape])
        try:
            with torch.no_grad():
                out = module(probe)
        except Exception as e:  # the user's code: report which layer failed and on what shape
            raise ShapeError(
                f"failed on an input of shape {fmt(shape)}: {type(e).__name__}: {e}"
            ) from None
        return Built(module, tuple(out.shape[1:]))
