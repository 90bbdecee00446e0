"""Summary counts equal PyTorch's and hand-computed MACs."""

from brickwork.models import Sequential, summary


def test_counts_equal_pytorch_and_macs_equal_hand_computation():
    model = Sequential(
        [
            {"type": "conv2d", "filters": 8, "kernel_size": 3, "padding": 1},  # 1->8, 28x28 out
            {"type": "maxpool2d", "pool_size": 2},
            {
                "type": "conv2d",
                "filters": 4,
                "kernel_size": 5,
                "groups": 4,
            },  # 8->4, 14-4=10 out, 2 in-ch per group
            "flatten",
            {"type": "dense", "units": 10, "trainable": False},
        ],
        input_shape=[1, 28, 28],
    )
    data = summary(model)
    assert data["total_params"] == sum(p.numel() for p in model.parameters())
    assert data["frozen_params"] == 4 * 10 * 10 * 10 + 10
    macs = {r["name"]: r["macs"] for r in data["layers"]}
    assert macs["conv2d_1"] == 28 * 28 * 8 * 1 * 9
    assert macs["conv2d_2"] == 10 * 10 * 4 * 2 * 25
    assert macs["dense_1"] == 400 * 10
    assert data["total_macs"] == sum(macs.values())
    assert data["param_bytes"] == 4 * data["total_params"]


def test_print_summary_shows_totals(capsys):
    from rich.console import Console

    from brickwork.models import print_summary

    model = Sequential([{"type": "dense", "units": 3}], input_shape=[4])
    print_summary(model, Console(width=120, force_terminal=False))
    out = capsys.readouterr().out
    assert "Total params: 15" in out and "dense_1" in out
