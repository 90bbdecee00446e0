"""`BrickModel`: the plain `nn.Module` that every spec builds into.

Besides `forward`, it offers what tools around a model need without reading its insides:
`card` (the typed `ModelCard`), `input_shape`/`output_shape`, and for a `layers:` chain the
step API that text generation and export use: `embedding`, `output_layer`,
`recurrent_layers`, `stateful_layers`, `init_state(batch)` and `step(x, state) -> (output,
state)`, where an attention layer's state is its KV cache.
"""

from __future__ import annotations

import torch
from torch import nn

from brickwork.errors import BrickworkError
from brickwork.layers.attention import MultiHeadAttention, attention_of, is_attention
from brickwork.layers.init import penalty_terms, regularization_loss
from brickwork.layers.positions import PositionalEmbedding
from brickwork.layers.recurrent import _Sequence
from brickwork.models.card import ModelCard

# One entry per stateful layer (see `stateful_layers`): a recurrent layer's hidden state (an
# LSTM's is a (h, c) pair), an attention layer's KV cache [2, batch, heads, steps, head width],
# a positional embedding's count of positions seen [1, batch]. The batch is always axis 1.
State = list


class BrickModel(nn.Module):
    """Runs its layers in spec order; keeps the spec so the model can be saved and rebuilt.

    A `layers:` model is a chain and runs as one; a graph keeps each node's output until
    the nodes that read it have run. An `embedding` with `mask_zero` hands the sequence
    lengths to the recurrent layers after it, and its token mask to the attention layers
    (as their key-padding mask), so padding does not change their result.
    """

    def __init__(self, spec: dict, nodes: list, inputs: dict[str, tuple], outputs: list[str]):
        super().__init__()
        self.spec = spec
        self.input_shapes = {name: list(shape) for name, shape in inputs.items()}
        self.outputs = outputs
        self.layers = nn.ModuleDict((node.name, node.module) for node in nodes)
        self.layer_info = [
            {
                "name": n.name,
                "type": n.kind,
                "inputs": n.inputs,
                "output_shape": list(n.out_shape),
                "macs": n.macs,
            }
            for n in nodes
        ]
        self._plan = [(n.name, n.module, tuple(n.inputs), _role(n.module)) for n in nodes]
        first = nodes[0].inputs == [list(inputs)[0]]
        self._chain = (
            len(inputs) == 1
            and len(outputs) == 1
            and outputs[0] == nodes[-1].name
            and first
            and all(
                len(b.inputs) == 1 and b.inputs[0] == a.name
                for a, b in zip(nodes, nodes[1:], strict=False)
            )
        )
        self._penalties = penalty_terms(self)
        self.card = ModelCard(
            model_spec=spec, input_shape=self.input_shape, output_shape=self.output_shape
        )

    def __setattr__(self, name: str, value) -> None:
        if name == "metadata":  # the untyped dict of earlier versions: fail loudly, lose nothing
            raise TypeError(
                "model.metadata is gone: a model's description is model.card, a typed "
                "brickwork.models.card.ModelCard; set fields with "
                "model.card = model.card.updated(task=..., class_names=...)."
            )
        super().__setattr__(name, value)

    def _repr_html_(self) -> str:
        """In a notebook: the model summary as a table (layers, shapes, parameters, MACs)."""
        from brickwork.models.summary import summary

        return summary(self)._repr_html_()

    @property
    def input_shape(self) -> list:
        """The shape of the (first) input, per sample."""
        return next(iter(self.input_shapes.values()))

    @property
    def output_shape(self) -> list:
        """The shape of the (first) output, per sample."""
        return next(i["output_shape"] for i in self.layer_info if i["name"] == self.outputs[0])

    @property
    def input_dtype(self) -> torch.dtype:
        """int64 token ids when the model starts with an embedding, else float32."""
        return torch.long if self.embedding is not None else torch.float32

    @property
    def embedding(self) -> nn.Embedding | None:
        """The first layer when it is an embedding (the model reads token ids), else None."""
        first = self._plan[0][1]
        return first if isinstance(first, nn.Embedding) else None

    @property
    def output_layer(self) -> nn.Module:
        """The module that computes the (first) output, e.g. the final dense or softmax."""
        return self.layers[self.outputs[0]]

    @property
    def is_chain(self) -> bool:
        """True for a `layers:` model (one input, each layer reads the one before)."""
        return self._chain

    @property
    def recurrent_layers(self) -> dict[str, nn.Module]:
        """The RNN/LSTM/GRU layers by name, in order."""
        return {name: m for name, m, _, _ in self._plan if isinstance(m, _Sequence)}

    @property
    def stateful_layers(self) -> dict[str, nn.Module]:
        """The layers `step` carries a state for, in order: recurrent layers, attention layers
        (their KV cache) and positional embeddings (the positions seen so far)."""
        return {name: m for name, m, _, _ in self._plan if _stateful(m)}

    @property
    def context_length(self) -> int | None:
        """The most steps an attention model can look at (its positional embedding's size, or
        the input's fixed number of steps); None for models without attention or positions,
        which take sequences of any length."""
        sizes = [m.max_length for m in self.layers.values() if isinstance(m, PositionalEmbedding)]
        if not any(is_attention(m) for m in self.layers.values()) and not sizes:
            return None
        steps = self.input_shape[0] if len(self.input_shape) == 1 else None
        sizes += [steps] if steps is not None else []
        return min(sizes) if sizes else None

    def init_state(self, batch: int = 1) -> State:
        """Zero states for `step`, one per stateful layer, for `batch` sequences (empty KV
        caches and position counts for attention models)."""
        first = next(self.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
        dtype = first.dtype if first is not None else torch.float32  # the KV cache's
        state = []
        for layer in self.stateful_layers.values():
            if isinstance(layer, PositionalEmbedding):
                state.append(torch.zeros(1, batch, dtype=torch.long, device=device))
                continue
            if is_attention(layer):
                attn = attention_of(layer)
                width = attn.embed_dim // attn.num_heads
                state.append(
                    torch.zeros(2, batch, attn.num_heads, 0, width, dtype=dtype, device=device)
                )
                continue
            shape = (layer.num_layers * (2 if layer.bidirectional else 1), batch, layer.hidden_size)
            h = torch.zeros(shape, device=device)
            state.append((h, torch.zeros_like(h)) if isinstance(layer, nn.LSTM) else h)
        return state

    def step(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Run the chain on `x` with each stateful layer starting from `state` (None: from
        zeros, empty caches); returns the output and the states to continue from, so feeding a
        sequence in pieces gives the same outputs as feeding it whole (attention must be
        causal for that). Padding masks do not apply."""
        if not self._chain:
            raise BrickworkError(
                "model.step runs a `layers:` model (a chain of layers); this model is a graph, so "
                "call it directly: model(x)."
            )
        count = len(self.stateful_layers)
        if state is not None and len(state) != count:
            raise BrickworkError(
                f"model.step got {len(state)} state(s) but the model has {count} stateful "
                "layer(s) (recurrent, attention, positional); pass the state a previous step "
                "returned, or model.init_state(batch)."
            )
        states = iter(state) if state is not None else None
        new_state = []
        for _, module, _, _ in self._plan:
            if _stateful(module):
                previous = next(states) if states else None
                if isinstance(module, _Sequence):
                    x, s = module.forward_with_state(x, None, previous)
                else:
                    x, s = module.forward_with_state(x, previous)
                new_state.append(s)
            else:
                x = module(x)
        return x, new_state

    def forward(self, *xs: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        if len(xs) == 1 and isinstance(xs[0], dict):
            xs = tuple(xs[0][name] for name in self.input_shapes)
        if len(xs) != len(self.input_shapes):
            raise TypeError(
                f"this model takes {len(self.input_shapes)} input(s) "
                f"({', '.join(self.input_shapes)}), got {len(xs)}"
            )
        lengths = mask = None
        if self._chain:
            x = xs[0]
            for _, module, _, role in self._plan:
                if role == "embed":
                    mask = x != module.padding_idx
                    lengths = mask.sum(-1)
                if role == "rnn" and lengths is not None:
                    x = module(x, lengths)
                elif role == "attn" and mask is not None:
                    x = module(x, mask=mask)
                else:
                    x = module(x)
            return x
        values = dict(zip(self.input_shapes, xs, strict=True))
        masks: dict[str, torch.Tensor] = {}  # each node's token mask, from its first input's
        for name, module, inputs, role in self._plan:
            args = [values[i] for i in inputs]
            if role == "embed":
                masks[name] = args[0] != module.padding_idx
                lengths = masks[name].sum(-1)
            elif inputs[0] in masks:
                masks[name] = masks[inputs[0]]
            if role == "rnn" and lengths is not None:
                values[name] = module(args[0], lengths)
            elif role == "attn":
                values[name] = _attend(module, args, [masks.get(i) for i in inputs])
            else:
                values[name] = module(*args)
        outs = tuple(values[o] for o in self.outputs)
        return outs[0] if len(outs) == 1 else outs

    def train(self, mode: bool = True) -> BrickModel:
        """As nn.Module.train, but batch-norm layers frozen by fine-tuning keep their statistics."""
        super().train(mode)
        for module in self.modules():
            if getattr(module, "frozen_stats", False):
                module.eval()
        return self

    def regularization_loss(self) -> torch.Tensor | None:
        """Sum of the layers' L1/L2 penalties, or None when no layer declares one."""
        return regularization_loss(self._penalties)

    def example_input(self, batch: int = 2) -> tuple[torch.Tensor, ...]:
        """Zeros (or token id 1) of the input shape(s), variable lengths set to 8."""
        device = next((p.device for p in self.parameters()), torch.device("cpu"))
        return tuple(
            torch.full(
                (batch, *[8 if d is None else d for d in shape]),
                1 if self.input_dtype == torch.long else 0,
                dtype=self.input_dtype,
                device=device,
            )
            for shape in self.input_shapes.values()
        )


def _role(module: nn.Module) -> str:
    if isinstance(module, nn.Embedding) and module.padding_idx is not None:
        return "embed"
    if isinstance(module, _Sequence):
        return "rnn"
    if is_attention(module):
        return "attn"
    return ""


def _stateful(module: nn.Module) -> bool:
    return isinstance(module, _Sequence | PositionalEmbedding) or is_attention(module)


def _attend(module: nn.Module, args: list, masks: list):
    """An attention node of a graph, with the token masks of its query and keys/values."""
    if isinstance(module, MultiHeadAttention) and len(args) == 2:
        return module(*args, mask=masks[0], context_mask=masks[1])
    return module(args[0], mask=masks[0])
