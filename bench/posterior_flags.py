"""How often the demo's posterior warning ("this does not look like a digit the model knows") fires:
on test digits (it should be about single.FALSE_ALARM: its threshold is calibrated on validation
digits) and on images that are not digits (letters, photo patches), each run exactly as the demo
runs one drawing (single.for_drawing with its budget), one thread.

    python -m bench.posterior_flags [--n 200] [--level 0.5]

Prints the share flagged per set, with its count: a check of the calibration on images it never saw.
"""
from __future__ import annotations

import argparse
import os
import time

import torch
from tqdm.auto import tqdm

from core import data
from core.denoising.denoise import Denoisers
from core.denoising.posterior import nondigits, single
from core.denoising.scoreboard import test_digits


def flagged(den, images: torch.Tensor, level: float, calibration: dict, name: str) -> list[bool]:
    noisy = data.add_noise(images, level, seed=data.NOISE_SEED)
    return [single.for_drawing(den, noisy[i:i + 1], noise_level=level, calibration=calibration).flagged
            for i in tqdm(range(len(noisy)), desc=name)]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="images per set")
    parser.add_argument("--level", type=float, default=data.DEFAULT_NOISE_LEVEL)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    den = Denoisers.load()
    calibration = single.stored_calibration(den)
    if calibration is None:
        raise SystemExit("no calibration for these weights: python -m core.denoising.posterior.single --ship")
    load0, start = os.getloadavg()[0], time.perf_counter()
    sets = {"test digits": test_digits(args.n)[0], "letters": nondigits.letters(args.n),
            "photo patches": nondigits.patches(args.n)}
    print(f"the demo's posterior warning at noise {args.level:g} (threshold "
          f"{single.misfit_threshold(calibration, args.level):.2f}, the {100 * (1 - single.FALSE_ALARM):g} % "
          f"quantile of validation digits; the goal on real digits: about {100 * single.FALSE_ALARM:g} %)")
    for name, images in sets.items():
        hits = flagged(den, images, args.level, calibration, name)
        print(f"{name:15s} flagged {sum(hits):4d} of {len(hits)} ({100 * sum(hits) / len(hits):.1f} %)")
    print(f"{time.perf_counter() - start:.0f} s, load average {load0:.1f} before, {os.getloadavg()[0]:.1f} after")


if __name__ == "__main__":
    main()
