"""Live progress: a rich bar per epoch (verbose=1), one line per epoch (2) or silence (0).

In a Jupyter notebook the bar is an HTML bar redrawn in place in the cell's output (rich's own
Jupyter display would need ipywidgets); elsewhere without a terminal, one line per epoch.

The bar refreshes at most twice a second; only then does it read the running loss and
metrics from the device, so display costs no per-step synchronization.
"""

from __future__ import annotations

import html
import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from brickwork.train.callbacks import Callback
from brickwork.train.live import in_notebook
from brickwork.train.utilization import epoch_text

REFRESH_S = 0.5


def rate_text(metrics, seconds: float) -> str:
    """'1,234 samples/s', or tokens/s for a language model (its metrics average over tokens)."""
    unit = "tokens" if metrics.tokens else "samples"
    return f"{metrics.count / max(seconds, 1e-9):,.0f} {unit}/s"


def format_logs(logs: dict, skip: tuple = ("lr",)) -> str:
    return "  ".join(f"{k} {v:.4g}" for k, v in logs.items() if k not in skip)


class ProgressBar(Callback):
    """Keras-style progress: `verbose` 1 draws a bar (a line per epoch when not on a terminal), 2 a
    line per epoch.
    """

    main_process_only = True

    def __init__(self, verbose: int = 1, console: Console | None = None):
        self.verbose = verbose
        self.console = console or Console()
        self.progress = None
        self.notebook = None  # the display handle of this epoch's notebook bar

    def on_epoch_begin(self, epoch, logs):
        self.start = self.last = time.perf_counter()
        if self.verbose == 1 and in_notebook():
            from IPython.display import HTML, display

            self.notebook = display(HTML(self._html(epoch, 0, {}, "")), display_id=True)
            return
        if (
            self.verbose != 1 or not self.console.is_terminal
        ):  # logs to a file get one line per epoch
            return
        self.progress = Progress(
            TextColumn(f"epoch {epoch + 1}/{self.trainer.epochs}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TextColumn("{task.fields[speed]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            auto_refresh=False,
        )
        self.progress.start()
        self.task = self.progress.add_task(
            "train", total=self.trainer.steps_per_epoch, stats="", speed=""
        )

    def on_batch_end(self, batch, logs):
        if self.progress is None and self.notebook is None:
            return
        now = time.perf_counter()
        if now - self.last >= REFRESH_S:
            self.last = now
            self._update(batch + 1, self.trainer.train_metrics.compute(), now)

    def _update(self, done: int, logs: dict, now: float, flops: str = "") -> None:
        rate = rate_text(self.trainer.train_metrics, now - self.start)
        if self.notebook is not None:
            from IPython.display import HTML

            self.notebook.update(HTML(self._html(self.trainer.epoch, done, logs, rate)))
            return
        self.progress.update(
            self.task,
            completed=done,
            stats=format_logs(logs),
            speed=rate + (f", {flops}" if flops else ""),
            refresh=True,
        )

    def on_epoch_end(self, epoch, logs):
        now = time.perf_counter()
        if self.progress is not None:
            self._update(self.trainer.batches_seen, logs, now, epoch_text(self.trainer))
            self.progress.stop()
            self.progress = None
        elif self.notebook is not None:
            self._update(self.trainer.batches_seen, logs, now)
            self.notebook = None
        else:
            rate = rate_text(self.trainer.train_metrics, now - self.start)
            flops = epoch_text(self.trainer)
            self.console.print(
                f"epoch {epoch + 1}/{self.trainer.epochs}  {format_logs(logs)}  "
                f"({now - self.start:.1f}s, "
                f"{rate}{', ' + flops if flops else ''})",
                highlight=False,
                soft_wrap=True,
            )

    def _html(self, epoch: int, done: int, logs: dict, rate: str) -> str:
        """The notebook bar: epoch, an HTML <progress>, steps done, the running stats, speed."""
        total = self.trainer.steps_per_epoch or max(done, 1)
        return (
            f"<code>epoch {epoch + 1}/{self.trainer.epochs} "
            f'<progress value="{done}" max="{total}" style="width:30ex"></progress> '
            f"{done}/{total}  {html.escape(format_logs(logs))}  {rate}</code>"
        )
