"""Trains a small model into a run directory; run by test_resume.py in a subprocess.

python resume_script.py RUN_DIR OUT_FILE [--resume] [--slow SECONDS_PER_BATCH]
"""

import sys
import time

import torch
from safetensors.torch import save_file
from torch import nn

from brickwork.train import Callback, EarlyStopping
from brickwork.train.run import fit_run


class Slow(Callback):
    """Sleeps after each batch so the parent can kill the run in the middle of an epoch."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def on_batch_end(self, batch, logs):
        time.sleep(self.seconds)


def main(run_dir: str, out: str, resume: bool, slow: float) -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(640, 12, generator=g)
    y = (x[:, :4].sum(1) > 0).long() + (x[:, 4] > 1).long()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 3))
    fit_run(
        model,
        x[:512],
        y[:512],
        validation_data=(x[512:], y[512:]),
        epochs=4,
        batch_size=32,
        deterministic=True,
        device="cpu",
        verbose=0,
        optimizer={"type": "sgd", "momentum": 0.9},
        lr=0.05,
        schedule={"type": "cosine", "warmup_epochs": 1},
        callbacks=[Slow(slow), EarlyStopping(patience=10)],
        run_dir=run_dir,
        resume=resume,
    )
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out)


if __name__ == "__main__":
    args = sys.argv[1:]
    slow = float(args[args.index("--slow") + 1]) if "--slow" in args else 0.0
    main(args[0], args[1], "--resume" in args, slow)
