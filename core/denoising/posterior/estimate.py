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
SINGLE = SamplerSettings(chains=8, burn_in=30, keep=30, adapt_window=15)


def posterior(den: Denoisers, x_noisy, *, noise_level: float | None = None, mask=None,
              settings: SamplerSettings = BATCH, seed: int | None = None, single_image: bool = False,
              found=None, beta: float | None = None) -> PosteriorResult:
    """The latent posterior of each image of x_noisy [N,1,28,28] under the VAE prior.

    noise_level: the Gaussian noise's std (clipping-aware likelihood, beta validated for it);
    None: an unknown corruption, plain likelihood with the defaults' beta. mask: 1 = observed.
    seed: MAP's restarts and the chains' draws (None: settings.seed). The result carries MAP's
    result as `.map` (the chains' starting modes). found: a MAP result already computed for x_noisy
    with every restart kept (all_restarts=True) and the same likelihood, e.g. the demo's; then beta
    must be the one it used (None: the validated one)."""
    seed = settings.seed if seed is None else int(seed)
    t0 = time.perf_counter()
    x = as_images(x_noisy)
    clip = noise_level is not None and noise_level > 0
    policy = den.defaults.settings(noise_level, clip_aware=clip, single_image=single_image)
    beta = policy.beta if beta is None else float(beta)
    noise_std = float(noise_level) if clip else None
    if found is None:
        with torch.inference_mode():
            init = den.vae.encode(x).float().clone()
        found = map_estimate(den.vae.decode, x, beta=beta, steps=policy.steps, restarts=policy.restarts,
                             mask=mask, seed=seed, init=init, noise_std=noise_std, all_restarts=True)
    elif found.restart_z is None:
        raise ValueError("found must keep every restart (map_estimate(..., all_restarts=True))")
    starts = found.restart_z[-1]  # [restarts, N, d]
    res = sample(den.vae.decode, x, variance=beta, starts=starts, noise_std=noise_std, mask=mask,
                 settings=replace(settings, seed=seed))  # one seed for both
    res.map = found
    res.seconds = time.perf_counter() - t0
    res.params.update(beta=beta, map_steps=found.params.get("steps"), map_restarts=found.params.get("restarts"),
                      noise_level=noise_level)
    return res
