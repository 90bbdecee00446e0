"""Trains a small model into a run directory, optionally dying mid-write; run by test_rundir.py.

python kill_script.py RUN_DIR OUT_FILE [--resume] [--die-at-write N] [--slow SECONDS_PER_BATCH]

`--die-at-write N` SIGKILLs this process at the N-th rename of brickwork's atomic writer,
after the temp file is written and before it replaces the target: the worst moment.
"""

import os
import signal
import sys
import time

import torch
from safetensors.torch import save_file
from torch import nn

from brickwork.train import Callback
from brickwork.train.run import fit_run


class Slow(Callback):
    def __init__(self, seconds: float):
        self.seconds = seconds

    def on_batch_end(self, batch, logs):
        time.sleep(self.seconds)


def die_at_write(n: int) -> None:
    real, count = os.replace, [0]

    def replace(src, dst):
        count[0] += 1
        if count[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(src, dst)

    os.replace = replace


def main(run_dir: str, out: str, resume: bool, slow: float) -> None:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(320, 8, generator=g)
    y = (x[:, :3].sum(1) > 0).long()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 2))
    fit_run(
        model,
        x[:256],
        y[:256],
        validation_data=(x[256:], y[256:]),
        epochs=6,
        batch_size=32,
        deterministic=True,
        device="cpu",
        verbose=0,
        lr=0.05,
        callbacks=[Slow(slow)],
        run_dir=run_dir,
        resume=resume,
    )
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out)


if __name__ == "__main__":
    args = sys.argv[1:]
    if "--die-at-write" in args:
        die_at_write(int(args[args.index("--die-at-write") + 1]))
    slow = float(args[args.index("--slow") + 1]) if "--slow" in args else 0.0
    main(args[0], args[1], "--resume" in args, slow)
