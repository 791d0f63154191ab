"""How far the posterior artifact's probe moves when the chains are drawn differently: the
tolerances of tests/test_posterior.py's probe check.

    python -m bench.posterior_probe [--seeds 5]

The probe (core.denoising.posterior.evaluate.probe) is a set of means over the first 20 test
digits at noise 0.5, of the board's first chunk of 50 (recomputed whole, as measured). Another CPU's rounding sends a sampler's chains along other paths, as another
seed does; this reruns the probe with seeds 0..N-1 (MAP's restarts and the chains both change) and
prints each value's largest distance from seed 0's. The test allows about twice that.
"""
from __future__ import annotations

import argparse
import os

import torch

from core.denoising.denoise import Denoisers
from core.denoising.posterior import artifact, claims, evaluate
from core.denoising.scoreboard import test_digits


def probe(den, settings, error, seed: int, k: int = 20) -> dict:
    """The probe as the artifact measured it: the whole first chunk (MAP's restarts and the chains
    are drawn for the chunk's images together), then the means over its first k images."""
    from dataclasses import replace

    clean, labels = test_digits(evaluate.CHUNK)
    per = evaluate.run_chunk(den, clean, labels, 0.5, replace(settings, seed=seed), error)
    return evaluate.probe(per, evaluate.judges(), k)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    art = artifact.load_artifact()
    from core.denoising.posterior.sampler import SamplerSettings

    settings = SamplerSettings(**art["params"]["settings"])
    error = claims.ModelError(torch.tensor(art["model_error"]))
    den = Denoisers.load()
    print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; settings {art['choice']['setting']}")
    runs = [probe(den, settings, error, s) for s in range(args.seeds)]
    print("artifact:", {k: v for k, v in art["probe"].items()})
    for s, r in enumerate(runs):
        print(f"seed {s}:", r)
    for key in runs[0]:
        if key == "n":
            continue
        spread = max(abs(r[key] - runs[0][key]) for r in runs)
        print(f"{key:18s} largest distance from seed 0: {spread:.4f}")


if __name__ == "__main__":
    main()
