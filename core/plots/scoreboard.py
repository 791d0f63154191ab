"""Figures of the denoising scoreboard (A8). Each function returns a Figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from core.plots import PAGE_WIDTH_IN, image_rows


def psnr_and_identity(rows: list[dict], labels: dict, methods=None, judge_names: dict | None = None) -> plt.Figure:
    """Mean PSNR (left) and identity kept as read by each judge (one panel per judge) against the
    noise level, one line per method."""
    methods = methods or list(dict.fromkeys(r["method"] for r in rows))
    judges = list(rows[0]["identity"])
    fig, axes = plt.subplots(1, 1 + len(judges), figsize=(PAGE_WIDTH_IN, 4.6))
    for m in methods:
        mine = sorted((r for r in rows if r["method"] == m), key=lambda r: r["level"])
        if not mine:
            continue
        lv = [r["level"] for r in mine]
        ls = ":" if m == "noisy" else ("-" if m.startswith(("map", "dncnn")) else "--")
        axes[0].plot(lv, [r["psnr"] for r in mine], ls, marker="o", ms=3, label=labels.get(m, m))
        for ax, j in zip(axes[1:], judges):
            ax.plot(lv, [100 * r["identity"][j] for r in mine], ls, marker="o", ms=3)
    axes[0].set_ylabel("test PSNR (dB)")
    for ax, j in zip(axes[1:], judges):
        ax.set_ylabel("identity kept (%)")
        ax.set_title(f"read by the {(judge_names or {}).get(j, j)} judge", fontsize=9)
    for ax in axes:
        ax.set_xlabel("noise level (std)")
    # One legend for both panels, under them: beside them it made the figure too wide to read.
    fig.legend(loc="lower center", ncol=4, fontsize=8.5, bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(rect=(0, 0.25, 1, 1))
    return fig


def wrong_digits(noisy, outputs: dict, clean, true, read_as: dict) -> plt.Figure:
    """Cases where a denoiser drew another digit: rows noisy / each output / clean; column titles
    give the true digit and, per output row, what each judge reads (read_as: {row: {judge: labels}},
    "read a / b" under each image, red where a judge reads another digit)."""
    fig = image_rows({"noisy": noisy, **outputs, "clean": clean},
                     col_titles=[f"true {int(t)}" for t in true])
    names = list(outputs)
    for r, name in enumerate(names, start=1):
        per_judge = [np.asarray(v) for v in read_as[name].values()]
        for c in range(len(true)):
            got = [int(v[c]) for v in per_judge]
            ax = fig.axes[r * len(true) + c]
            wrong = any(g != int(true[c]) for g in got)
            ax.set_xlabel("read " + " / ".join(map(str, got)), fontsize=9, color="tab:red" if wrong else "black")
    fig.tight_layout(pad=0.3)
    return fig
