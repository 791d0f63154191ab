"""The Reproduce page's tables, one row per shipped model, from checkpoints/MANIFEST.json."""
from __future__ import annotations

from core import models
from core.models import checkpoints


def _config(name: str, entry: dict) -> dict:
    """The model config as today's code names its fields (older checkpoints may use old names)."""
    cls = models.REGISTRY[name].cls if name in models.REGISTRY else None
    config = cls.upgrade_config(entry["model_config"]) if cls else entry["model_config"]
    return dict(sorted(config.items()))  # as the manifest lists them


def _compact(values: dict) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())


def manifest_rows(entries: dict | None = None) -> list[dict]:
    """One row per shipped model for the Reproduce page: how it was trained (its configuration,
    data and schedule; `run_rows` has the run itself, so each table fits the page's column)."""
    rows = []
    for name, e in (entries if entries is not None else checkpoints.manifest()).items():
        t = e["train_config"]
        # The class and its config as one constructor call: a column fewer, so the table fits.
        rows.append({"model": name, "class and config": f"{e['model_class']}({_compact(_config(name, e))})",
                     "data": t["dataset"], "epochs": e["epochs"], "batch": t["batch_size"],
                     "lr": f"{t['lr']:g} ({t.get('schedule', 'constant')})", "weight decay": f"{t['weight_decay']:g}"})
    return rows


def run_rows(entries: dict | None = None) -> list[dict]:
    """One row per shipped model: its seed (after any retries of a collapsed run), threads,
    training time and the command that retrains it."""
    return [{"model": name, "seed": e["seed"], "retries": len(e["attempts"]), "threads": e.get("threads") or "all",
             "train s": e["train_seconds"], "command": f"`{e['command']}`"}
            for name, e in (entries if entries is not None else checkpoints.manifest()).items()]


def metric_rows(entries: dict | None = None) -> list[dict]:
    """One row per shipped model: its headline test metric and every other one it records."""
    rows = []
    for name, e in (entries if entries is not None else checkpoints.manifest()).items():
        others = {k: v for k, v in e["metrics"].items() if k != e["metric_name"]}
        rows.append({"model": name, "test metric": e["metric_name"], "value": e["metrics"][e["metric_name"]],
                     "other test metrics": _compact({k: float(f"{v:.4g}") for k, v in others.items()})})
    return rows
