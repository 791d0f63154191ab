"""Every reading the demo makes ("which digit is this?") goes through `Judging`: one place, so a
second judge can join without touching the engine or the page.

A reading names a digit only when the judge is sure enough. "Sure enough" comes from the judge's
calibration, measured on validation images, never on test images: training images drawn by the
fixed validation seed (core.training.train.validation_split), each under the conditions of the
judge's own accuracy table (clean, Gaussian noise at its levels, salt and pepper, rotated,
shifted, thinner and thicker strokes). The judge trained on all 60,000 training images (its
config holds none out), each time under freshly drawn augmentations; these conditions are drawn
with their own seeds. `unsure_threshold` fits how often a reading is right as a function of its
confidence and returns the confidence from which it is right at least half the time: below it,
naming a digit would mislead more often than not.

    python -m demo.judging [--ship]   # the calibration table and threshold; --ship commits its data

The readings of the calibration take about a minute on one core, so they are cached per judge
weights, and shipped in results/cache/ (`--ship`) so a fresh clone's demo starts without them.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

N_VALIDATION = 2000        # validation images per condition (x 11 conditions)
CONDITION_SEED = 23        # seeds the noises and transforms of the calibration conditions


class Reading(NamedTuple):
    digit: int          # the judge's most likely digit
    confidence: float   # its softmax probability
    sure: bool          # confidence at or above the calibrated threshold: the digit may be named


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


def calibration_job(model, directory=None) -> dict:
    """The cache entry of `model`'s calibration readings (keyed by the judge's weights)."""
    from core.denoising.judge import NAME

    return {"tag": "demo-judge-calibration", "compute": lambda: measure(model), "depends_on": [NAME],
            "params": {"n": N_VALIDATION, "seed": CONDITION_SEED, "conditions": "judge accuracy table"},
            "checkpoint_dir": directory}


class Judging:
    """The judge's readings, each marked sure or unsure against its calibrated threshold."""

    def __init__(self, model, unsure_below: float):
        self.model = model
        self.unsure_below = float(unsure_below)

    @classmethod
    def load(cls, directory=None) -> "Judging | None":
        """The shipped judge and its threshold (the calibration is cached per judge weights), or
        None if no judge is shipped (the outputs are then shown without a reading)."""
        from core import cache
        from demo import references

        model = references.load_judge(directory)
        if model is None:
            return None
        cal = cache.cached(**calibration_job(model, directory), shipped=True)
        return cls(model, unsure_threshold(cal["confidence"].numpy(), cal["correct"].numpy()))

    def read(self, x: torch.Tensor) -> list[Reading]:
        """One reading per image of x [N,1,28,28]."""
        with torch.inference_mode():
            digit, conf = self.model.read(x.float())
        return [Reading(int(d), float(c), float(c) >= self.unsure_below) for d, c in zip(digit, conf)]


def main(argv=None) -> None:
    import argparse

    from core import cache
    from demo import references

    parser = argparse.ArgumentParser(description="The demo judge's calibration on validation images.")
    parser.add_argument("--ship", action="store_true", help="write the readings to results/cache/ (committed)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = references.load_judge()
    job = calibration_job(model)
    if args.ship:
        print(f"shipped {cache.ship(**job)}")
    cal = cache.cached(**job, shipped=True)
    conf, right = cal["confidence"].numpy(), cal["correct"].numpy()
    print(f"{len(conf)} readings: {N_VALIDATION} validation images x {len(conf) // N_VALIDATION} conditions; "
          f"right {100 * right.mean():.1f} %")
    for row in calibration_table(conf, right):
        print(f"  confidence {row['confidence']}: {row['n']:6d} readings, right {row['right (%)']} %")
    t = unsure_threshold(conf, right)
    near = (conf >= t - 0.05) & (conf < t + 0.05)
    print(f"unsure below {t:.3f} (readings within 0.05 of it: {int(near.sum())}, right "
          f"{100 * right[near].mean():.1f} %; all {int((conf < t).sum())} below it: right {100 * right[conf < t].mean():.1f} %)")


if __name__ == "__main__":
    main()
