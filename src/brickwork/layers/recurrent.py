"""RNN, LSTM and GRU layers on [steps, features] inputs (batch first).

They return the whole sequence ([steps, units * directions]) or, by default, only the final
state of the last layer ([units * directions]), as Keras's `return_sequences` does. With
`lengths` (set by an `embedding` with `mask_zero: true`), padded positions are packed away,
so padding never changes the result.
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from brickwork.layers.init import InitField, RegField, attach_regularizers, initialize
from brickwork.layers.registry import Built, LayerConfig, ShapeError, fmt, need_rank, register


class _Sequence:
    """Mixin for nn.RNN/LSTM/GRU: tensor in, tensor out, optional lengths and carried state."""

    return_sequences: bool

    def forward(self, x, lengths=None, state=None):
        if (
            lengths is not None
            and self.bidirectional
            and self.num_layers == 1
            and (torch.onnx.is_in_onnx_export() or torch.compiler.is_exporting())
        ):
            return self._forward_two_pass(x, lengths, state)
        out, _ = self.forward_with_state(x, lengths, state)
        return out

    def forward_with_state(self, x, lengths=None, state=None):
        """Also returns the final recurrent state, so generation can carry it forward."""
        if lengths is not None and not self.bidirectional:
            return self._forward_masked(x, lengths, state)
        if lengths is not None:
            packed = pack_padded_sequence(
                x, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False
            )
            seq, state = super().forward(packed, state)
            seq, _ = pad_packed_sequence(seq, batch_first=True, total_length=x.shape[1])
        else:
            seq, state = super().forward(x, state)
        if self.return_sequences:
            return seq, state
        h = state[0] if isinstance(state, tuple) else state
        dirs = 2 if self.bidirectional else 1
        return torch.cat(list(h[-dirs:]), dim=-1), state

    def _forward_masked(self, x, lengths, state):
        """One direction needs no packing: outputs before a sequence's end never see its
        padding, so read the last real step and zero the rest. Same result as packing, and
        it exports to ONNX."""
        seq, state = super().forward(x, state)
        last = (lengths.clamp(min=1) - 1).view(-1, 1, 1).expand(-1, 1, seq.shape[-1])
        if not self.return_sequences:
            return seq.gather(1, last).squeeze(1), state
        steps = torch.arange(seq.shape[1], device=seq.device)
        return seq * (steps[None, :] < lengths[:, None]).unsqueeze(-1).to(seq.dtype), state

    def _forward_two_pass(self, x, lengths, state):
        """Packing without packing, for ONNX (which cannot export packed sequences): the
        forward direction reads the right-padded input, the backward direction the same
        sequences shifted to the right edge, so each starts on real tokens. Same outputs as
        packing for one bidirectional layer, at twice the work, so only used in export (ONNX
        and torch.export, which cannot trace packing's data-dependent lengths either)."""
        steps, units = x.shape[1], self.hidden_size
        lengths = lengths.clamp(min=1)
        pad = (steps - lengths).view(-1, 1)
        t = torch.arange(steps, device=x.device).view(1, -1)
        shifted = x.gather(1, (t - pad).clamp(min=0).unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        forward_seq = super().forward(x, state)[0][..., :units]
        backward_seq = super().forward(shifted, state)[0][..., units:]
        if not self.return_sequences:
            last = (lengths - 1).view(-1, 1, 1).expand(-1, 1, units)
            first = pad.view(-1, 1, 1).expand(-1, 1, units)
            return torch.cat(
                [forward_seq.gather(1, last), backward_seq.gather(1, first)], -1
            ).squeeze(1)
        backward_seq = backward_seq.gather(
            1, (t + pad).clamp(max=steps - 1).unsqueeze(-1).expand(-1, -1, units)
        )
        mask = (t < lengths.view(-1, 1)).unsqueeze(-1).to(x.dtype)
        return torch.cat([forward_seq, backward_seq], -1) * mask

    def extra_repr(self):
        return super().extra_repr() + f", return_sequences={self.return_sequences}"


class RNN(_Sequence, nn.RNN):
    pass


class LSTM(_Sequence, nn.LSTM):
    pass


class GRU(_Sequence, nn.GRU):
    pass


class RecurrentConfig(LayerConfig):
    units: int = Field(gt=0)
    num_layers: int = Field(1, gt=0)
    bidirectional: bool = False
    return_sequences: bool = False
    dropout: float = Field(0.0, ge=0, lt=1, description="between stacked layers")
    use_bias: bool = True
    kernel_initializer: InitField = None
    recurrent_initializer: InitField = None
    bias_initializer: InitField = None
    kernel_regularizer: RegField = None
    recurrent_regularizer: RegField = None
    bias_regularizer: RegField = None


def _recurrent(cfg: RecurrentConfig, shape, cls, gates: int):
    need_rank(
        shape,
        (2,),
        "a [steps, features] sequence",
        "add `embedding` before it for token ids, or `reshape` for a flat input",
    )
    if shape[-1] is None:
        raise ShapeError(f"needs a known feature size but receives {fmt(shape)}")
    if cfg.dropout and cfg.num_layers == 1:
        raise ShapeError(
            "dropout applies between stacked layers, so it needs num_layers >= 2; add a `dropout` "
            "layer after it instead"
        )
    module = cls(
        shape[-1],
        cfg.units,
        num_layers=cfg.num_layers,
        bias=cfg.use_bias,
        batch_first=True,
        dropout=cfg.dropout,
        bidirectional=cfg.bidirectional,
    )
    module.return_sequences = cfg.return_sequences
    fields = {
        "weight_ih": "kernel_initializer",
        "weight_hh": "recurrent_initializer",
        "bias_ih": "bias_initializer",
        "bias_hh": "bias_initializer",
    }
    for name, param in module.named_parameters():
        field = fields[name.split("_l")[0]]
        initialize(param, getattr(cfg, field), field)
    attach_regularizers(
        module,
        weight_ih=cfg.kernel_regularizer,
        weight_hh=cfg.recurrent_regularizer,
        bias=cfg.bias_regularizer,
    )
    dirs = 2 if cfg.bidirectional else 1
    width = cfg.units * dirs
    out = (shape[0], width) if cfg.return_sequences else (width,)
    steps = shape[0] or 1
    macs, in_size = 0, shape[-1]
    for _ in range(cfg.num_layers):
        macs += dirs * steps * gates * cfg.units * (in_size + cfg.units)
        in_size = width
    return Built(module, out, macs)


@register("rnn", RecurrentConfig, positional=["units"], aliases=["simplernn"])
def rnn(cfg, shape):
    """A plain (Elman, tanh) recurrent layer, for teaching."""
    return _recurrent(cfg, shape, RNN, 1)


@register("lstm", RecurrentConfig, positional=["units"])
def lstm(cfg, shape):
    return _recurrent(cfg, shape, LSTM, 4)


@register("gru", RecurrentConfig, positional=["units"])
def gru(cfg, shape):
    return _recurrent(cfg, shape, GRU, 3)
