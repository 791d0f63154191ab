"""Figures of A7/A8 (the VAEs and the three denoisers). Each function returns a Figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from core.plots import PAGE_WIDTH_IN, latent_grid, latent_scatter


def _limit(ax, bounds, n):
    x_min, x_max, y_min, y_max = bounds
    dx, dy = (x_max - x_min) / (n - 1) / 2, (y_max - y_min) / (n - 1) / 2
    ax.set_xlim(x_min - dx, x_max + dx), ax.set_ylim(y_min - dy, y_max + dy)


def grids_side_by_side(left: dict, right: dict, n: int, titles=("AE", "VAE"), labels=None,
                       alpha: float = 0.55) -> plt.Figure:
    """Two decoded n x n grids (dicts with "images", "bounds", and "z" for an optional faint
    scatter of the test latents on top), each over its own latent axes."""
    fig, axes = plt.subplots(1, 2, figsize=(PAGE_WIDTH_IN, 3.8))
    for ax, part, title in zip(axes, (left, right), titles):
        latent_grid(part["images"], part["bounds"], n, ax=ax, alpha=alpha if labels is not None else 1.0,
                    title=title)
        if labels is not None:
            latent_scatter(part["z"], labels, ax=ax, s=1, alpha=0.25)
            ax.get_legend().remove()
        _limit(ax, part["bounds"], n)
    fig.tight_layout()
    return fig


def means_scatter(z, labels, title: str = "") -> plt.Figure:
    """Scatter of posterior means with the prior's 1- and 2-sigma circles."""
    fig = latent_scatter(z, labels, title=title)
    ax = fig.axes[0]
    t = np.linspace(0, 2 * np.pi, 200)
    for r in (1, 2):
        ax.plot(r * np.cos(t), r * np.sin(t), "k--", lw=0.8, alpha=0.7)
    ax.set_aspect("equal", adjustable="datalim")
    fig.tight_layout()
    return fig


def beta_curve(study: dict, levels, betas, chosen: dict, chosen_clip: dict | None = None) -> plt.Figure:
    """Validation PSNR of MAP vs beta, one line per noise level, the chosen beta circled; a second
    panel for the clipping-aware objective if its study is given."""
    panels = [("plain objective", "beta_psnr", chosen)]
    if chosen_clip is not None:
        panels.append(("clipping-aware", "beta_psnr_clip", chosen_clip))
    fig, axes = plt.subplots(1, len(panels), figsize=(min(5.4 * len(panels), PAGE_WIDTH_IN), 3.6), squeeze=False,
                             sharey=True)
    for ax, (title, key, picks) in zip(axes[0], panels):
        psnr = np.asarray(study[key])
        for i, level in enumerate(levels):
            line, = ax.plot(betas, psnr[i], marker="o", ms=3, label=f"noise {level}")
            b = picks[str(level)]
            ax.plot([b], [psnr[i][list(betas).index(b)]], "o", ms=10, mfc="none", color=line.get_color())
        ax.set_xscale("log"), ax.set_xlabel(r"$\beta$"), ax.set_title(title)
    axes[0, 0].set_ylabel("validation PSNR (dB)")
    axes[0, -1].legend()
    fig.tight_layout()
    return fig


def steps_restarts(study: dict, steps, restarts, chosen_steps: int, chosen_restarts: int) -> plt.Figure:
    """Validation PSNR (mean over the noise levels) vs L-BFGS iterations, one line per restarts."""
    fig, ax = plt.subplots(figsize=(6.2, 3.6))
    grid = np.asarray(study["steps_restarts"]).mean(0)  # [steps, restarts]
    for b, r in enumerate(restarts):
        ax.plot(steps, grid[:, b], marker="o", ms=3, label=f"{r} restart{'s' if r > 1 else ''}")
    ax.plot([chosen_steps], [grid[list(steps).index(chosen_steps), list(restarts).index(chosen_restarts)]],
            "ko", ms=10, mfc="none", label="chosen")
    ax.set_xlabel("L-BFGS iterations"), ax.set_ylabel("validation PSNR (dB), mean over levels")
    ax.legend()
    fig.tight_layout()
    return fig


def map_loss(history, labels=None, optimisers: dict | None = None) -> plt.Figure:
    """MAP objective per iteration: one curve per example (left); mean L-BFGS vs Adam (right)."""
    history = torch.as_tensor(history)
    panels = 2 if optimisers else 1
    fig, axes = plt.subplots(1, panels, figsize=(min(5.2 * panels, PAGE_WIDTH_IN), 3.6), squeeze=False)
    ax = axes[0, 0]
    cmap = plt.get_cmap("tab10")
    for i in range(history.shape[1]):
        ax.plot(history[:, i], color=cmap(i % 10), lw=1.2, label=None if labels is None else str(int(labels[i])))
    ax.set_xlabel("L-BFGS iteration"), ax.set_ylabel(r"$\|x - g(z)\|^2 + \beta\|z\|^2$")
    ax.set_title("the examples (best restart)")
    if labels is not None:
        ax.legend(title="digit", ncol=2, fontsize=8)
    if optimisers:
        ax = axes[0, 1]
        for name, h in optimisers.items():
            ax.plot(torch.as_tensor(h), label=name)
        ax.set_xlabel("iteration (one decoder call each)"), ax.set_ylabel("mean objective")
        ax.set_yscale("log"), ax.set_title("L-BFGS vs Adam, 1 restart")
        ax.legend()
    fig.tight_layout()
    return fig


def psnr_vs_noise(rows: list[dict], metric: str = "PSNR (dB)") -> plt.Figure:
    """Mean test metric per noise level, one line per method (rows from comparison_rows)."""
    fig, ax = plt.subplots(figsize=(6.4, 4))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    for m in methods:
        pts = sorted((r["noise"], r[metric]) for r in rows if r["method"] == m)
        ls = ":" if m == "noisy input" else "-"
        ax.plot(*zip(*pts), ls, marker="o", ms=4, label=m)
    ax.set_xlabel("noise level (std of the Gaussian noise)"), ax.set_ylabel(f"test {metric}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
