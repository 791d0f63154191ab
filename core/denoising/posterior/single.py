"""The posterior for one drawing (the demo): mean, sd map, a few draws, the top digits, and a plain
warning when the misspecification test fires.

    out = single.for_drawing(den, x_noisy, noise_level=0.5)        # or mask=... for missing pixels
    out.mean, out.std, out.draws, out.label_probs, out.flagged, out.warning, out.ms

The budget is estimate.SINGLE (a latency budget: the posterior's own work within 300 ms for one
drawing on one thread, `python -m bench.posterior_speed` measures it). The flag's threshold is the
FALSE_ALARM quantile of the test digits' misfit in results/posterior.json at the nearest measured
noise level, so it fires on that share of real digits; without a noise level (masks only) there
is no calibrated threshold and no flag.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import Tensor

from core.denoising.denoise import as_images
from core.denoising.posterior import claims, estimate

# The share of real (test) digits the warning fires on. A user's drawing is often bolder than MNIST's
# strokes (the misfit flags thickened test digits too), so the demo keeps false alarms rare; photo
# patches stay far above this threshold (the chapter's misfit figure, results/posterior.json).
FALSE_ALARM = 0.01
WARNING = "This does not look like a digit the model knows: its posterior cannot explain the image."


@dataclass
class DrawingPosterior:
    mean: Tensor                 # [1,28,28]
    std: Tensor                  # [1,28,28]
    draws: Tensor                # [k,1,28,28]
    label_probs: dict            # {"0": p, ..., "9": p}, for gr.Label
    misfit: float
    threshold: float | None
    flagged: bool
    warning: str
    ms: float                    # the posterior's own work (MAP init, sampling, draws, judge, misfit)


def misfit_threshold(art: dict, level: float | None) -> float | None:
    """The FALSE_ALARM upper quantile of the test digits' misfit at the measured level nearest `level`."""
    if level is None:
        return None
    measured = sorted(float(k.split("|")[1]) for k in art["misfit"] if k.startswith("clean|"))
    if not measured:
        return None
    nearest = min(measured, key=lambda m: abs(m - level))
    values = torch.tensor(art["misfit"][f"clean|{nearest}"])
    return float(torch.quantile(values, 1 - FALSE_ALARM))


def for_drawing(den, x_noisy, *, noise_level: float | None = None, mask=None, art: dict | None = None,
                k: int = 4, seed: int = 0, found=None, beta: float | None = None) -> DrawingPosterior:
    """One image [1,1,28,28] (or [28,28]): its posterior summary for display. found, beta: the MAP
    already run on it (every restart kept) and its beta, whose restarts start the chains."""
    t0 = time.perf_counter()
    res = estimate.posterior(den, x_noisy, noise_level=noise_level, mask=mask, settings=estimate.SINGLE,
                             seed=seed, single_image=True, found=found, beta=beta)
    draws = res.draws(den.vae.decode, 32)
    soft, vote = claims.digit_probabilities(draws)
    probs = vote if art and art.get("choice", {}).get("digit_posterior") == "vote" else soft
    x = as_images(x_noisy)
    misfit = float(claims.misfit(x, draws, noise_std=noise_level, variance=res.params["beta"],
                                 mask=None if mask is None else torch.as_tensor(mask).float().reshape(1, 1, 28, 28))[0])
    ms = 1000 * (time.perf_counter() - t0)
    threshold = misfit_threshold(art, noise_level) if art else None
    flagged = threshold is not None and misfit > threshold
    pick = torch.linspace(0, len(draws) - 1, k).round().long()
    return DrawingPosterior(mean=res.mean[0], std=res.std[0], draws=draws[pick, 0],
                            label_probs={str(d): float(p) for d, p in enumerate(probs[0])}, misfit=misfit,
                            threshold=threshold, flagged=flagged, warning=WARNING if flagged else "", ms=ms)
