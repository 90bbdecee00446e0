"""The TensorBoard callback: scalars, histograms, the model graph and sample inputs.

Written with torch's own `SummaryWriter`, so the files are ordinary TensorBoard event files:
`tensorboard --logdir runs/NAME/tensorboard`.
"""

from __future__ import annotations

import torch

from brickwork.train.callback_base import Callback


class TensorBoard(Callback):
    """Per epoch: train/val loss and metrics, the learning rate, weight and gradient histograms.

    At the end of the first epoch it also adds, for image inputs, a grid of sample inputs and,
    with `write_graph=True`, the model graph. The graph is off by default: TensorBoard's
    `add_graph` traces with `torch.jit.trace`, which torch deprecates (its warning then shows;
    a model that cannot be traced is skipped with a note). On a resume, events after the
    resumed epoch are dropped so curves do not double back.
    """

    main_process_only = True

    def __init__(
        self,
        log_dir: str = "tensorboard",
        histogram_freq: int = 1,
        write_graph: bool = False,
        write_images: bool = True,
        max_images: int = 16,
    ):
        self.log_dir, self.histogram_freq = str(log_dir), histogram_freq
        self.write_graph, self.write_images, self.max_images = write_graph, write_images, max_images
        self.writer = None
        self.extras_done = False

    def on_train_begin(self, logs):
        from torch.utils.tensorboard import SummaryWriter

        start = self.trainer.initial_epoch
        self.writer = SummaryWriter(self.log_dir, purge_step=start + 1 if start else None)

    def on_epoch_end(self, epoch, logs):
        step = epoch + 1
        for key, value in logs.items():
            tag = (
                "lr"
                if key == "lr"
                else (f"{key[4:]}/val" if key.startswith("val_") else f"{key}/train")
            )
            self.writer.add_scalar(tag, value, step)
        if self.histogram_freq and step % self.histogram_freq == 0:
            for name, param in self.trainer.model.named_parameters():
                self._histogram(f"weights/{name}", param, step)
                if param.grad is not None:
                    self._histogram(f"gradients/{name}", param.grad, step)
        if not self.extras_done and self.trainer.example_batch is not None:
            self.extras_done = True
            self._graph_and_images(self.trainer.example_batch)
        self.writer.flush()

    def _histogram(self, tag: str, values: torch.Tensor, step: int) -> None:
        """Finite values only: a diverged run still gets its histograms, without the NaNs."""
        values = values.detach().float().cpu().flatten()
        values = values[torch.isfinite(values)]
        if values.numel():
            self.writer.add_histogram(tag, values, step)

    def _graph_and_images(self, x: torch.Tensor) -> None:
        model = self.trainer.model
        if self.write_graph:
            was_training = model.training
            model.eval()
            try:  # tracing runs the model: keep the RNG untouched so resumed runs stay exact
                with torch.random.fork_rng(devices=[]), torch.no_grad():
                    self.writer.add_graph(model, x[:2])
            except Exception as e:  # noqa: BLE001 - any tracing failure only costs the graph
                self.trainer.say(
                    "TensorBoard: the model graph was not written (tracing failed: "
                    f"{type(e).__name__}: {str(e)[:200]})."
                )
            finally:
                model.train(was_training)
        if self.write_images and x.dim() == 4 and x.shape[1] in (1, 3) and x.is_floating_point():
            images = x[: self.max_images].detach().float().cpu()
            low, high = images.amin(), images.amax()
            self.writer.add_images(
                "inputs/samples", (images - low) / (high - low).clamp_min(1e-8), 0
            )

    def on_train_end(self, logs):
        if self.writer is not None:
            self.writer.close()

    def state_dict(self):
        return {"extras_done": self.extras_done}
