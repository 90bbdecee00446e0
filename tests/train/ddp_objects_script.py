"""Your own pieces under DDP, for test_distributed.py: `python -m torch.distributed.run
--nproc-per-node 2 ddp_objects_script.py OUT` or plainly `python ddp_objects_script.py OUT`.

The script joins the process group itself (fit never does), then trains with an SGD instance,
a OneCycleLR object, a custom two-loss step with accumulation and a torchmetrics metric when
installed. Rank 0 writes the weights and the history to OUT (.safetensors and .json).
"""

import json
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from brickwork.train import distributed, fit


def two_loss_step(batch, trainer):
    x, y = batch
    logits, size = trainer.step_model(x)
    ce = F.cross_entropy(logits, y)
    mse = F.mse_loss(size.squeeze(-1), x[:, :4].sum(1))
    return {"loss": ce + 0.1 * mse, "ce": ce, "mse": mse, "output": logits}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(12, 32), nn.Tanh())
        self.classes, self.size = nn.Linear(32, 3), nn.Linear(32, 1)

    def forward(self, x):
        h = self.body(x)
        return self.classes(h), self.size(h)


def metrics() -> list:
    try:
        from torchmetrics.classification import MulticlassAccuracy
    except ImportError:
        return ["accuracy"]
    return ["accuracy", MulticlassAccuracy(num_classes=3, average="micro")]


def main(out: str) -> None:
    distributed.init_from_env(torch.device("cpu"))
    g = torch.Generator().manual_seed(1)
    x = torch.randn(320, 12, generator=g)
    y = (x[:, :4].sum(1) > 0).long() + (x[:, 4] > 1).long()
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.2, total_steps=2 * 4)
    history = fit(
        model,
        x[:256],
        y[:256],
        validation_data=(x[256:], y[256:]),
        optimizer=opt,
        scheduler=sched,
        scheduler_interval="batch",
        train_step=two_loss_step,
        eval_step=two_loss_step,
        metrics=metrics(),
        task="classification",
        epochs=2,
        batch_size=32,
        accumulate=2,
        device="cpu",
        verbose=0,
    )
    if distributed.is_main():
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out + ".safetensors")
        with open(out + ".json", "w") as f:
            json.dump({"history": history.history, "world": distributed.world_size()}, f)


if __name__ == "__main__":
    main(sys.argv[1])
