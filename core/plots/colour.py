"""Part C figures: curves of the three denoisers, t-SNE maps (2-D matplotlib, 3-D plotly/matplotlib)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from core.plots import DIGIT_COLORS, PAGE_WIDTH_IN, latent_scatter


def _np(t):
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def denoiser_curves(histories: dict, key: str = "mse", log: bool = True) -> plt.Figure:
    """One panel per model ({title: history}): train (solid), validation (dashed) and test
    (dotted) `key` per epoch, each where the history records it."""
    fig, axes = plt.subplots(1, len(histories), figsize=(min(3.6 * len(histories), PAGE_WIDTH_IN), 3.3),
                             squeeze=False, sharey=True)
    for ax, (title, history) in zip(axes[0], histories.items()):
        for split, ls in (("train", "-"), ("val", "--"), ("test", ":")):
            values = history.get(split, {}).get(key, [])
            if values:
                ax.plot(range(1, len(values) + 1), values, ls, marker="o", ms=3,
                        label={"val": "validation"}.get(split, split))
        if log:
            ax.set_yscale("log")
        ax.set_title(title), ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    axes[0, 0].set_ylabel(f"{key} (vs clean)")
    # One legend for all panels, under them, so the panels can share the page's width.
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=len(names), bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def tsne_maps(embeddings: dict, s: float = 3) -> plt.Figure:
    """2-D t-SNE maps ({title: (embedding [n,2], labels [n])}), coloured by digit, two per row at
    the page's width (a row of three made every map and its legend too small to read); the legend
    takes a spare cell, else sits beside the last map."""
    cols = min(2, len(embeddings))
    rows = -(-len(embeddings) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(PAGE_WIDTH_IN, 3.5 * rows), squeeze=False)
    flat = list(axes.flat)
    for i, (ax, (title, (emb, labels))) in enumerate(zip(flat, embeddings.items())):
        latent_scatter(emb, labels, ax=ax, s=s, alpha=0.7, title=title)
        ax.set_xlabel("t-SNE 1"), ax.set_ylabel("t-SNE 2" if i % cols == 0 else "")
        ax.set_xticks([]), ax.set_yticks([])
        legend = ax.get_legend()
        if i < len(embeddings) - 1 or len(flat) > len(embeddings):
            legend.remove()
    for spare in flat[len(embeddings):]:
        spare.axis("off")
        spare.legend(*flat[0].get_legend_handles_labels(), title="digit", markerscale=4, loc="center", ncol=2)
    fig.tight_layout()
    return fig


def tsne_3d_static(emb, labels, title: str = "", elev: float = 20, azim: float = 45) -> plt.Figure:
    """A fixed matplotlib view of a 3-D t-SNE embedding (the fallback of `tsne_3d_interactive`)."""
    emb, labels = _np(emb), _np(labels)
    # The 3-D box fills the figure (zoomed, no subplot margins) and the figure the page's column:
    # matplotlib's default 3-D axes leave a wide blank frame around the box.
    fig = plt.figure(figsize=(7.0, 5.4))
    ax = fig.add_axes((0.0, 0.0, 0.84, 1.0), projection="3d")
    ax.set_box_aspect(None, zoom=1.18)
    for d in range(10):
        p = emb[labels == d]
        ax.scatter(p[:, 0], p[:, 1], p[:, 2], s=3, color=DIGIT_COLORS(d), label=str(d), depthshade=False)
    ax.view_init(elev=elev, azim=azim)
    ax.set_xticklabels([]), ax.set_yticklabels([]), ax.set_zticklabels([])
    ax.legend(title="digit", markerscale=4, loc="center left", bbox_to_anchor=(1.0, 0.5))
    if title:
        ax.set_title(title)
    return fig


def tsne_3d_interactive(emb, labels, title: str = ""):
    """A rotatable plotly 3-D scatter (one trace per digit, same colours as the 2-D maps)."""
    import plotly.graph_objects as go

    emb, labels = _np(emb), _np(labels)
    fig = go.Figure()
    for d in range(10):
        p = emb[labels == d]
        r, g, b, _ = (np.array(DIGIT_COLORS(d)) * 255).astype(int)
        fig.add_trace(go.Scatter3d(x=p[:, 0], y=p[:, 1], z=p[:, 2], mode="markers", name=str(d),
                                   marker=dict(size=2, color=f"rgb({r},{g},{b})")))
    fig.update_layout(title=title or None, height=520, margin=dict(l=0, r=0, t=30 if title else 0, b=0),
                      legend=dict(title="digit", itemsizing="constant"),
                      scene=dict(xaxis_title="t-SNE 1", yaxis_title="t-SNE 2", zaxis_title="t-SNE 3"))
    return fig
