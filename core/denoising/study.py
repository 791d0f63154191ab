"""The validation study behind MAP's defaults (and the classical filters' sizes), on a VALIDATION
set of training images, never test images:

    python -m core.denoising.study --choose-defaults   # run it, write checkpoints/denoise_defaults.json
    python -m core.denoising.study --check             # is the committed file what its study implies?

PSNR of MAP vs beta per noise level (30 steps, 1 restart from the encoder's mean, plain and
clipping-aware), then at each level's chosen beta vs steps and restarts (every restart's path from
one `map_estimate(..., all_restarts=True)`); Gaussian sigma and median size per level. The defaults
file records the study, the grids it ran on and the hash of the weights; `MapDefaults.read` reads it.
"""
from __future__ import annotations

import argparse

import torch
from scipy import ndimage

from core import data, metrics
from core.cache import cached
from core.denoising.defaults import MapDefaults
from core.denoising.denoise import Denoisers, map_estimate
from core.models import checkpoints

VAE16 = "vae16"
LEVELS = (0.1, 0.3, 0.5, 0.8)           # noise levels of the A8 table
# Validation: a fixed seeded subset of TRAINING images, with noise from another seed than the
# test noise (data.NOISE_SEED = 0). The VAE saw these clean images in training, so the study
# measures the choice of beta on new noise, not on unseen digits; the test set stays untouched.
VAL_N, VAL_SEED, VAL_NOISE_SEED = 200, 2024, 1
BETAS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
STUDY_STEPS, STUDY_RESTARTS = (0, 5, 10, 20, 30, 50), (1, 2, 4, 8)
GAUSS_SIGMAS = (0.5, 0.75, 1.0, 1.5, 2.0)
MEDIAN_SIZES = (2, 3, 4, 5)
COMMAND = "python -m core.denoising.study --choose-defaults"
CHOSEN_KEYS = ("beta_by_noise", "beta_by_noise_clip", "beta", "steps", "restarts", "single_image",
               "gauss_sigma_by_noise", "median_size_by_noise")


# --- the classical baselines -------------------------------------------------------------------

def gaussian_filter(x: torch.Tensor, sigma: float) -> torch.Tensor:
    arr = ndimage.gaussian_filter(x.numpy(), sigma=(0, 0, sigma, sigma), mode="constant")
    return torch.from_numpy(arr).clamp(0, 1)


def median_filter(x: torch.Tensor, size: int) -> torch.Tensor:
    arr = ndimage.median_filter(x.numpy(), size=(1, 1, size, size), mode="constant")
    return torch.from_numpy(arr)


# --- the validation set --------------------------------------------------------------------------

def validation_set(n: int = VAL_N):
    """(x, y, indices): the fixed seeded subset of training images the study runs on."""
    x, y = data.load_mnist("train")
    idx = data.seeded_subset(len(x), n, VAL_SEED)
    return x[idx], y[idx], idx


def validation_noisy(level: float):
    """(clean, noisy) validation images at a noise level (noise seed VAL_NOISE_SEED)."""
    x, _, _ = validation_set()
    return x, data.add_noise(x, level, seed=VAL_NOISE_SEED)


def _psnr(est, clean) -> float:
    return float(metrics.psnr(est, clean).mean())


# --- the study -----------------------------------------------------------------------------------

def validation_study(directory=None) -> dict:
    """The study's PSNR tables (tensors), for the vae16 in `directory` (default: the checkpoints)."""
    def compute():
        den = Denoisers.load(directory)
        dec = den.vae.decode
        out = {"betas": torch.tensor(BETAS), "levels": torch.tensor(LEVELS)}
        beta_psnr = torch.zeros(len(LEVELS), len(BETAS))
        beta_psnr_clip = torch.zeros(len(LEVELS), len(BETAS))
        grid = torch.zeros(len(LEVELS), len(STUDY_STEPS), len(STUDY_RESTARTS))
        gauss = torch.zeros(len(LEVELS), len(GAUSS_SIGMAS))
        median = torch.zeros(len(LEVELS), len(MEDIAN_SIZES))
        for i, level in enumerate(LEVELS):
            clean, noisy = validation_noisy(level)
            with torch.inference_mode():
                init = den.vae.encode(noisy).clone()
            for j, beta in enumerate(BETAS):
                for table, noise_std in ((beta_psnr, None), (beta_psnr_clip, level)):
                    r = map_estimate(dec, noisy, beta=beta, steps=30, restarts=1, init=init, noise_std=noise_std)
                    with torch.inference_mode():
                        table[i, j] = _psnr(dec(r.z), clean)
            beta = BETAS[int(beta_psnr[i].argmax())]
            r = map_estimate(dec, noisy, beta=beta, steps=max(STUDY_STEPS), restarts=max(STUDY_RESTARTS),
                             init=init, all_restarts=True)
            f, z = r.restart_losses, r.restart_z
            for a, s in enumerate(STUDY_STEPS):
                for b, n_restarts in enumerate(STUDY_RESTARTS):
                    best = f[s, :n_restarts].argmin(0)  # the best of the first r restarts after s steps
                    with torch.inference_mode():
                        grid[i, a, b] = _psnr(dec(z[s, best, torch.arange(len(clean))]), clean)
            gauss[i] = torch.tensor([_psnr(gaussian_filter(noisy, s), clean) for s in GAUSS_SIGMAS])
            median[i] = torch.tensor([_psnr(median_filter(noisy, m), clean) for m in MEDIAN_SIZES])
        out.update(beta_psnr=beta_psnr, beta_psnr_clip=beta_psnr_clip, steps_restarts=grid, gauss=gauss, median=median)
        return out

    params = {"n": VAL_N, "seed": VAL_SEED, "noise_seed": VAL_NOISE_SEED, "betas": BETAS, "levels": LEVELS,
              "steps": STUDY_STEPS, "restarts": STUDY_RESTARTS, "gauss": GAUSS_SIGMAS, "median": MEDIAN_SIZES}
    return cached("denoise-validation", compute, depends_on=[VAE16], params=params, checkpoint_dir=directory)


