"""Padded classification batches: padding (id 0, mask_zero) never changes a sequence's result.

PyTorch is the oracle: each sequence alone, unpadded, through nn.LSTM/GRU/RNN with the
same weights gives the same output as the padded batch through the brickwork model.
"""

import pytest
import torch

from brickwork.layers.recurrent import _Sequence
from brickwork.models import Sequential
from brickwork.train import evaluate

VOCAB = 20


def classifier(kind, bidirectional, stacked):
    torch.manual_seed(0)
    layers = [{"type": "embedding", "input_dim": VOCAB, "output_dim": 6, "mask_zero": True}]
    if stacked:
        layers.append(
            {"type": kind, "units": 7, "return_sequences": True, "bidirectional": bidirectional}
        )
    layers += [
        {"type": kind, "units": 5, "num_layers": 2, "bidirectional": bidirectional},
        {"type": "dense", "units": 3},
    ]
    return Sequential(layers, input_shape=[None]).eval()


def padded(seqs, width):
    x = torch.zeros(len(seqs), width, dtype=torch.long)
    for i, s in enumerate(seqs):
        x[i, : len(s)] = torch.tensor(s)
    return x


def reference(model, seq):
    """One unpadded sequence through the same torch modules, no lengths involved."""
    x = torch.tensor([seq])
    for _, module, _, role in model._plan:
        if role == "rnn":
            out, state = super(_Sequence, module).forward(x)  # plain nn.LSTM/GRU/RNN
            if module.return_sequences:
                x = out
            else:
                h = state[0] if isinstance(state, tuple) else state
                x = torch.cat(list(h[-(2 if module.bidirectional else 1) :]), dim=-1)
        else:
            x = module(x)
    return x[0]


SEQS = [[3, 4, 5], [7, 8, 9, 10, 11, 12, 13], [2], [5, 6, 7, 8, 9]]


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("stacked", [False, True])
def test_padding_does_not_change_the_output(kind, bidirectional, stacked):
    model = classifier(kind, bidirectional, stacked)
    with torch.no_grad():
        short, long = model(padded(SEQS, 7)), model(padded(SEQS, 30))
        expected = torch.stack([reference(model, s) for s in SEQS])
    assert torch.allclose(short, expected, atol=1e-5)
    assert torch.allclose(long, expected, atol=1e-5)


def test_trainer_metrics_ignore_padding():
    model = classifier("lstm", True, True)
    y = torch.tensor([0, 1, 2, 1])
    a = evaluate(model, padded(SEQS, 7), y, batch_size=3)
    b = evaluate(model, padded(SEQS, 40), y, batch_size=2)
    assert a["loss"] == pytest.approx(b["loss"], abs=1e-6) and a["accuracy"] == b["accuracy"]
