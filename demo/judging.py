"""Every reading the demo makes ("which digit is this?") goes through `Judging`: one place for the
scoreboard's judges (core.denoising.judge.NAMES: a convnet and a multilayer perceptron), so the engine
and the page never ask a single classifier.

A reading names a digit only when every judge names the same digit, each sure enough: "the judges
disagree" otherwise, or "unsure" when they agree but one of them is not sure enough. "Sure enough"
comes from each judge's own calibration, measured on validation images, never on test images:
training images drawn by the fixed validation seed (core.training.train.validation_split), each
under the conditions of the judges' accuracy table (clean, Gaussian noise at its levels, salt and
pepper, rotated, shifted, thinner and thicker strokes). The judges trained on all 60,000 training
images (their configs hold none out), each time under freshly drawn augmentations; these conditions
are drawn with their own seeds. `unsure_threshold` fits how often a judge's reading is right as a
function of its confidence and returns the confidence from which it is right at least half the
time: below it, naming a digit would mislead more often than not.

    python -m demo.judging [--ship]   # each judge's calibration table and threshold; --ship commits their data

The readings of a calibration take about a minute per judge on one core, so they are cached per
judge (its name and weights), and shipped in results/cache/ (`--ship`) so a fresh clone's demo
starts without them.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

N_VALIDATION = 2000        # validation images per condition (x 11 conditions)
CONDITION_SEED = 23        # seeds the noises and transforms of the calibration conditions


class JudgeReading(NamedTuple):
    name: str           # the judge (core.denoising.judge.NAMES)
    digit: int          # its most likely digit
    confidence: float   # its softmax probability
    sure: bool          # confidence at or above this judge's calibrated threshold


class Reading(NamedTuple):
    """What the judges read in one image. `reading[0]` is the digit, as when one judge read alone."""
    digit: int          # the digit every judge names; where they disagree, the first judge's guess
    confidence: float   # the least confident judge's confidence
    sure: bool          # every judge names `digit` at or above its own threshold: the digit may be named
    judges: tuple[JudgeReading, ...] = ()

    @property
    def agree(self) -> bool:
        """Do all judges name the same digit (sure or not)?"""
        return len({j.digit for j in self.judges}) <= 1

    @property
    def verdict(self) -> str:
        """"sure", "disagree" (the judges name different digits) or "unsure" (they name the same
        digit but one of them below its threshold)."""
        return "sure" if self.sure else "unsure" if self.agree else "disagree"


def combine(readings: list[JudgeReading]) -> Reading:
    """The common reading of every judge's reading of one image."""
    if not readings:
        raise ValueError("no judge read the image")
    digit = readings[0].digit
    sure = all(r.digit == digit and r.sure for r in readings)
    return Reading(digit, min(r.confidence for r in readings), sure, tuple(readings))


def unsure_threshold(confidences, correct) -> float:
    """The lowest confidence from which the judge's readings are right at least half the time.

    How often a reading is right is fitted as a non-decreasing function of its confidence
    (isotonic regression, the usual calibration curve); the threshold is the smallest confidence
    seen whose fitted share of right readings reaches 0.5 (1.0 if none does: never sure)."""
    from sklearn.isotonic import IsotonicRegression

    conf = np.asarray(confidences, dtype=float)
    right = np.asarray(correct, dtype=float)
    fitted = IsotonicRegression(increasing=True, out_of_bounds="clip").fit(conf, right).predict(conf)
    sure = conf[fitted >= 0.5]
    return float(sure.min()) if len(sure) else 1.0


def calibration_table(confidences, correct, edges=(0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0001)
                      ) -> list[dict]:
    """Readings per confidence band: how many, and the share the judge got right."""
    conf = np.asarray(confidences, dtype=float)
    right = np.asarray(correct, dtype=bool)
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        band = (conf >= lo) & (conf < hi)
        rows.append({"confidence": f"{lo:.1f}-{min(hi, 1.0):.1f}", "n": int(band.sum()),
                     "right (%)": round(100 * float(right[band].mean()), 1) if band.any() else None})
    return rows


def validation_conditions(x: torch.Tensor, seed: int = CONDITION_SEED) -> dict[str, torch.Tensor]:
    """The judge's accuracy-table conditions applied to `x`, each with its own fixed seed."""
    from core import data
    from core.denoising import judge

    out = {"clean": x}
    for i, s in enumerate(judge.NOISE_LEVELS):
        out[f"noise {s}"] = data.add_noise(x, s, seed + i)
    out["salt-and-pepper 10 %"] = data.salt_and_pepper(x, 0.1, seed + 100)
    for i, t in enumerate(judge.TRANSFORMS):
        out[t] = judge.transform(x, t, seed + 200 + i)
    return out


