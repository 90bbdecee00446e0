"""Matplotlib figures without pyplot: plots never touch the user's backend or global state.

A `Figure` made here belongs to no pyplot window manager, so a notebook's inline backend and
a desktop's GUI backend are left exactly as the user set them, and nothing needs closing.

    fig, axes = subplots(1, 2, figsize=(8, 3))
    atomic_write("curves.png", png_bytes(fig))
"""

from __future__ import annotations

import io


def subplots(nrows: int = 1, ncols: int = 1, *, figsize=None, squeeze: bool = True):
    """(figure, axes) like `pyplot.subplots`, on a standalone `matplotlib.figure.Figure`."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, squeeze=squeeze)


def png_bytes(fig, dpi: int = 100, **savefig) -> bytes:
    """The figure rendered as PNG bytes (matplotlib's Agg canvas, whatever the backend)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format=savefig.pop("format", "png"), dpi=dpi, **savefig)
    return buffer.getvalue()
