"""The unpacked two-pass path that lets a bidirectional masked layer export to ONNX equals
packing.
"""

import pytest
import torch

from brickwork.layers.recurrent import GRU, LSTM, RNN


@pytest.mark.parametrize("cls", [RNN, GRU, LSTM])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_two_pass_equals_packed_sequences(cls, return_sequences):
    torch.manual_seed(0)
    layer = cls(5, 4, batch_first=True, bidirectional=True)
    layer.return_sequences = return_sequences
    x, lengths = torch.randn(4, 9, 5), torch.tensor([9, 4, 1, 6])
    packed = layer(x, lengths)  # eager: pack_padded_sequence
    two_pass = layer._forward_two_pass(x, lengths, None)
    assert two_pass.shape == packed.shape
    torch.testing.assert_close(two_pass, packed, atol=1e-6, rtol=0)
