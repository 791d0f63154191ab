"""B1-B6 figures (each function returns a matplotlib Figure)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from core.plots import PAGE_WIDTH_IN, image_rows


def _np(x) -> np.ndarray:
    return x.detach().float().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=float)


def _blank(ax):
    ax.set_xticks([]), ax.set_yticks([]), ax.grid(False)
    for side in ax.spines.values():
        side.set_visible(False)


def pca_curve(ks, mse, marks: dict, reference: dict | None = None) -> plt.Figure:
    """PCA test MSE vs number of components, each AE drawn as a point at (code size, its MSE)
    and a dotted level line: where the line meets the curve is the PCA size that matches it."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    ax.plot(ks, mse, color="k", label="PCA, k components")
    for i, (name, (size, value)) in enumerate(marks.items()):
        color = plt.get_cmap("tab10")(i)
        ax.axhline(value, color=color, ls=":", lw=1)
        ax.plot([size], [value], "o", color=color, label=f"{name} ({size} hidden)")
    for label, (size, value) in (reference or {}).items():
        ax.plot([size], [value], "x", color="grey", ms=8, label=label)
    ax.set_yscale("log"), ax.set_xlabel("components / hidden units"), ax.set_ylabel("test MSE")
    ax.set_xlim(0, max(max(ks), *(s for s, _ in marks.values())) + 5)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def scaled_rows(rows: dict, col_titles=None) -> plt.Figure:
    """plots.image_rows with every image min-max scaled on its own (PCA outputs leave [0, 1])."""
    return image_rows({k: _np(v).reshape(len(v), 28, 28) for k, v in rows.items()}, col_titles,
                      autoscale=True)


def mosaic_rows(rows: dict, col_titles=None, gap: int = 2) -> plt.Figure:
    """Many rows of [n,1,28,28] images in [0, 1], each row drawn as ONE image (fast for big
    figures: one axes per row instead of one per image)."""
    rows = {k: np.clip(_np(v).reshape(len(v), 28, 28), 0, 1) for k, v in rows.items()}
    n = max(len(v) for v in rows.values())
    side = min(0.75, (PAGE_WIDTH_IN - 1.2) / n)  # inches per image: the row fits the page's column
    width, height = side * n + 1.2, (side + 0.03) * len(rows) + 0.35
    fig, axes = plt.subplots(len(rows), 1, figsize=(width, height), squeeze=False)
    # Fixed margins (not tight_layout): the row labels need ~1.1 inch on the left.
    fig.subplots_adjust(left=1.1 / width, right=0.99, top=1 - 0.3 / height, bottom=0.02, hspace=0.08)
    for r, (label, images) in enumerate(rows.items()):
        strip = np.ones((28, n * (28 + gap) - gap))
        for c, img in enumerate(images):
            strip[:, c * (28 + gap): c * (28 + gap) + 28] = img
        ax = axes[r, 0]
        ax.imshow(strip, cmap="gray", vmin=0, vmax=1)
        _blank(ax)
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
        if r == 0 and col_titles is not None:
            ax.set_xticks([c * (28 + gap) + 14 for c in range(n)], [str(t) for t in col_titles])
            ax.xaxis.set_ticks_position("top"), ax.tick_params(length=0)
    return fig


def filter_rows(rows: dict, col_titles: dict | None = None) -> plt.Figure:
    """Weight images [n,h,w] per row label, each on a symmetric blue-white-red scale around 0
    (red: the unit is excited by ink there, blue: inhibited)."""
    rows = {k: _np(v) for k, v in rows.items()}
    n = max(len(v) for v in rows.values())
    size = min(1.0 if rows[next(iter(rows))].shape[-1] > 5 else 0.6, (PAGE_WIDTH_IN - 1.6) / n)
    fig, axes = plt.subplots(len(rows), n, figsize=(size * n + 1.6, size * 1.05 * len(rows) + 0.2),
                             squeeze=False)
    for r, (label, w) in enumerate(rows.items()):
        for c in range(n):
            ax = axes[r, c]
            _blank(ax)
            if c < len(w):
                lim = float(np.abs(w[c]).max()) or 1.0
                cmap = plt.get_cmap("bwr").with_extremes(bad="white")  # the NaN frame keeps kernels apart
                ax.imshow(np.pad(w[c], 1, constant_values=np.nan), cmap=cmap, vmin=-lim, vmax=lim)
                if col_titles and label in col_titles:
                    ax.set_title(str(col_titles[label][c]), fontsize=8)
            if c == 0:
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    fig.tight_layout(pad=0.3, w_pad=0.6)
    return fig


def unit_activations(per_unit: dict) -> plt.Figure:
    """Mean activation of every hidden unit, sorted, per model (log scale; dead units at the floor)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    for name, values in per_unit.items():
        v = np.sort(_np(values))[::-1]
        ax.plot(np.arange(1, len(v) + 1) / len(v), np.maximum(v, 1e-4), label=name)
    ax.set_yscale("log"), ax.set_xlabel("hidden units, sorted (fraction of the layer)")
    ax.set_ylabel("mean activation on the test set"), ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def noise_curves(rows: list[dict], value: str = "PSNR dB") -> plt.Figure:
    """`value` vs noise level, one line per model (rows from analysis.companion.denoise_table)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for name in dict.fromkeys(r["model"] for r in rows):
        pts = [(r["noise"], r[value]) for r in rows if r["model"] == name]
        ax.plot(*zip(*pts), "o-" if name != "noisy input" else "k--", label=name)
    ax.set_xlabel("noise level (std)"), ax.set_ylabel(value), ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def walk_distances(rows: list[dict]) -> plt.Figure:
    """Distance to the AE's manifold vs distance from the start image, for both walks (B5)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for kind, style in (("pixel", "o-"), ("latent", "s-")):
        pts = [(r["distance to x"], r["RMSE to AE(image)"]) for r in rows if r["walk"] == kind]
        ax.plot(*zip(*pts), style, label=f"{kind}-space steps")
    ax.set_xlabel("pixel distance from the start image (L2)"), ax.set_ylabel("RMSE(image, AE(image))")
    ax.legend()
    fig.tight_layout()
    return fig


def convergence(histories: dict, key: str = "mse", reference: dict | None = None) -> plt.Figure:
    """Train (solid) and test (dashed) `key` per epoch for several models on one log axis."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for i, (name, h) in enumerate(histories.items()):
        color = plt.get_cmap("tab10")(i)
        for split, ls in (("train", "-"), ("test", "--")):
            v = h[split].get(key, [])
            ax.plot(range(1, len(v) + 1), v, ls, color=color, marker="o", ms=3,
                    label=f"{name} ({split})")
        if reference and name in reference:
            ax.axhline(reference[name], color=color, lw=0.8, alpha=0.5)
    ax.set_yscale("log"), ax.set_xlabel("epoch"), ax.set_ylabel(f"{key}"), ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    return fig
