"""The batched MALA sampler against Pyro's NUTS, a well-kept reference, on a few validation images.

    python -m bench.posterior_reference [--images 4] [--level 0.5] [--warmup 300] [--samples 600]

Both sample the same energy (core.denoising.posterior.sampler.Target: the clipping-aware
likelihood with MAP's validated beta and the N(0, I) prior) for each image, NUTS one image at a
time from the best MAP restart, MALA with the chosen budget (results/posterior.json) from MAP's
restarts. Printed per image: the largest distance between the two posterior means over the 16
latent dimensions in NUTS posterior sds, the median ratio of the two samplers' posterior sds, and
the PSNR of each posterior mean image against the clean digit; with seconds for each. Validation
images (training split), one thread.
"""
from __future__ import annotations

import argparse
import os
import time

import torch

from core import data, metrics
from core.denoising import baselines
from core.denoising.denoise import Denoisers
from core.denoising.posterior import artifact, estimate
from core.denoising.posterior.sampler import SamplerSettings, Target


def nuts(den, x, level, beta, start, warmup: int, samples: int, seed: int = 0) -> torch.Tensor:
    from pyro.infer import MCMC, NUTS

    target = Target(den.vae.decode, x, beta, noise_std=level)
    torch.manual_seed(seed)  # Pyro draws from torch's global generator

    def potential(params):
        return target.energy(params["z"][None], x, None)[0][0]

    mcmc = MCMC(NUTS(potential_fn=potential, adapt_mass_matrix=True), warmup_steps=warmup, num_samples=samples,
                initial_params={"z": start.clone()}, disable_progbar=True)
    mcmc.run()
    return mcmc.get_samples()["z"]  # [samples, d]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--level", type=float, default=0.5)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--samples", type=int, default=600)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    den = Denoisers.load()
    for p in den.vae.parameters():
        p.requires_grad_(False)
    try:
        settings = SamplerSettings(**artifact.load_artifact()["params"]["settings"])
    except Exception:  # no current artifact: the budget in the code
        settings = estimate.BATCH
    clean = baselines.validation_set(args.images)
    noisy = data.add_noise(clean, args.level, seed=baselines.VAL_NOISE_SEED)
    print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; noise {args.level}; "
          f"NUTS {args.warmup} warm-up + {args.samples} draws per image; MALA {settings}")
    t0 = time.perf_counter()
    mala = estimate.posterior(den, noisy, noise_level=args.level, settings=settings)
    t_mala = time.perf_counter() - t0
    beta = mala.params["beta"]
    z_mala = mala.z.permute(0, 2, 1, 3).reshape(-1, len(noisy), mala.z.shape[-1])  # [keep * chains, N, d]
    best = mala.map.restart_losses[-1].argmin(0)
    print(f"MALA: {t_mala:.1f} s for {len(noisy)} images together")
    print(f"{'image':>5} {'max |mean diff| / sd':>21} {'median sd ratio':>16} {'PSNR MALA':>10} {'PSNR NUTS':>10} {'NUTS s':>7}")
    for i in range(len(noisy)):
        t0 = time.perf_counter()
        z = nuts(den, noisy[i:i + 1], args.level, beta, mala.map.restart_z[-1][best[i], i], args.warmup, args.samples)
        t_nuts = time.perf_counter() - t0
        sd = z.std(0)
        diff = ((z_mala[:, i].mean(0) - z.mean(0)).abs() / sd).max()
        ratio = (z_mala[:, i].std(0) / sd).median()
        with torch.inference_mode():
            mean_nuts = den.vae.decode(z).mean(0, keepdim=True).clamp(0, 1)
        print(f"{i:5d} {float(diff):21.2f} {float(ratio):16.2f} {float(metrics.psnr(mala.mean[i:i + 1], clean[i:i + 1])):10.2f} "
              f"{float(metrics.psnr(mean_nuts, clean[i:i + 1])):10.2f} {t_nuts:7.1f}", flush=True)


if __name__ == "__main__":
    main()
