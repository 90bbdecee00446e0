"""The run directory's TensorBoard events, read back with TensorBoard's own reader."""

import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

from brickwork.train.run import fit_run


def test_scalars_histograms_graph_and_images_read_back(tmp_path):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(96, 1, 8, 8, generator=g)
    y = (x.mean((1, 2, 3)) > 0.5).long()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 2))
    fit_run(
        model,
        x[:64],
        y[:64],
        validation_data=(x[64:], y[64:]),
        epochs=3,
        batch_size=16,
        verbose=0,
        run_dir=tmp_path,
    )
    acc = EventAccumulator(
        str(tmp_path / "tensorboard"), size_guidance={"histograms": 0, "scalars": 0, "images": 0}
    ).Reload()
    tags = acc.Tags()
    for tag in ("loss/train", "loss/val", "accuracy/train", "accuracy/val", "lr"):
        assert [e.step for e in acc.Scalars(tag)] == [1, 2, 3], tag
    assert acc.Scalars("loss/train")[0].value > 0
    assert "weights/0.weight" in tags["histograms"] and "gradients/3.bias" in tags["histograms"]
    assert len(acc.Histograms("weights/0.weight")) == 3
    assert tags["graph"] is False  # off by default: add_graph needs the deprecated torch.jit
    assert "inputs/samples" in tags["images"]
    for name in (
        "metrics.csv",
        "environment.json",
        "model.safetensors",
        "plots/learning_curves.png",
        "checkpoints/last.safetensors",
        "checkpoints/best.safetensors",
    ):
        assert (tmp_path / name).is_file(), name
