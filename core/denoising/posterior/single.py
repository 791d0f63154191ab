"""The posterior for one drawing (the demo): mean, sd map, a few draws, the top digits, and a plain
warning when the misspecification test fires.

    out = single.for_drawing(den, x_noisy, noise_level=0.5)        # or mask=... for missing pixels
    out.mean, out.std, out.draws, out.label_probs, out.flagged, out.warning, out.ms

The budget is estimate.SINGLE (a latency budget: the posterior's own work within 300 ms for one
drawing on one thread, `python -m bench.posterior_speed` measures it). The flag's threshold is the
FALSE_ALARM upper quantile of the misfit of validation digits (training images of the filters'
validation split, never test digits), each run exactly as the demo runs a drawing (this budget,
MAP's single-image policy), at the calibrated noise level nearest the drawing's: so it fires on
that share of real digits. Without a noise level (masks only) there is no calibrated threshold and
no flag. The calibration takes minutes, so it is shipped in results/cache/ and never computed
where it is read:

    python -m core.denoising.posterior.single --ship     # the calibration (about 10 min on one core)
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

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


CALIBRATION_N = 300                         # validation digits per noise level
CALIBRATION_LEVELS = (0.1, 0.2, 0.3, 0.5, 0.8)
CALIBRATION_NOISE_SEED = 7                  # the calibration's own noise draws


def misfit_threshold(calibration: dict | None, level: float | None) -> float | None:
    """The FALSE_ALARM upper quantile of the calibration's misfits ({"0.5": values, ...}) at the
    calibrated level nearest `level`; None without a noise level or a calibration."""
    if level is None or not calibration:
        return None
    nearest = min(calibration, key=lambda k: abs(float(k) - level))
    return float(torch.quantile(torch.as_tensor(calibration[nearest]).float(), 1 - FALSE_ALARM))


def measure_misfit(den, n: int = CALIBRATION_N, levels=CALIBRATION_LEVELS) -> dict[str, Tensor]:
    """The misfit of n validation digits per noise level, each run as the demo runs one drawing."""
    from tqdm.auto import tqdm

    from core import data
    from core.denoising import baselines

    clean = baselines.validation_set(n)
    out = {}
    for level in levels:
        noisy = data.add_noise(clean, level, seed=CALIBRATION_NOISE_SEED)
        out[f"{level:g}"] = torch.tensor([for_drawing(den, noisy[i:i + 1], noise_level=level).misfit
                                          for i in tqdm(range(n), desc=f"misfit at noise {level:g}")])
    return out


def calibration_job(den) -> dict:
    """The cache entry of `measure_misfit`, keyed by the VAE, MAP's defaults and the budget."""
    from core import paths

    return {"tag": "demo-posterior-misfit", "compute": lambda: measure_misfit(den),
            "depends_on": ["vae16", paths.CHECKPOINT_DIR / "denoise_defaults.json"],
            "params": {"n": CALIBRATION_N, "levels": CALIBRATION_LEVELS, "seed": CALIBRATION_NOISE_SEED,
                       "settings": asdict(estimate.SINGLE), "split": "baselines.validation_set"}}


def stored_calibration(den) -> dict | None:
    """The shipped (or cached) calibration for the current weights, or None: never computed here."""
    from core import cache

    job = calibration_job(den)
    return cache.stored(job["tag"], depends_on=job["depends_on"], params=job["params"])


def for_drawing(den, x_noisy, *, noise_level: float | None = None, mask=None, art: dict | None = None,
                calibration: dict | None = None, k: int = 4, seed: int = 0, found=None,
                beta: float | None = None) -> DrawingPosterior:
    """One image [1,1,28,28] (or [28,28]): its posterior summary for display. art: results/posterior.json
    (which digit-posterior form won the validation); calibration: `stored_calibration` (the flag's
    threshold; None: no flag). found, beta: the MAP already run on it (every restart kept) and its
    beta, whose restarts start the chains."""
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
    threshold = misfit_threshold(calibration, noise_level)
    flagged = threshold is not None and misfit > threshold
    pick = torch.linspace(0, len(draws) - 1, k).round().long()
    return DrawingPosterior(mean=res.mean[0], std=res.std[0], draws=draws[pick, 0],
                            label_probs={str(d): float(p) for d, p in enumerate(probs[0])}, misfit=misfit,
                            threshold=threshold, flagged=flagged, warning=WARNING if flagged else "", ms=ms)


def main(argv=None) -> None:
    import argparse

    from core import cache
    from core.denoising.denoise import Denoisers

    parser = argparse.ArgumentParser(description="The demo posterior's misfit threshold, calibrated on validation digits.")
    parser.add_argument("--ship", action="store_true", help="write the calibration to results/cache/ (committed)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.ship and not cache.may_ship("the posterior's calibration"):
        return
    job = calibration_job(Denoisers.load())
    if args.ship:
        print(f"shipped {cache.ship(**job)}")
    calibration = cache.cached(**job, shipped=True)
    for level, values in calibration.items():
        print(f"noise {level}: {len(values)} validation digits, misfit median {float(values.median()):.2f}, "
              f"threshold (the {100 * (1 - FALSE_ALARM):g} % quantile) {misfit_threshold(calibration, float(level)):.2f}")


if __name__ == "__main__":
    main()
