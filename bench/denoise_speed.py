"""Milliseconds per image of each denoiser (ae, vae, map with its validated defaults), at batch 1
and batch 64: the median over repeated runs, printed as a table.

    python -m bench.denoise_speed [--repeats 7] [--threads N] [--sweep]

Inputs are test images at noise 0.5 (the default figure level). Batch 1 is the demo's case (one
drawing): MAP there is a few dozen decoder calls on (restarts) rows, so per-call overhead dominates.
--sweep adds MAP on one image for several (steps, restarts): the cost per step for 1 to 8 restarts.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from core import data
from core.denoising import denoise


def time_call(fn, repeats: int) -> list[float]:
    fn()  # warm-up: first calls pay for allocations and oneDNN kernel selection
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--sweep", action="store_true", help="MAP on one image over steps x restarts")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    den = denoise.Denoisers.load()
    x, _ = data.load_mnist("test")
    level = data.DEFAULT_NOISE_LEVEL
    noisy = data.add_noise(x[:64], level, seed=data.NOISE_SEED)
    policy = den.defaults.settings(level)
    print(f"torch threads {torch.get_num_threads()}; MAP: beta {policy.beta:.3g} (noise {level}), "
          f"{policy.steps} L-BFGS iterations, {policy.restarts} restarts; "
          f"median of {args.repeats} runs")
    print(f"{'method':8s} {'batch':>5s} {'ms/image':>10s} {'ms/call':>10s}")
    one_image = {}
    for method in denoise.METHODS:
        for batch in (1, 64):
            xb = noisy[:batch]
            t = statistics.median(time_call(lambda: den(method, xb, noise_level=level), args.repeats))
            if batch == 1:
                one_image[method] = t
            print(f"{method:8s} {batch:5d} {1000 * t / batch:10.2f} {1000 * t:10.1f}")
    t_all = statistics.median(time_call(lambda: den.all(noisy[:1], noise_level=level), args.repeats))
    print(f"all three for one image: {1000 * t_all:.1f} ms (median)")
    if args.sweep:
        print("MAP on one image, ms per call (ms per L-BFGS step):")
        print(f"{'steps':>6s} " + " ".join(f"{f'{r} restarts':>18s}" for r in (1, 2, 4, 8)))
        for steps in (10, 20, 30, 50):
            cells = []
            for restarts in (1, 2, 4, 8):
                t = statistics.median(time_call(lambda: den("map", noisy[:1], noise_level=level, steps=steps,
                                                              restarts=restarts), args.repeats))
                cells.append(f"{1000 * t:8.1f} ({1000 * t / steps:5.2f})")
            print(f"{steps:6d} " + " ".join(f"{c:>18s}" for c in cells))


if __name__ == "__main__":
    main()
