"""Figures of the posterior chapter. Each function returns a Figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from core.plots import PAGE_WIDTH_IN, image_rows


def examples(ex: dict) -> plt.Figure:
    """Rows: noisy, MAP, posterior mean, posterior sd (scaled so the largest shown is white), a
    few posterior draws, clean; column titles: the true digit and the posterior's top digit."""
    top = ex["probs"].max(1)
    titles = [f"true {int(t)}\np({int(d)}) = {float(p):.2f}" for t, d, p in zip(ex["labels"], top.indices, top.values)]
    vmax = float(ex["std"].max())
    rows = {"noisy": ex["noisy"], "MAP": ex["map"], "posterior mean": ex["mean"],
            f"sd (white {vmax:.2f})": ex["std"] / max(vmax, 1e-6)}
    rows.update({f"draw {i + 1}": s for i, s in enumerate(ex["samples"])})
    rows["clean"] = ex["clean"]
    return image_rows(rows, col_titles=titles)


def reliability(art: dict, levels=(0.5, 0.8), judge: str | None = None) -> plt.Figure:
    """Reliability diagrams: accuracy against confidence per bin, the digit posterior against the
    judge's reading of the noisy input; marker area follows the bin's count."""
    judge = judge or art["params"]["judges"][0]
    form = art["choice"]["digit_posterior"]
    rows = {r["level"]: r for r in art["rows"] if r["condition"] == "clean"}
    fig, axes = plt.subplots(1, len(levels), figsize=(3.9 * len(levels), 3.8), squeeze=False)
    for ax, lv in zip(axes[0], levels):
        cal = rows[lv]["calibration"][judge]
        for kind, label, colour in ((form, "posterior (judge on draws)", "tab:blue"),
                                    ("input", "judge on the noisy input", "tab:orange")):
            bins = cal[kind]["bins"]
            conf = [b["confidence"] for b in bins]
            acc = [b["accuracy"] for b in bins]
            size = [20 + 400 * b["n"] / rows[lv]["n"] for b in bins]
            ax.plot(conf, acc, "-", color=colour, lw=1, label=f"{label}: ECE {cal[kind]['ece']:.3f}")
            ax.scatter(conf, acc, s=size, color=colour, alpha=0.6)
        ax.plot([0, 1], [0, 1], "k:", lw=1)
        ax.set_xlim(0, 1.02), ax.set_ylim(0, 1.02)
        ax.set_xlabel("confidence (probability of the top digit)"), ax.set_ylabel("accuracy")
        ax.set_title(f"noise {lv}: {rows[lv]['n']} test digits")
        ax.legend(fontsize=8.5, loc="upper left")
    fig.tight_layout()
    return fig


def misfit_histograms(art: dict, level: float = 0.5) -> plt.Figure:
    """The misfit statistic's distribution on test digits against each other set at one level."""
    sets = [a["set"] for a in art["auroc"] if a["level"] == level]
    digits = np.asarray(art["misfit"][f"clean|{level}"])
    # The range of the digit-like sets; a set far beyond it (photo patches) piles up at its right edge.
    near = [digits, *[art["misfit"][f"{s}|{level}"] for s in sets if s != "patches"]]
    lo, hi = np.percentile(np.concatenate(near), [0.5, 99.5])
    edges = np.linspace(lo, hi, 40)
    cols = (len(sets) + 1) // 2
    fig, axes = plt.subplots(2, cols, figsize=(PAGE_WIDTH_IN, 5.4), sharex=True, squeeze=False)
    auc = {a["set"]: a["auroc"] for a in art["auroc"] if a["level"] == level}
    for ax, s in zip(axes.flat, sets):
        ax.hist(np.clip(digits, lo, hi), edges, density=True, alpha=0.5, label="test digits")
        ax.hist(np.clip(art["misfit"][f"{s}|{level}"], lo, hi), edges, density=True, alpha=0.5, label=s)
        ax.set_title(f"{s}: AUROC {auc[s]:.3f}", fontsize=9)
        ax.legend(fontsize=7.5)
        ax.tick_params(labelsize=8)
    fig.supxlabel(f"misfit at noise {level} (sds of the noise model; values beyond the range drawn at its edges)",
                  fontsize=9)
    fig.tight_layout()
    return fig


def budget(art: dict) -> plt.Figure:
    """Validation: the posterior mean's gain over MAP against the sampler's cost, one line per level."""
    rows = art["validation"]["rows"]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for lv in sorted({r["level"] for r in rows}):
        pts = sorted((r["cost"], r["gain_vs_map"], r["mode_weights"]) for r in rows if r["level"] == lv)
        lap = [(c, g) for c, g, w in pts if w == "laplace"]
        line, = ax.plot(*zip(*lap), "o-", ms=4, label=f"noise {lv}")
        eq = [(c, g) for c, g, w in pts if w == "equal"]
        if eq:
            ax.plot(*zip(*eq), "s", ms=6, mfc="none", color=line.get_color())
    chosen = art["choice"]
    ax.axvline(chosen["chains"] * (chosen["burn_in"] + chosen["keep"]), color="k", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("decoder rows per image (chains x steps)"), ax.set_ylabel("posterior mean - MAP (dB, validation)")
    ax.legend(fontsize=8, title="circles: starts by evidence; squares: split evenly", title_fontsize=7)
    fig.tight_layout()
    return fig