def measure(model, n: int = N_VALIDATION) -> dict[str, torch.Tensor]:
    """{"confidence": [M], "correct": [M]} of `model`'s readings of n validation images under every
    condition (M = n x conditions)."""
    from core import data
    from core.training.train import validation_split

    x, y = data.load_mnist("train")
    _, idx = validation_split(len(x), n)
    x, y = x[idx], y[idx]
    confidence, correct = [], []
    with torch.inference_mode():
        for images in validation_conditions(x).values():
            for i in range(0, len(images), 1000):
                digit, conf = model.read(images[i:i + 1000].float())
                confidence.append(conf.float())
                correct.append(digit == y[i:i + 1000])
    return {"confidence": torch.cat(confidence), "correct": torch.cat(correct)}


def calibration_job(model, name: str, directory=None) -> dict:
    """The cache entry of judge `name`'s calibration readings (keyed by its name and weights). The
    first judge's tag is the one its readings were shipped under before a second judge joined."""
    return {"tag": f"demo-{name}-calibration", "compute": lambda: measure(model), "depends_on": [name],
            "params": {"n": N_VALIDATION, "seed": CONDITION_SEED, "conditions": "judge accuracy table"},
            "checkpoint_dir": directory}


class Judging:
    """Every judge's readings, each marked sure or unsure against that judge's calibrated threshold,
    and combined into one verdict per image."""

    def __init__(self, models: dict, unsure_below: dict[str, float]):
        if set(models) != set(unsure_below) or not models:
            raise ValueError(f"one threshold per judge: judges {sorted(models)}, thresholds {sorted(unsure_below)}")
        self.models = dict(models)
        self.unsure_below = {name: float(t) for name, t in unsure_below.items()}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.models)

    @classmethod
    def load(cls, directory=None, names=None) -> "Judging | None":
        """Every shipped judge and its threshold (each calibration cached per judge weights), or None
        if a judge is not shipped: a verdict must hold under all of them, so the outputs are then
        shown without a reading."""
        from core import cache
        from core.denoising import judge
        from demo import references

        models, thresholds = {}, {}
        for name in names or judge.NAMES:
            model = references.load_judge(directory, name)
            if model is None:
                return None
            cal = cache.cached(**calibration_job(model, name, directory), shipped=True)
            models[name] = model
            thresholds[name] = unsure_threshold(cal["confidence"].numpy(), cal["correct"].numpy())
        return cls(models, thresholds)

    def read(self, x: torch.Tensor) -> list[Reading]:
        """One reading per image of x [N,1,28,28]: one call per judge for the whole batch."""
        per_judge = []
        with torch.inference_mode():
            for name, model in self.models.items():
                digit, conf = model.read(x.float())
                per_judge.append([JudgeReading(name, int(d), float(c), float(c) >= self.unsure_below[name])
                                  for d, c in zip(digit, conf)])
        return [combine(list(image)) for image in zip(*per_judge)]


def report(name: str, conf: np.ndarray, right: np.ndarray) -> None:
    """One judge's calibration: its readings per confidence band and its threshold."""
    from core.denoising import judge

    print(f"{judge.SHORT.get(name, name)} judge ({name}): {len(conf)} readings: {N_VALIDATION} validation images x "
          f"{len(conf) // N_VALIDATION} conditions; right {100 * right.mean():.1f} %")
    for row in calibration_table(conf, right):
        print(f"  confidence {row['confidence']}: {row['n']:6d} readings, right {row['right (%)']} %")
    t = unsure_threshold(conf, right)
    near, below = (conf >= t - 0.05) & (conf < t + 0.05), conf < t
    print(f"  unsure below {t:.3f} (readings within 0.05 of it: {int(near.sum())}, right "
          f"{100 * right[near].mean():.1f} %; all {int(below.sum())} below it: right {100 * right[below].mean():.1f} %)")


def main(argv=None) -> None:
    import argparse

    from core import cache
    from core.denoising import judge
    from core.models import checkpoints
    from demo import references

    parser = argparse.ArgumentParser(description="The demo judges' calibrations on validation images.")
    parser.add_argument("--ship", action="store_true", help="write the readings to results/cache/ (committed)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.ship and not cache.may_ship("the judges' calibrations"):
        return
    for name in judge.NAMES:
        model = references.load_judge(name=name)
        if model is None:
            raise SystemExit(f"judge {name} is not shipped: train it with `{checkpoints.train_command(name)}`")
        job = calibration_job(model, name)
        if args.ship:
            print(f"shipped {cache.ship(**job)}")
        cal = cache.cached(**job, shipped=True)
        report(name, cal["confidence"].numpy(), cal["correct"].numpy())


if __name__ == "__main__":
    main()