def choose(study: dict, tolerance_db: float = 0.05, grids: dict | None = None) -> dict:
    """The defaults the study implies: per level the best beta, sigma and median size; one
    (steps, restarts) for all levels = the cheapest (steps x restarts) whose mean PSNR over the
    levels is within `tolerance_db` of the best in the grid. `grids`: the grids the study ran on
    (as recorded in the defaults file); default: this module's."""
    g = grids or {}
    betas, levels = g.get("betas", BETAS), g.get("levels", LEVELS)
    steps_grid, restarts_grid = g.get("steps", STUDY_STEPS), g.get("restarts", STUDY_RESTARTS)
    sigmas, sizes = g.get("gauss_sigmas", GAUSS_SIGMAS), g.get("median_sizes", MEDIAN_SIZES)

    def best_of(key, values):
        return {str(lvl): values[int(study[key][i].argmax())] for i, lvl in enumerate(levels)}

    mean_grid = study["steps_restarts"].mean(0)  # [steps, restarts]
    best = float(mean_grid.max())
    good = [(s, r) for a, s in enumerate(steps_grid) for b, r in enumerate(restarts_grid)
            if float(mean_grid[a, b]) >= best - tolerance_db]
    # Many images at once (the report): every restart of every image is a row of the decoder's
    # batch, so the cost is steps x restarts. One image at a time (the demo): the restarts share
    # one small decoder batch, so more of them make a step only a little dearer (measured with
    # bench/denoise_speed.py --sweep, see the README) and latency follows the steps: the fewest
    # steps, then the fewest restarts.
    steps, restarts = min(good, key=lambda sr: (sr[0] * sr[1], sr))
    single_steps, single_restarts = min(good)
    beta_by = best_of("beta_psnr", betas)
    return {"beta_by_noise": beta_by, "beta": beta_by[str(data.DEFAULT_NOISE_LEVEL)],
            "beta_by_noise_clip": best_of("beta_psnr_clip", betas), "steps": steps, "restarts": restarts,
            "single_image": {"steps": single_steps, "restarts": single_restarts},
            "gauss_sigma_by_noise": best_of("gauss", sigmas), "median_size_by_noise": best_of("median", sizes),
            "tolerance_db": tolerance_db}


def choose_defaults(write: bool = True, directory=None) -> dict:
    """Run the validation study for the vae16 in `directory` and write it, with the defaults it
    implies, beside those weights (denoise_defaults.json: small, committed; the demo and the
    chapter read it)."""
    study = validation_study(directory)
    chosen = choose(study)
    chosen.update(vae16_sha256=checkpoints.sha256(checkpoints.path(VAE16, directory)),
                  validation=f"{VAL_N} training images (randperm seed {VAL_SEED}), noise seed {VAL_NOISE_SEED}",
                  command=COMMAND, study={k: v.tolist() for k, v in study.items()},
                  grids={"betas": BETAS, "steps": STUDY_STEPS, "restarts": STUDY_RESTARTS,
                         "gauss_sigmas": GAUSS_SIGMAS, "median_sizes": MEDIAN_SIZES, "levels": LEVELS})
    if write:
        checkpoints.write_json(chosen, MapDefaults.path(directory))
    return chosen


def saved_study(defaults: MapDefaults | None = None) -> dict:
    """The validation study as recorded in the defaults file (tensors), without recomputing it."""
    saved = (defaults or MapDefaults.read()).require()
    if "study" not in saved:
        raise ValueError(f"{MapDefaults.path()} records no study; rerun `{COMMAND}`")
    return {k: torch.tensor(v) for k, v in saved["study"].items()}


def defaults_check(directory=None) -> dict:
    """Is the committed defaults file current? Its weights hash must be the vae16's beside it, and
    the defaults must be what `choose` derives from the recorded study."""
    defaults = MapDefaults.read(directory)
    saved = defaults.require()
    derived = choose(saved_study(defaults), saved.get("tolerance_db", 0.05), saved.get("grids"))
    same_weights = saved.get("vae16_sha256") == checkpoints.sha256(checkpoints.path(VAE16, directory))
    return {"saved": saved, "derived": derived, "same_weights": same_weights,
            "match": same_weights and all(saved.get(k) == derived[k] for k in CHOSEN_KEYS)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="MAP's validation study: choose and check its defaults.")
    parser.add_argument("--choose-defaults", action="store_true",
                        help="run the validation study and write denoise_defaults.json beside the weights")
    parser.add_argument("--check", action="store_true",
                        help="check that the committed defaults are what their recorded study implies")
    parser.add_argument("--checkpoints", default=None, help="the weights' folder (default: checkpoints/)")
    args = parser.parse_args(argv)
    if args.choose_defaults:
        chosen = choose_defaults(directory=args.checkpoints)
        print(f"wrote {MapDefaults.path(args.checkpoints)}:")
        for k in CHOSEN_KEYS:
            print(f"  {k}: {chosen[k]}")
    elif args.check:
        result = defaults_check(args.checkpoints)
        print(f"{MapDefaults.path(args.checkpoints)}: weights {'current' if result['same_weights'] else 'CHANGED'}, "
              f"defaults {'match' if result['match'] else 'DO NOT match'} their study")
        if not result["match"]:
            raise SystemExit(1)
    else:
        parser.print_help()


if __name__ == "__main__":
    main()
