"""Milliseconds per image of the posterior sampler for a given effective sample size: batch 1
(the demo's one drawing) and batch 64 (the evaluation's chunks), one thread, each setting of the
validation grid plus the demo's budget.

    python -m bench.posterior_speed [--repeats 3] [--level 0.5] [--quick]

For each setting and batch: ms per image (MAP init included, median of repeats), the median over
images of the worst latent dimension's bulk ESS, and ms per 100 effective samples. Inputs are
validation images (training split) with the validation noise. Printed with the load average;
ratios compare settings and batch sizes within this one run. Last, the demo's whole posterior work
for one drawing (core.denoising.posterior.single.for_drawing: sampling, draws, judge, misfit).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from core import data
from core.denoising import baselines
from core.denoising.denoise import Denoisers
from core.denoising.posterior import estimate, study


def measure(den, noisy, level, settings, repeats: int, single: bool) -> dict:
    estimate.posterior(den, noisy[:1], noise_level=level, settings=settings, single_image=single)  # warm-up
    times, ess = [], []
    for r in range(repeats):
        t0 = time.perf_counter()
        res = estimate.posterior(den, noisy, noise_level=level, settings=settings, seed=r, single_image=single)
        times.append((time.perf_counter() - t0) / len(noisy))
        ess.append(float(res.diagnostics()["ess"].median()))
    ms = 1000 * statistics.median(times)
    e = statistics.median(ess)
    return {"ms": ms, "ess": e, "ms_per_100_ess": 100 * ms / e}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--level", type=float, default=0.5)
    parser.add_argument("--quick", action="store_true", help="only the demo's budget and the batch budget in use")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    den = Denoisers.load()
    noisy = data.add_noise(baselines.validation_set(64), args.level, seed=baselines.VAL_NOISE_SEED)
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; one thread; noise {args.level}; "
          f"median of {args.repeats} runs")
    print(f"{'setting':55s} {'batch':>5s} {'ms/image':>9s} {'ESS':>6s} {'ms/100 ESS':>10s}")
    rows = [("demo budget: " + study.label(estimate.SINGLE), estimate.SINGLE, True)]
    rows += [(study.label(s), s, False) for s in study.GRID if not args.quick or s == estimate.BATCH]
    for name, settings, single in rows:
        for batch in (1, 64):
            r = measure(den, noisy[:batch], args.level, settings, args.repeats, single)
            print(f"{name:55s} {batch:5d} {r['ms']:9.1f} {r['ess']:6.0f} {r['ms_per_100_ess']:10.1f}", flush=True)
    # The demo's whole posterior work for one drawing: sampling, draws, the judge, the misfit.
    from core.denoising.posterior import single

    single.for_drawing(den, noisy[:1], noise_level=args.level)  # warm-up
    times = [single.for_drawing(den, noisy[i:i + 1], noise_level=args.level, seed=i).ms for i in range(args.repeats * 3)]
    print(f"single.for_drawing (the demo's posterior work, one drawing): median {statistics.median(times):.1f} ms "
          f"over {len(times)} drawings")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
