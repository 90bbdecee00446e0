"""BrickModel's public step API: what generation, export and serving use instead of its insides."""

import pytest
import torch
from torch import nn

from brickwork.errors import BrickworkError
from brickwork.models import Graph, Sequential


def language_model(kind="lstm", bidirectional=False):
    torch.manual_seed(0)
    return Sequential(
        [
            {"type": "embedding", "input_dim": 13, "output_dim": 6},
            {"type": kind, "units": 8, "num_layers": 2, "return_sequences": True},
            {"type": "gru", "units": 5, "return_sequences": True, "bidirectional": bidirectional},
            {"type": "dense", "units": 13, "activation": "log_softmax"},
        ],
        input_shape=[None],
    ).eval()


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_stepping_in_pieces_equals_the_whole_sequence(kind):
    model = language_model(kind)
    ids = torch.randint(1, 13, (3, 9))
    with torch.no_grad():
        whole = model(ids)
        first, state = model.step(ids[:, :4])
        pieces = [first]
        for t in range(4, 9):
            out, state = model.step(ids[:, t : t + 1], state)
            pieces.append(out)
    assert torch.allclose(torch.cat(pieces, 1), whole, atol=1e-6)
    assert len(state) == 2


def test_init_state_is_the_zero_state_step_starts_from():
    model = language_model("lstm", bidirectional=True)
    state = model.init_state(batch=3)
    h, c = state[0]
    assert h.shape == c.shape == (2, 3, 8) and not h.any()
    assert state[1].shape == (2, 3, 5)  # one bidirectional GRU layer: two directions
    ids = torch.randint(1, 13, (3, 5))
    with torch.no_grad():
        assert torch.equal(model.step(ids, state)[0], model.step(ids)[0])


def test_the_layers_tools_need_are_public():
    model = language_model()
    assert isinstance(model.embedding, nn.Embedding) and model.embedding.num_embeddings == 13
    assert isinstance(model.output_layer, nn.LogSoftmax)
    assert list(model.recurrent_layers) == ["lstm_1", "gru_1"] and model.is_chain
    assert model.input_dtype == torch.long and model.output_shape == [None, 13]
    plain = Sequential([{"type": "dense", "units": 2}], input_shape=[3])
    assert plain.embedding is None and plain.recurrent_layers == {} and plain.init_state() == []


def test_step_refuses_graphs_and_a_state_of_another_model():
    graph = Graph(
        [{"type": "dense", "units": 4, "name": "a"}, {"type": "add", "inputs": ["a", "x"]}],
        inputs={"x": [4]},
    )
    assert not graph.is_chain and graph.output_shape == [4]
    with pytest.raises(BrickworkError, match="graph"):
        graph.step(torch.randn(1, 4))
    model = language_model()
    with pytest.raises(BrickworkError, match="1 state"):
        model.step(torch.ones(1, 2, dtype=torch.long), [None])
