"""Trains a small image model with shuffle, augmentation, dropout and accumulate: 2 into a run
directory, checkpointing every optimizer step; run by test_step_resume.py in a subprocess.

python step_resume_script.py RUN_DIR OUT_FILE [--resume] [--slow SECONDS_PER_BATCH]
"""

import sys
import time

import torch
from safetensors.torch import save_file
from torch import nn

from brickwork.data import InMemoryLoader
from brickwork.data.augment import Augment
from brickwork.train import Callback
from brickwork.train.run import fit_run


class Slow(Callback):
    """Sleeps after each batch so the parent can kill the run between two batches."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def on_batch_end(self, batch, logs):
        time.sleep(self.seconds)


def data():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(120, 1, 8, 8, generator=g)
    y = (x[:, :, :, :4].mean((1, 2, 3)) > 0).long()
    return x, y


def model():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.Dropout(0.3),
        nn.Flatten(),
        nn.Linear(256, 2),
    )


def main(run_dir: str, out: str, resume: bool, slow: float) -> None:
    x, y = data()
    train = InMemoryLoader(
        x[:96], y[:96], 8, shuffle=True, seed=5, augment=Augment(crop_padding=2, hflip=True)
    )
    net = model()
    fit_run(
        net,
        train,
        validation_data=(x[96:], y[96:]),
        epochs=3,
        deterministic=True,
        device="cpu",
        verbose=0,
        optimizer={"type": "adamw"},
        lr=0.01,
        schedule={"type": "cosine", "warmup_epochs": 1},
        accumulate=2,
        checkpoint_every_steps=1,
        callbacks=[Slow(slow)],
        run_dir=run_dir,
        resume=resume,
    )
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, out)


if __name__ == "__main__":
    args = sys.argv[1:]
    slow = float(args[args.index("--slow") + 1]) if "--slow" in args else 0.0
    main(args[0], args[1], "--resume" in args, slow)
