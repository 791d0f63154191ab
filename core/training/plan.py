"""How long trainings will take, from recorded costs: the ETA of `core.training.train`'s overall progress
bar and `python -m core.training --estimate`.

    python -m core.training.plan --record /tmp/retrain --wall 2700   # after a full make train there
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sys
import time
from pathlib import Path

from tqdm.auto import tqdm

from core import data, paths
from core.models import checkpoints, entry
from core.models.train_config import TrainConfig

UNKNOWN_EPOCH_SECONDS = 30.0  # a model never trained before: a guess, replaced by its first record
COSTS_FILE = paths.PROJECT_ROOT / "results" / "train_costs.json"


def epoch_seconds(name: str, directory: Path | None = None, limit_batches: int | None = None) -> float:
    """What one epoch of `name` costs, from a recorded training: this run's own folder (`directory`,
    else AELAB_CHECKPOINTS) unless that is the shipped checkpoints/, whose records were often made
    on loaded machines; then the costs of the last full `make train` measured on an idle 2-core
    machine (results/train_costs.json); then the shipped manifest. train_seconds / epochs, rescaled
    to the current number of training images per epoch where the record says how many it had."""
    tcfg = entry(name).train
    shipped = paths.PROJECT_ROOT / "checkpoints"
    own = [Path(d) for d in (directory, paths.CHECKPOINT_DIR) if d is not None]
    sources = [checkpoints.manifest(d) for d in own if d.resolve() != shipped.resolve()]
    sources += [reference_costs().get("models", {}), checkpoints.manifest(shipped)]
    for entries in sources:
        e = entries.get(name)
        if e and e.get("epochs"):
            per_epoch = e["train_seconds"] / e["epochs"]
            if e.get("images_per_epoch"):
                n = _train_size(tcfg)
                if limit_batches:
                    n = min(n, limit_batches * tcfg.batch_size)
                per_epoch *= n / e["images_per_epoch"]
            elif limit_batches:
                per_epoch *= min(1.0, limit_batches * tcfg.batch_size / _train_size(tcfg))
            return per_epoch
    return UNKNOWN_EPOCH_SECONDS


def reference_costs(required: bool = False) -> dict:
    """results/train_costs.json, or {} where it is missing or unreadable (then the manifests plan);
    `required`: raise instead, saying how to make it."""
    try:
        return json.loads(COSTS_FILE.read_text())
    except (OSError, ValueError) as exc:
        if required:
            raise FileNotFoundError(f"{COSTS_FILE} is missing or unreadable ({exc}): run AELAB_CHECKPOINTS=/tmp/run "
                                    "make train, then python -m core.training.plan --record /tmp/run") from exc
        return {}


def record_costs(run_dir: Path, wall_seconds: float | None = None, target: Path | None = None) -> dict:
    """Keep the per-model costs of a full `make train` into `run_dir` as the planning reference."""
    entries = checkpoints.manifest(run_dir)
    if not entries:
        raise FileNotFoundError(f"no {checkpoints.MANIFEST} with trained models in {run_dir}")
    cpu = next((line.split(":", 1)[1].strip() for line in _cpuinfo().splitlines() if line.startswith("model name")),
               platform.processor() or "unknown")
    costs = {"measured": {"date": time.strftime("%Y-%m-%d"), "cpu": cpu, "cores": os.cpu_count(),
                          "wall_seconds": wall_seconds,
                          "command": f"AELAB_CHECKPOINTS={run_dir} make train"},
             "models": {n: {k: e[k] for k in ("epochs", "train_seconds", "images_per_epoch", "threads", "precision")
                            if k in e} for n, e in sorted(entries.items())}}
    checkpoints.write_json(costs, target or COSTS_FILE)
    return costs


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def _train_size(tcfg: TrainConfig) -> int:
    return _split_size(tcfg.dataset) - tcfg.val_size


@functools.lru_cache(maxsize=None)
def _split_size(dataset: str) -> int:
    sizes = {"colour_noisy": 60_000, "mnist": 60_000}  # no need to build a dataset to know its size
    return sizes.get(dataset) or len(data.load(dataset, "train")[0])


def planned_seconds(names: list[str], epochs: int | None = None, directory: Path | None = None,
                    limit_batches: int | None = None) -> dict[str, float]:
    """{name: expected training seconds} from the recorded per-epoch costs."""
    return {n: epoch_seconds(n, directory, limit_batches) * (epochs or entry(n).train.epochs) for n in names}


def schedule_estimate(seconds: dict[str, float], jobs: int = 1) -> float:
    """Wall seconds to train models of these costs `jobs` at a time, longest first, each starting
    when a slot frees (the order train_many uses). Assumes the recorded costs hold when `jobs`
    trainings share the machine, i.e. as recorded (make train records them two at a time)."""
    slots = [0.0] * max(1, jobs)
    for cost in sorted(seconds.values(), reverse=True):
        slots[slots.index(min(slots))] += cost
    return max(slots)


class _Overall:
    """One progress bar over all models, in units of expected seconds of training: its ETA comes
    from the recorded per-epoch costs at first and from the measured rate once epochs finish."""

    def __init__(self, names, jobs, epochs=None, directory=None, limit_batches=None, disable=False):
        self.planned = planned_seconds(names, epochs, directory, limit_batches)
        self.per_epoch = {n: self.planned[n] / (epochs or entry(n).train.epochs) for n in names}
        self.credited = dict.fromkeys(names, 0.0)
        self.done = 0.0  # expected seconds finished (also when the bar is disabled)
        estimate = schedule_estimate(self.planned, jobs)
        self.bar = tqdm(total=round(sum(self.planned.values()), 1), unit="s", position=0, disable=disable,
                        desc=f"all {len(names)} models (estimate {estimate / 60:.1f} min)",
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]")

    def epoch(self, name: str, done: int) -> None:
        self.credit(name, done * self.per_epoch[name])

    def finished(self, name: str) -> None:
        self.credit(name, self.planned[name])

    def credit(self, name: str, value: float) -> None:
        self.bar.update(round(value - self.credited[name], 1))
        self.done += value - self.credited[name]
        self.credited[name] = value

    def close(self) -> None:
        self.bar.close()


def print_estimate(names: list[str], jobs: int, epochs=None, directory=None) -> float:
    """Per model its recorded per-epoch cost and planned seconds, their sum and the schedule estimate."""
    planned = planned_seconds(names, epochs, directory)
    for name, secs in sorted(planned.items(), key=lambda kv: -kv[1]):
        print(f"{name:16s} {epoch_seconds(name, directory):8.1f} s/epoch x {epochs or entry(name).train.epochs:3d} "
              f"= {secs:7.0f} s")
    total, wall = sum(planned.values()), schedule_estimate(planned, jobs)
    print(f"sum of the per-model times: {total / 60:.1f} min; {jobs} at a time, longest first: "
          f"{wall / 60:.1f} min wall (an estimate from recorded costs, not a measurement)")
    return wall


def main(argv=None):
    parser = argparse.ArgumentParser(description="Keep a full make train's per-model costs as the planning reference.")
    parser.add_argument("--record", type=Path, required=True, help="the AELAB_CHECKPOINTS folder of that run")
    parser.add_argument("--wall", type=float, help="its measured wall seconds, kept beside the costs")
    args = parser.parse_args(argv)
    try:
        costs = record_costs(args.record, args.wall)
    except FileNotFoundError as exc:
        sys.exit(f"error: {exc}")
    print(f"{len(costs['models'])} models' costs -> {COSTS_FILE}")


if __name__ == "__main__":
    main()
