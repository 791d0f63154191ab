"""Figures of the denoising scoreboard (A8). Each function returns a Figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from core.plots import PAGE_WIDTH_IN, image_rows


def psnr_and_identity(rows: list[dict], labels: dict, methods=None) -> plt.Figure:
    """Mean PSNR (left) and identity kept (right) against the noise level, one line per method."""
    methods = methods or list(dict.fromkeys(r["method"] for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(PAGE_WIDTH_IN, 4.4))
    for m in methods:
        pts = sorted((r["level"], r["psnr"], 100 * r["identity"]) for r in rows if r["method"] == m)
        if not pts:
            continue
        lv, ps, ids = zip(*pts)
        ls = ":" if m == "noisy" else ("-" if m.startswith(("map", "dncnn")) else "--")
        axes[0].plot(lv, ps, ls, marker="o", ms=3, label=labels.get(m, m))
        axes[1].plot(lv, ids, ls, marker="o", ms=3)
    axes[0].set_ylabel("test PSNR (dB)"), axes[1].set_ylabel("identity kept (%)")
    for ax in axes:
        ax.set_xlabel("noise level (std)")
    # One legend for both panels, under them: beside them it made the figure too wide to read.
    fig.legend(loc="lower center", ncol=4, fontsize=8.5, bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(rect=(0, 0.25, 1, 1))
    return fig


def wrong_digits(noisy, outputs: dict, clean, true, read_as: dict) -> plt.Figure:
    """Cases where a denoiser drew another digit: rows noisy / each output / clean; column titles
    give the true digit and, per output row, what the judge reads (x-axis label under each image)."""
    fig = image_rows({"noisy": noisy, **outputs, "clean": clean},
                     col_titles=[f"true {int(t)}" for t in true])
    names = list(outputs)
    for r, name in enumerate(names, start=1):
        for c, label in enumerate(np.asarray(read_as[name])):
            ax = fig.axes[r * len(true) + c]
            wrong = int(label) != int(true[c])
            ax.set_xlabel(f"read {int(label)}", fontsize=9, color="tab:red" if wrong else "black")
    fig.tight_layout(pad=0.3)
    return fig
