"""Notebook support: detect a Jupyter kernel, redraw the learning curves in place each epoch, and
HTML views of a History and an evaluation.

Figures are standalone matplotlib Figures (`brickwork.figures`), shown through
`IPython.display`: the user's matplotlib backend and pyplot state are never touched.
"""

from __future__ import annotations

import base64
import html
import importlib.util
import sys

from brickwork.errors import BrickworkError
from brickwork.figures import png_bytes, subplots
from brickwork.train.callbacks import Callback


def in_notebook() -> bool:
    """True inside a Jupyter kernel (ZMQInteractiveShell) or Google Colab, never in a terminal
    IPython, a script or CI's pytest."""
    if "google.colab" in sys.modules:
        return True
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def wants_live_plot(setting: str | bool, verbose: int = 1) -> bool:
    """The `live_plot` option: 'auto' means on in a notebook unless `verbose` is 0 (so silent
    fits, e.g. tuning trials, draw nothing); `true` draws always and needs IPython."""
    if setting == "auto":
        return bool(verbose) and in_notebook()
    if setting and importlib.util.find_spec("IPython") is None:
        raise BrickworkError(
            "train.live_plot is true, but IPython is not installed: the live curves are drawn "
            "in a Jupyter notebook; install jupyter (or ipykernel), or set live_plot: auto."
        )
    return bool(setting)


def curves_figure(history: dict[str, list[float]]):
    """One panel per metric (loss first): training and validation curves against the epoch."""
    names = [k for k in history if not k.startswith("val_") and k != "lr"] or ["loss"]
    fig, axes = subplots(1, len(names), figsize=(4 * len(names), 3), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        for key, label in ((name, "train"), (f"val_{name}", "validation")):
            values = history.get(key, [])
            if values:
                ax.plot(range(1, len(values) + 1), values, marker="o", label=label)
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
    fig.tight_layout()
    return fig


def png_img(fig) -> str:
    """An <img> tag holding the figure as base64 PNG (self-contained HTML)."""
    data = base64.b64encode(png_bytes(fig)).decode("ascii")
    return f'<img src="data:image/png;base64,{data}"/>'


class LiveCurves(Callback):
    """Redraws the loss and metric curves in one notebook output after every epoch.

    `fit` adds it by default in a notebook (`live_plot: auto`); `live_plot: true` forces it,
    and outside a notebook IPython then prints the image's text form once per epoch.
    """

    main_process_only = True

    def __init__(self):
        self.handle = None

    def on_train_begin(self, logs):
        self.handle = None

    def on_epoch_end(self, epoch, logs):
        from IPython.display import Image, display

        image = Image(data=png_bytes(curves_figure(self.trainer.history.history)), format="png")
        if self.handle is None:
            self.handle = display(image, display_id=True)
        else:
            self.handle.update(image)


def history_html(history: dict[str, list[float]], epochs: list[int]) -> str:
    """A History as HTML: its curves and the last epoch's values."""
    if not epochs:
        return "<p>History: no epochs yet</p>"
    last = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v[-1]:.4g}</td></tr>" for k, v in history.items() if v
    )
    return (
        f"<p>History: {len(epochs)} epochs</p>{png_img(curves_figure(history))}"
        f"<table><tr><th>metric</th><th>last epoch</th></tr>{last}</table>"
    )


class Evaluation(dict):
    """What `evaluate` returns: a plain dict of metrics (JSON-able, `result["accuracy"]`) that a
    notebook shows as a table and, for classification, a confusion-matrix figure."""

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(str(k))}</td><td>{v:.4g}</td></tr>"
            for k, v in self.items()
            if isinstance(v, int | float)
        )
        out = f"<table><tr><th>metric</th><th>value</th></tr>{rows}</table>"
        if self.get("confusion_matrix"):
            out += png_img(_confusion_figure(self["confusion_matrix"]))
        return out


def _confusion_figure(cm: list[list[int]]):
    import numpy as np

    cm = np.asarray(cm)
    size = max(3.0, 0.35 * len(cm) + 1.5)
    fig, ax = subplots(figsize=(size, size))
    ax.imshow(cm, cmap="Blues")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(cm) <= 20:
        for (i, j), count in np.ndenumerate(cm):
            dark = count > cm.max() / 2
            ax.text(j, i, int(count), ha="center", va="center", fontsize=7,
                    color="white" if dark else "black")  # fmt: skip
    fig.tight_layout()
    return fig
