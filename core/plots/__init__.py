"""Figures of the report and the demo: matplotlib, one function per figure, each returns a Figure.

`style()` sets the one look every chapter shares (called by `core.report.setup()`, which is every
chapter's hidden first cell).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

DIGIT_COLORS = plt.get_cmap("tab10")
# Font size (pt) of the value ranges written under auto-scaled images.
RANGE_LABEL_SIZE = 9
# The width (px) of the site's text column: a wider figure is shrunk to it on the page. Every
# figure's smallest text must still measure MIN_TEXT_PT there (tests/test_report.py checks).
COLUMN_PX = 776
MIN_TEXT_PT = 7.0
# The widest figure (inches) that the column shows at (nearly) full size at the report's 110 dpi:
# figures with several panels share this width instead of growing with the number of panels.
PAGE_WIDTH_IN = 7.6


def text_on_page(fig: plt.Figure, column_px: int = COLUMN_PX) -> float:
    """The size (pt) of the figure's smallest text as the page shows it: saved with a tight
    bounding box (as Jupyter's inline backend saves it) and shrunk to the column when wider."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    canvas = FigureCanvasAgg(fig)  # a figure already shown and closed has lost its renderer
    canvas.draw()
    pad = plt.rcParams["savefig.pad_inches"]
    width_px = (fig.get_tightbbox(canvas.get_renderer()).width + 2 * pad) * fig.dpi
    shrink = min(1.0, column_px / width_px)
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return float(min(sizes) * shrink) if sizes else float("inf")


def style() -> None:
    plt.rcParams.update({
        "figure.dpi": 110, "savefig.dpi": 110, "font.size": 10, "axes.titlesize": 10,
        "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3,
        "image.cmap": "gray", "legend.frameon": False,
    })


def _to_numpy_images(x, clip: bool = True) -> np.ndarray:
    """[N,1,H,W] / [N,3,H,W] / [N,H,W] tensor or array -> [N,H,W] or [N,H,W,3] numpy."""
    x = x.detach().float().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=float)
    if x.ndim == 4:
        x = x[:, 0] if x.shape[1] == 1 else x.transpose(0, 2, 3, 1)
    return np.clip(x, 0, 1) if clip else x


def image_rows(rows: dict, col_titles=None, scale: float = 1.0, autoscale: bool = False) -> plt.Figure:
    """One row of images per entry of `rows` ({row label: [N,...] images}), N columns.

    autoscale: min-max scale every image on its own (so values outside [0, 1], like PCA's,
    become visible) and write its value range under it (minimum above maximum)."""
    rows = {k: _to_numpy_images(v, clip=not autoscale) for k, v in rows.items()}
    n = max(len(v) for v in rows.values())
    # The range under an image takes two lines ("min", "max") in the body's font size, so it stays
    # readable when the figure is shrunk to the page's column; each row gets room for it.
    label_height = 0.4 if autoscale else 0.0
    # Inches per image: a row of ten fits the page's column instead of being shrunk (and its text with it).
    side = min(scale * 0.9, (PAGE_WIDTH_IN - 1) / n)
    fig, axes = plt.subplots(len(rows), n, squeeze=False,
                             figsize=(side * n + 1, (side * 0.95 / 0.9 + label_height) * len(rows)))
    for r, (label, images) in enumerate(rows.items()):
        for c in range(n):
            ax = axes[r, c]
            ax.set_xticks([]), ax.set_yticks([]), ax.grid(False)
            for side in ax.spines.values():
                side.set_visible(False)
            if c < len(images):
                img = images[c]
                lo, hi = (img.min(), img.max()) if autoscale else (0, 1)
                ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=lo, vmax=hi)
                if autoscale:
                    ax.set_xlabel(f"{lo:.2f}\n{hi:.2f}", fontsize=RANGE_LABEL_SIZE, linespacing=1.0,
                                  labelpad=2)
            if c == 0:
                ax.set_ylabel(label, rotation=0, ha="right", va="center")
            if r == 0 and col_titles is not None:
                ax.set_title(str(col_titles[c]))
    fig.tight_layout(pad=0.3)
    return fig


def loss_curves(history: dict, keys=("loss",), title: str = "", log: bool = False) -> plt.Figure:
    """Per-epoch train and test curves from a checkpoint's history, one panel per key."""
    fig, axes = plt.subplots(1, len(keys), figsize=(min(4.2 * len(keys), PAGE_WIDTH_IN), 3.2), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for split, ls in (("train", "-"), ("test", "--")):
            values = history[split].get(key)
            if values:
                ax.plot(range(1, len(values) + 1), values, ls, marker="o", ms=3, label=split)
        ax.set_xlabel("epoch"), ax.set_ylabel(key)
        if log:
            ax.set_yscale("log")
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def latent_scatter(z, labels, ax=None, s: float = 2, alpha: float = 0.6, title: str = ""):
    """2-D latents coloured by digit with a legend; returns the Figure (draws on `ax` if given)."""
    z = z.detach().cpu().numpy() if isinstance(z, torch.Tensor) else np.asarray(z)
    labels = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6, 5.5))
    for d in range(10):
        pts = z[labels == d]
        ax.scatter(pts[:, 0], pts[:, 1], s=s, alpha=alpha, color=DIGIT_COLORS(d), label=str(d),
                   rasterized=True)
    ax.set_xlabel("$z_1$"), ax.set_ylabel("$z_2$")
    ax.legend(title="digit", markerscale=4, loc="center left", bbox_to_anchor=(1, 0.5))
    if title:
        ax.set_title(title)
    return fig


def latent_grid(images, bounds, n: int = 15, ax=None, alpha: float = 1.0, title: str = ""):
    """Decoded grid tiles (from `analysis.decode_grid`) as ONE image lying exactly over the latent
    axes: tile centres sit on the grid points, so a scatter drawn on the same axes lines up.

    The grid's first row is its top (largest z_2); imshow's origin="upper" keeps it there.
    """
    tiles = _to_numpy_images(images)  # [n*n, H, W]
    h, w = tiles.shape[1:3]
    mosaic = tiles.reshape(n, n, h, w).transpose(0, 2, 1, 3).reshape(n * h, n * w)
    x_min, x_max, y_min, y_max = bounds
    # Pad half a cell on every side so tile centres, not tile edges, sit on the bounds.
    dx, dy = (x_max - x_min) / (n - 1) / 2, (y_max - y_min) / (n - 1) / 2
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6.5, 6.5))
    ax.imshow(mosaic, cmap="gray_r", vmin=0, vmax=1, alpha=alpha, origin="upper", aspect="auto",
              extent=(x_min - dx, x_max + dx, y_min - dy, y_max + dy))
    ax.set_xlabel("$z_1$"), ax.set_ylabel("$z_2$"), ax.grid(False)
    if title:
        ax.set_title(title)
    return fig
