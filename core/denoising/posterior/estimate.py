"""The posterior through the shipped 16-D VAE, with MAP's likelihoods and validated beta.

    from core.denoising.denoise import Denoisers
    from core.denoising.posterior import estimate
    den = Denoisers.load()
    res = estimate.posterior(den, x_noisy, noise_level=0.5)      # clipping-aware Gaussian noise
    res = estimate.posterior(den, x_noisy, mask=mask)             # missing pixels (erased, impulses)
    res.mean, res.std, res.map.x_hat, res.draws(den.vae.decode)

MAP (clipping-aware, its validated beta, steps and restarts, every restart kept) runs first; its
restart endpoints start the chains (core.denoising.posterior.sampler). The likelihood's variance
is MAP's beta, so the posterior's mode is MAP's answer.
"""
from __future__ import annotations

import time
from dataclasses import replace

import torch

from core.denoising.denoise import Denoisers, as_images, map_estimate
from core.denoising.posterior.sampler import PosteriorResult, SamplerSettings, sample

# Many images at once: the budget chosen on validation images by core.denoising.posterior.study
# (results/posterior.json records the study and its choice; a test checks the two agree).
BATCH = SamplerSettings(chains=8, burn_in=100, keep=100, adapt_window=50)
# One drawing in the demo: a latency budget (the posterior's own work within 300 ms on one thread,
# python -m bench.posterior_speed), not a validation choice.
SINGLE = SamplerSettings(chains=16, burn_in=40, keep=40, adapt_window=20)


def posterior(den: Denoisers, x_noisy, *, noise_level: float | None = None, mask=None,
              settings: SamplerSettings = BATCH, seed: int | None = None, single_image: bool = False) -> PosteriorResult:
    """The latent posterior of each image of x_noisy [N,1,28,28] under the VAE prior.

    noise_level: the Gaussian noise's std (clipping-aware likelihood, beta validated for it);
    None: an unknown corruption, plain likelihood with the defaults' beta. mask: 1 = observed.
    seed: MAP's restarts and the chains' draws (None: settings.seed). The result carries MAP's
    result as `.map` (the chains' starting modes)."""
    seed = settings.seed if seed is None else int(seed)
    t0 = time.perf_counter()
    x = as_images(x_noisy)
    clip = noise_level is not None and noise_level > 0
    policy = den.defaults.settings(noise_level, clip_aware=clip, single_image=single_image)
    with torch.inference_mode():
        init = den.vae.encode(x).float().clone()
    noise_std = float(noise_level) if clip else None
    found = map_estimate(den.vae.decode, x, beta=policy.beta, steps=policy.steps, restarts=policy.restarts,
                         mask=mask, seed=seed, init=init, noise_std=noise_std, all_restarts=True)
    starts = found.restart_z[-1]  # [restarts, N, d]
    res = sample(den.vae.decode, x, variance=policy.beta, starts=starts, noise_std=noise_std, mask=mask,
                 settings=replace(settings, seed=seed))  # one seed for both
    res.map = found
    res.seconds = time.perf_counter() - t0
    res.params.update(beta=policy.beta, map_steps=policy.steps, map_restarts=policy.restarts,
                      noise_level=noise_level)
    return res
