"""Figures of A2-A6 (each returns a matplotlib Figure; data come from core.analysis.latent)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from core.plots import DIGIT_COLORS, PAGE_WIDTH_IN, image_rows, latent_grid, latent_scatter


def scatter(z, labels, bounds=None, title: str = "") -> plt.Figure:
    """A2: test latents coloured by digit; `bounds` (the A5 grid region) drawn as a dashed box."""
    fig, ax = plt.subplots(figsize=(6.4, 5.4))
    latent_scatter(z, labels, ax=ax, title=title)
    if bounds is not None:
        x_min, x_max, y_min, y_max = bounds
        ax.add_patch(Rectangle((x_min, y_min), x_max - x_min, y_max - y_min, fill=False, ls="--",
                               lw=1, color="0.3", label="A5 grid region"))
    fig.tight_layout()
    return fig


def axis_zoom(z, labels, width: float = 0.4) -> plt.Figure:
    """A2(c): the strips next to each axis, where ReLU zeros pile up, as per-digit histograms of
    the other coordinate for the points lying exactly on the axis."""
    z, labels = np.asarray(z), np.asarray(labels)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.0))
    for k, ax in enumerate(axes):
        on = z[:, k] == 0
        other = z[on, 1 - k]
        bins = np.linspace(z[:, 1 - k].min(), z[:, 1 - k].max(), 30)
        stacked = [other[labels[on] == d] for d in range(10)]
        ax.hist(stacked, bins=bins, stacked=True, color=[DIGIT_COLORS(d) for d in range(10)],
                label=[str(d) for d in range(10)])
        ax.set_xlabel(f"$z_{2 - k}$ of the points with $z_{k + 1} = 0$")
        ax.set_ylabel("test images")
        ax.set_title(f"{int(on.sum())} test images on the axis $z_{k + 1} = 0$")
        if not on.any():
            ax.text(0.5, 0.5, "none", transform=ax.transAxes, ha="center", va="center", color="0.4")
    axes[1].legend(title="digit", ncol=2, loc="center left", bbox_to_anchor=(1, 0.5))
    fig.tight_layout()
    return fig


def accuracy_bars(series: dict, ylabel: str = "accuracy (%)", chance: float | None = None) -> plt.Figure:
    """Grouped bars per digit, one group member per entry of `series` ({name: [10] values})."""
    fig, ax = plt.subplots(figsize=(8, 3.4))
    width = 0.8 / len(series)
    digits = np.arange(10)
    for i, (name, values) in enumerate(series.items()):
        ax.bar(digits + (i - (len(series) - 1) / 2) * width, np.asarray(values, float), width, label=name)
    if chance is not None:
        ax.axhline(chance, color="k", ls=":", lw=1, label="chance")
    ax.set_xticks(digits)
    ax.set_xlabel("digit"), ax.set_ylabel(ylabel), ax.set_ylim(0, 100)
    ax.legend(loc="center left", bbox_to_anchor=(1, 0.5))
    fig.tight_layout()
    return fig


def confusion(cm: np.ndarray, title: str = "", normalise: bool = True) -> plt.Figure:
    """Confusion matrix (rows: true digit, columns: predicted); colour = % of the row, text = count."""
    cm = np.asarray(cm)
    share = 100 * cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(5.4, 4.6))
    im = ax.imshow(share if normalise else cm, cmap="Blues", vmin=0)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if share[i, j] > 50 else "black")
    ax.set_xticks(range(cm.shape[1])), ax.set_yticks(range(cm.shape[0]))
    ax.set_xlabel("predicted digit"), ax.set_ylabel("true digit"), ax.grid(False)
    fig.colorbar(im, ax=ax, label="% of the true digit" if normalise else "count")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def grid_beside_scatter(images, bounds, n, z, labels) -> plt.Figure:
    """A5(a): the decoded grid as one image on axes shared with the A2 scatter (same limits)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(PAGE_WIDTH_IN, 3.9), sharex=True, sharey=True)
    latent_scatter(z, labels, ax=left, title="test latents (A2)")
    left.get_legend().remove()
    latent_grid(images, bounds, n, ax=right, title=f"decoded {n}x{n} grid")
    _limit_to_grid(left, bounds, n)
    fig.tight_layout()
    return fig


def overlay(images, bounds, n, z, labels, alpha: float = 0.45) -> plt.Figure:
    """A5: the grid faded behind the scatter, on one pair of axes."""
    fig, ax = plt.subplots(figsize=(7.4, 6.6))
    latent_grid(images, bounds, n, ax=ax, alpha=alpha)
    latent_scatter(z, labels, ax=ax, s=1.5, alpha=0.35)
    _limit_to_grid(ax, bounds, n)
    fig.tight_layout()
    return fig


def _limit_to_grid(ax, bounds, n) -> None:
    """Axis limits = the grid image's extent (bounds plus half a cell), as plots.latent_grid draws it."""
    x_min, x_max, y_min, y_max = bounds
    dx, dy = (x_max - x_min) / (n - 1) / 2, (y_max - y_min) / (n - 1) / 2
    ax.set_xlim(x_min - dx, x_max + dx)
    ax.set_ylim(y_min - dy, y_max + dy)


def noise_shift(z_test, labels, z_noisy, example_idx, max_points: int = 2000) -> plt.Figure:
    """A6: where noisy images land on the A2 map. Clean test codes coloured by digit; noisy codes
    (a seeded subset) in black; arrows from each example's clean code to its noisy code."""
    z_test, z_noisy = np.asarray(z_test), np.asarray(z_noisy)
    fig, ax = plt.subplots(figsize=(6.8, 5.4))
    latent_scatter(z_test, labels, ax=ax, s=1.5, alpha=0.25)
    pick = np.random.default_rng(0).permutation(len(z_noisy))[:max_points]
    ax.scatter(z_noisy[pick, 0], z_noisy[pick, 1], s=1.5, color="k", alpha=0.35, rasterized=True,
               label="noisy")
    for d, i in enumerate(np.asarray(example_idx)):
        ax.annotate("", xy=z_noisy[i], xytext=z_test[i],
                    arrowprops=dict(arrowstyle="->", color=DIGIT_COLORS(d), lw=1.4), zorder=5)
        ax.text(*z_test[i], str(d), fontsize=8, fontweight="bold", color=DIGIT_COLORS(d))
    ax.legend(title="digit", markerscale=4, loc="center left", bbox_to_anchor=(1, 0.5))
    fig.tight_layout()
    return fig


def denoising_rows(noisy, output, clean, col_titles=None) -> plt.Figure:
    """A6: 3x10 rows noisy / AE output / clean."""
    return image_rows({"noisy": noisy, "output": output, "clean": clean}, col_titles=col_titles)
