"""The index page's figure: every scored reference value of the assignment against ours."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from core.analysis import reference as R

BETTER, WORSE = "#2a9d4b", "#d1495b"


def reference_comparison(ours: dict[str, float]) -> plt.Figure:
    """One bar per reference value that has a better side and that we measured: how many times
    better (right, green) or worse (left, red) ours is, on a log axis (see reference.improvement)."""
    keys = [k for k in R.REFERENCE if R.goal(k) and isinstance(ours.get(k), (int, float))]
    factors = np.array([R.improvement(k, ours[k]) for k in keys])
    labels = [f"{R.REFERENCE[k][0]}  {R.REFERENCE[k][1]}" for k in keys]
    fig, ax = plt.subplots(figsize=(7.2, 0.26 * len(keys) + 0.9))
    y = np.arange(len(keys))[::-1]
    ax.barh(y, np.log10(factors), color=[BETTER if f > 1 else WORSE for f in factors], height=0.7)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, labels, fontsize=8)
    ticks = np.array([1 / 100, 1 / 10, 1 / 3, 1, 3, 10, 100])
    lo, hi = np.log10(factors).min(), np.log10(factors).max()
    shown = ticks[(np.log10(ticks) >= min(lo, -0.5) - 0.01) & (np.log10(ticks) <= max(hi, 0.5) + 0.01)]
    ax.set_xticks(np.log10(shown), [f"{t:g}x" if t >= 1 else f"1/{1 / t:g}" for t in shown])
    ax.set_xlim(min(lo, -0.5) - 0.1, max(hi, 0.5) + 0.1)
    ax.set_xlabel("ours vs the reference: times better (right) or worse (left)")
    ax.grid(axis="y", visible=False)
    fig.tight_layout()
    return fig
