"""The unpacked two-pass path that lets a bidirectional masked layer export (ONNX, pt2)
equals packing.
"""

import pytest
import torch

from brickwork.export.formats import quiet_capture
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


@pytest.mark.parametrize("cls", [GRU, LSTM])
def test_torch_export_takes_the_two_pass_path(cls):
    """torch.export cannot trace packing's data-dependent lengths: while exporting, the layer
    runs the two-pass form, and the captured program equals the packed eager layer."""
    torch.manual_seed(0)
    layer = cls(5, 4, batch_first=True, bidirectional=True).eval()
    layer.return_sequences = False
    x, lengths = torch.randn(4, 9, 5), torch.tensor([9, 4, 1, 6])
    with quiet_capture():  # torch's own note on nn.RNN's weight cache
        program = torch.export.export(layer, (x, lengths)).module()
    torch.testing.assert_close(program(x, lengths), layer(x, lengths), atol=1e-6, rtol=0)
