"""A Lightning-style run with the user's own pieces, for test_objects_resume.py (a subprocess).

python objects_resume_script.py RUN_DIR OUT_FILE [--stop-after EPOCHS] [--resume]

The pieces: a custom loss module, an SGD instance with a OneCycleLR object stepped per batch,
a torchmetrics metric (when installed), and a custom two-loss train_step.
"""

import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from brickwork.train import Callback
from brickwork.train.run import fit_run

EPOCHS, BATCHES = 4, 8  # 256 samples / 32


class SmoothedCE(nn.Module):
    """The user's own loss module."""

    def __init__(self, smoothing: float):
        super().__init__()
        self.smoothing = smoothing

    def forward(self, out, target):
        return F.cross_entropy(out, target, label_smoothing=self.smoothing)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Dropout(0.3))
        self.classes, self.size = nn.Linear(32, 3), nn.Linear(32, 1)

    def forward(self, x):
        h = self.body(x)
        return self.classes(h), self.size(h)


def two_loss_step(batch, trainer):
    x, y = batch
    logits, size = trainer.step_model(x)
    ce = trainer.loss_fn(logits, y)
    mse = F.mse_loss(size.squeeze(-1), x[:, :4].sum(1))
    return {"loss": ce + 0.1 * mse, "ce": ce, "mse": mse, "output": logits}


class StopAfter(Callback):
    """Ends the first process after some epochs, as a kill between epochs would."""

    def __init__(self, epochs: int):
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs):
        if epoch + 1 == self.epochs:
            self.trainer.stop_training = True


def metrics() -> list:
    try:
        from torchmetrics.classification import MulticlassAccuracy
    except ImportError:
        return ["accuracy"]
    return ["accuracy", MulticlassAccuracy(num_classes=3, average="micro")]


def main(run_dir: str, out: str, stop_after: int | None, resume: bool) -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(320, 12, generator=g)
    y = (x[:, :4].sum(1) > 0).long() + (x[:, 4] > 1).long()
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.2, total_steps=EPOCHS * BATCHES // 2)
    fit_run(
        model,
        x[:256],
        y[:256],
        run_dir=run_dir,
        resume=resume,
        validation_data=(x[256:], y[256:]),
        loss=SmoothedCE(0.1),
        task="classification",
        optimizer=opt,
        scheduler=sched,
        scheduler_interval="batch",
        metrics=metrics(),
        train_step=two_loss_step,
        eval_step=two_loss_step,
        callbacks=[StopAfter(stop_after)] if stop_after else [],
        epochs=EPOCHS,
        batch_size=32,
        accumulate=2,
        deterministic=True,
        device="cpu",
        verbose=0,
    )
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out)


if __name__ == "__main__":
    args = sys.argv[1:]
    stop = int(args[args.index("--stop-after") + 1]) if "--stop-after" in args else None
    main(args[0], args[1], stop, "--resume" in args)
