"""The convergence rule every shipped model is held to, read from its checkpoint's history.

A model has converged for our purposes when its headline metric, on the validation split where
the training recorded one (else on the test split, which is what older runs recorded), improved
by at most THRESHOLD (relative) over the last WINDOW epochs. A model that fails gets a longer
budget or a learning-rate schedule (its registry's budget note says which and why).

    python -m core.training.convergence            # the table, for every shipped checkpoint
"""
from __future__ import annotations

import math

WINDOW = 3
THRESHOLD = 0.01
HIGHER_IS_BETTER = {"accuracy"}


def curve(history: dict, metric: str) -> tuple[str, list[float]]:
    """(split, per-epoch values) of `metric`: the validation curve if recorded, else the test one."""
    for split in ("val", "test"):
        values = history.get(split, {}).get(metric)
        if values:
            return split, [float(v) for v in values]
    raise KeyError(f"no validation or test curve of {metric!r} in this history")


def relative_improvement(values: list[float], higher_is_better: bool = False, window: int = WINDOW) -> float:
    """How much the last `window` epochs improved the metric, relative to its value `window`
    epochs before the end (0.02 = 2 % better; negative if it got worse). NaN if too few epochs."""
    if len(values) <= window:
        return math.nan
    before, after = values[-1 - window], values[-1]
    gain = after - before if higher_is_better else before - after
    return gain / abs(before) if before else math.nan


def check(ckpt: dict, window: int = WINDOW, threshold: float = THRESHOLD) -> dict:
    """{"split", "metric", "values", "improvement", "converged"} for one checkpoint."""
    metric = ckpt["metric_name"]
    split, values = curve(ckpt["history"], metric)
    gain = relative_improvement(values, metric in HIGHER_IS_BETTER, window)
    return {"split": split, "metric": metric, "values": values, "improvement": gain,
            "converged": not math.isnan(gain) and gain <= threshold}


def rows(names=None, budget_notes: dict | None = None) -> list[dict]:
    """One row per shipped model for the Reproduce page."""
    from core.models import REGISTRY, checkpoints, entry

    out = []
    for name in names or [n for n in REGISTRY if checkpoints.path(n).exists()]:
        ckpt = checkpoints.load_checkpoint(name)
        c, t = check(ckpt), ckpt["train_config"]
        last = c["values"][-1 - WINDOW:]
        out.append({"model": name, "curve": f"{c['split']} {c['metric']}",
                    f"last {WINDOW + 1} epochs": ", ".join(f"{v:.4g}" for v in last),
                    f"gain over last {WINDOW}": f"{100 * c['improvement']:.2f} %",
                    "converged": "yes" if c["converged"] else "**no**",
                    "budget": f"{ckpt['epoch']} epochs, lr {t.get('schedule', 'constant')}",
                    "why this budget": (budget_notes or {}).get(name) or entry(name).budget_why})
    return out


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="models (default: every shipped checkpoint)")
    args = parser.parse_args(argv)
    failing = []
    for r in rows(args.names or None):
        print(f"{r['model']:16s} {r['curve']:14s} {r[f'gain over last {WINDOW}']:>9s}  converged: {r['converged']}")
        if r["converged"] != "yes":
            failing.append(r["model"])
    if failing:
        print(f"still improving by more than {THRESHOLD:.0%} over the last {WINDOW} epochs: {', '.join(failing)}")


if __name__ == "__main__":
    main()
