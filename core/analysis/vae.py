"""A7/A8 analyses: the VAEs' latent spaces, test NLL, and the measured denoiser comparison.

Expensive results are cached under .cache/vae/, keyed by the sha256 of the checkpoints they read
and by their parameters. The MAP defaults are chosen on a VALIDATION set of training images (never
test images) and written, with the study behind them, by

    python -m core.analysis.vae --choose-defaults     # -> checkpoints/denoise_defaults.json
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math

import numpy as np
import torch
from scipy import ndimage

from .. import checkpoints, data, denoise, metrics
from ..data import PROJECT_ROOT
import core.analysis as analysis
from . import batched, decode_grid, encode, latent_bounds

CACHE_DIR = PROJECT_ROOT / ".cache" / "vae"
AE, VAE2, VAE16 = "spec_ae", "vae2", "vae16"
LEVELS = (0.1, 0.3, 0.5, 0.8)           # noise levels of the A8 table
FIGURE_LEVEL = 0.5                      # the default figure level of EXERCISES.md
# Validation: a fixed seeded subset of TRAINING images, with noise from another seed than the
# test noise (data.NOISE_SEED = 0). The VAE saw these clean images in training, so the study
# measures the choice of beta on new noise, not on unseen digits; the test set stays untouched.
VAL_N, VAL_SEED, VAL_NOISE_SEED = 200, 2024, 1
BETAS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
STUDY_STEPS, STUDY_RESTARTS = (0, 5, 10, 20, 30, 50), (1, 2, 4, 8)
GAUSS_SIGMAS = (0.5, 0.75, 1.0, 1.5, 2.0)
MEDIAN_SIZES = (2, 3, 4, 5)
# Test: a fixed seeded subset of the test set for everything that optimises per image.
TEST_N, TEST_SEED = 1000, 0
NLL_N, NLL_K = 1000, 256  # importance samples per image for the IW bound


# --- caching -------------------------------------------------------------------------------------

def sha(name: str) -> str:
    return analysis.checkpoint_sha(name)[:16]


def cached(key: str, compute) -> dict:
    return analysis.cached(key, compute, CACHE_DIR)


def subset(split: str, n: int, seed: int):
    """(x, y, indices): a fixed seeded random subset of a split."""
    x, y = data.load_mnist(split)
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]
    return x[idx], y[idx], idx


def validation_set(n: int = VAL_N):
    return subset("train", n, VAL_SEED)


def test_set(n: int = TEST_N):
    return subset("test", n, TEST_SEED)


# --- A7: latent spaces ---------------------------------------------------------------------------

def latent_grids(n: int = 15, coverage: float = 0.98) -> dict:
    """Test latents (AE codes, VAE means) and decoded n x n grids over each one's central region,
    the same construction as A5 (latent_bounds on the test set, 1st..99th percentile)."""
    def compute():
        x, y = data.load_mnist("test")
        out = {"y": y.clone(), "n": n}
        for name in (AE, VAE2):
            model = checkpoints.load(name)
            z = encode(model, x)
            bounds = latent_bounds(z, coverage)
            out[name] = {"z": z, "bounds": torch.tensor(bounds), "images": decode_grid(model, bounds, n)}
        return out

    res = cached(f"grids-{sha(AE)}-{sha(VAE2)}-n{n}-c{coverage}", compute)
    for name in (AE, VAE2):
        res[name]["bounds"] = tuple(float(v) for v in res[name]["bounds"])
    return res


def empty_cells(z: torch.Tensor, bounds, n: int = 15) -> float:
    """Fraction of the n x n grid's cells (each tile's footprint on the latent axes) that hold
    no test code: tiles there decode points the decoder was never trained near."""
    x_min, x_max, y_min, y_max = bounds
    dx, dy = (x_max - x_min) / (n - 1), (y_max - y_min) / (n - 1)
    col = torch.floor((z[:, 0] - x_min) / dx + 0.5).long()
    row = torch.floor((z[:, 1] - y_min) / dy + 0.5).long()
    inside = (col >= 0) & (col < n) & (row >= 0) & (row < n)
    filled = torch.zeros(n * n, dtype=torch.bool)
    filled[(row[inside] * n + col[inside])] = True
    return float(1 - filled.float().mean())


def a7_numbers(grids: dict) -> dict:
    """The numbers A7(c)/(e) quote: where the codes lie and how much of each grid is empty."""
    z_ae, z_vae = grids[AE]["z"], grids[VAE2]["z"]
    return {"ae_on_axis": float((z_ae == 0).any(1).float().mean()),
            "ae_max": float(z_ae.max()), "vae_mean": z_vae.mean(0).tolist(), "vae_std": z_vae.std(0).tolist(),
            "vae_within_2": float((z_vae.norm(dim=1) < 2).float().mean()),
            "ae_empty": empty_cells(z_ae, grids[AE]["bounds"], grids["n"]),
            "vae_empty": empty_cells(z_vae, grids[VAE2]["bounds"], grids["n"])}


def active_units(name: str = VAE16, threshold: float = 0.01) -> dict:
    """Per latent dim: the variance over the test set of the posterior mean (Burda et al.'s
    activity); a dim below `threshold` is unused (the posterior equals the prior there)."""
    model = checkpoints.load(name)
    x, _ = data.load_mnist("test")
    var = encode(model, x).var(0)
    return {"variance": var, "active": int((var > threshold).sum()), "dims": len(var)}


# --- NLL -----------------------------------------------------------------------------------------

@torch.inference_mode()
def iw_bound(model, x: torch.Tensor, k: int = NLL_K, seed: int = 0, batch: int = 50) -> dict:
    """Per image (nats): the negative ELBO (1 sample) and the importance-weighted bound
    -log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x), z_i ~ q(z|x) (Burda et al. 2016), an upper bound
    on -log p(x) that tightens as k grows. p(x|z): the Bernoulli decoder (binary cross-entropy on
    grey levels, as in training)."""
    gen = torch.Generator().manual_seed(seed)
    iw, elbo = [], []
    for s in range(0, len(x), batch):
        xb = x[s:s + batch]
        mean, log_std = model.posterior(xb)
        n, d = mean.shape
        eps = torch.randn(k, n, d, generator=gen)
        z = mean + eps * log_std.exp()                               # [k, n, d]
        logits = model.decode_logits(z.reshape(k * n, d)).reshape(k, n, -1)
        target = xb.flatten(1).expand(k, n, -1)
        log_px = -torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1)
        log_pz = -0.5 * (z ** 2).sum(-1) - 0.5 * d * math.log(2 * math.pi)
        log_qz = (-0.5 * eps ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        w = log_px + log_pz - log_qz                                  # [k, n]
        iw.append(-(torch.logsumexp(w, 0) - math.log(k)))
        elbo.append(-w.mean(0))
    return {"iw_nll": torch.cat(iw), "neg_elbo": torch.cat(elbo)}


def nll_table(n: int = NLL_N, k: int = NLL_K) -> list[dict]:
    """Both VAEs on the same seeded test subset: mean negative ELBO and IW bound (nats/image)."""
    def compute():
        x, _, _ = test_set(n)
        return {name: iw_bound(checkpoints.load(name), x, k) for name in (VAE2, VAE16)}

    res = cached(f"nll-{sha(VAE2)}-{sha(VAE16)}-n{n}-k{k}", compute)
    return [{"model": name, "latent dim": checkpoints.load_checkpoint(name)["model_config"]["latent_dim"],
             "negative ELBO (k=1)": float(r["neg_elbo"].mean()), f"IW bound (k={k})": float(r["iw_nll"].mean()),
             "± s.e.": float(r["iw_nll"].std() / math.sqrt(len(r["iw_nll"])))} for name, r in res.items()]


# --- classical baselines -------------------------------------------------------------------------

def gaussian_filter(x: torch.Tensor, sigma: float) -> torch.Tensor:
    arr = ndimage.gaussian_filter(x.numpy(), sigma=(0, 0, sigma, sigma), mode="constant")
    return torch.from_numpy(arr).clamp(0, 1)


def median_filter(x: torch.Tensor, size: int) -> torch.Tensor:
    arr = ndimage.median_filter(x.numpy(), size=(1, 1, size, size), mode="constant")
    return torch.from_numpy(arr)


def _val_noisy(level: float):
    x, _, _ = validation_set()
    return x, data.add_noise(x, level, seed=VAL_NOISE_SEED)


def _psnr(est, clean) -> float:
    return float(metrics.psnr(est, clean).mean())


# --- the validation study (chooses beta, steps, restarts and the baselines' sizes) ---------------

def _lbfgs_all(decoder, init, x, beta, steps, restarts, seed=0, noise_std=None):
    """Every restart's path (unlike map_estimate, which keeps the best): f [S+1, R, N], z [S+1, R, N, d]."""
    n, d = init.shape
    z0 = torch.randn(restarts, n, d, generator=torch.Generator().manual_seed(seed))
    z0[0] = init
    f, z = denoise._lbfgs(decoder, z0.reshape(-1, d), x.repeat(restarts, 1, 1, 1), None, beta, steps,
                          noise_std=noise_std)
    return f.view(steps + 1, restarts, n), z.view(steps + 1, restarts, n, d)


def validation_study() -> dict:
    """PSNR on the validation set: MAP vs beta per noise level (30 steps, 1 restart from the
    encoder's mean), then at each
    level's chosen beta vs steps and restarts; Gaussian sigma and median size per level."""
    def compute():
        den = denoise.Denoisers.load()
        dec = den.vae.decode
        out = {"betas": torch.tensor(BETAS), "levels": torch.tensor(LEVELS)}
        beta_psnr = torch.zeros(len(LEVELS), len(BETAS))
        beta_psnr_clip = torch.zeros(len(LEVELS), len(BETAS))
        grid = torch.zeros(len(LEVELS), len(STUDY_STEPS), len(STUDY_RESTARTS))
        gauss = torch.zeros(len(LEVELS), len(GAUSS_SIGMAS))
        median = torch.zeros(len(LEVELS), len(MEDIAN_SIZES))
        for i, level in enumerate(LEVELS):
            clean, noisy = _val_noisy(level)
            with torch.inference_mode():
                init = den.vae.encode(noisy).clone()
            for j, beta in enumerate(BETAS):
                for table, noise_std in ((beta_psnr, None), (beta_psnr_clip, level)):
                    f, z = _lbfgs_all(dec, init, noisy, beta, 30, 1, noise_std=noise_std)
                    with torch.inference_mode():
                        table[i, j] = _psnr(dec(z[-1, 0]), clean)
            beta = BETAS[int(beta_psnr[i].argmax())]
            f, z = _lbfgs_all(dec, init, noisy, beta, max(STUDY_STEPS), max(STUDY_RESTARTS))
            for a, s in enumerate(STUDY_STEPS):
                for b, r in enumerate(STUDY_RESTARTS):
                    best = f[s, :r].argmin(0)  # the best of the first r restarts after s steps
                    with torch.inference_mode():
                        grid[i, a, b] = _psnr(dec(z[s, best, torch.arange(len(clean))]), clean)
            gauss[i] = torch.tensor([_psnr(gaussian_filter(noisy, s), clean) for s in GAUSS_SIGMAS])
            median[i] = torch.tensor([_psnr(median_filter(noisy, m), clean) for m in MEDIAN_SIZES])
        out.update(beta_psnr=beta_psnr, beta_psnr_clip=beta_psnr_clip, steps_restarts=grid, gauss=gauss, median=median)
        return out

    return cached(f"validation-{sha(VAE16)}-n{VAL_N}-s{VAL_SEED}-{VAL_NOISE_SEED}-v2", compute)


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
    # one small decoder batch, so more of them make a step only a little dearer (one thread: 2.5 ms
    # per step with 2 restarts, 3.0 ms with 8; bench/denoise_speed.py --sweep) and latency follows
    # the steps: the fewest steps, then the fewest restarts.
    steps, restarts = min(good, key=lambda sr: (sr[0] * sr[1], sr))
    single_steps, single_restarts = min(good)
    beta_by = best_of("beta_psnr", betas)
    return {"beta_by_noise": beta_by, "beta": beta_by[str(FIGURE_LEVEL)],
            "beta_by_noise_clip": best_of("beta_psnr_clip", betas), "steps": steps, "restarts": restarts,
            "single_image": {"steps": single_steps, "restarts": single_restarts},
            "gauss_sigma_by_noise": best_of("gauss", sigmas), "median_size_by_noise": best_of("median", sizes),
            "tolerance_db": tolerance_db}


def choose_defaults(write: bool = True) -> dict:
    """Run the validation study and write it, with the defaults it implies, to
    checkpoints/denoise_defaults.json (small, committed: the demo and the chapter read it)."""
    study = validation_study()
    chosen = choose(study)
    chosen.update(vae16_sha256=checkpoints.sha256(checkpoints.path(VAE16)),
                  validation=f"{VAL_N} training images (randperm seed {VAL_SEED}), noise seed {VAL_NOISE_SEED}",
                  command="python -m core.analysis.vae --choose-defaults",
                  study={k: v.tolist() for k, v in study.items()},
                  grids={"betas": BETAS, "steps": STUDY_STEPS, "restarts": STUDY_RESTARTS,
                         "gauss_sigmas": GAUSS_SIGMAS, "median_sizes": MEDIAN_SIZES, "levels": LEVELS})
    if write:
        checkpoints.write_json(chosen, denoise.DEFAULTS_FILE)
        denoise.reload_defaults()
    return chosen


def saved_study() -> dict:
    """The validation study as recorded in the defaults file (tensors), without recomputing it."""
    saved = denoise._read_defaults()
    if not saved or "study" not in saved:
        raise FileNotFoundError(f"{denoise.DEFAULTS_FILE} is missing; run "
                                "`python -m core.analysis.vae --choose-defaults`")
    return {k: torch.tensor(v) for k, v in saved["study"].items()}


def defaults_check() -> dict:
    """Is the committed defaults file current? Its weights hash must be the shipped vae16's, and
    the defaults must be what `choose` derives from the recorded study."""
    saved = denoise._read_defaults() or {}
    derived = choose(saved_study(), saved.get("tolerance_db", 0.05), saved.get("grids"))
    keys = ("beta_by_noise", "beta_by_noise_clip", "beta", "steps", "restarts", "single_image",
            "gauss_sigma_by_noise", "median_size_by_noise")
    same_weights = saved.get("vae16_sha256") == checkpoints.sha256(checkpoints.path(VAE16))
    return {"saved": saved, "derived": derived, "same_weights": same_weights,
            "match": same_weights and all(saved.get(k) == derived[k] for k in keys)}


# --- A8: the measured comparison on the test subset ----------------------------------------------

METHOD_LABELS = {"noisy": "noisy input", **denoise.METHOD_TITLES, "map_clip": "MAP, clipping-aware",
                 "gaussian": "Gaussian filter", "median": "median filter"}


def outputs(x_noisy: torch.Tensor, level: float, den=None) -> dict[str, torch.Tensor]:
    """Every method's output for one batch of noisy images at a known noise level."""
    den = den or denoise.Denoisers.load()
    chosen = denoise._read_defaults()
    if not chosen:
        raise FileNotFoundError(f"{denoise.DEFAULTS_FILE} is missing; run "
                                "`python -m core.analysis.vae --choose-defaults`")
    out = {"noisy": x_noisy}
    out.update({m: den(m, x_noisy, noise_level=level).x_hat for m in denoise.METHODS})
    out["map_clip"] = den("map", x_noisy, noise_level=level, clip_aware=True).x_hat
    out["gaussian"] = gaussian_filter(x_noisy, chosen["gauss_sigma_by_noise"][str(level)])
    out["median"] = median_filter(x_noisy, chosen["median_size_by_noise"][str(level)])
    return out


def comparison(n: int = TEST_N) -> dict:
    """{level: {method: {"mse", "psnr", "ssim"} per image [n]}} on the seeded test subset."""
    def compute():
        x, _, _ = test_set(n)
        den = denoise.Denoisers.load()
        res = {}
        for level in LEVELS:
            noisy = data.add_noise(x, level, seed=data.NOISE_SEED)
            per = {}
            for method, est in outputs(noisy, level, den).items():
                per[method] = {"mse": metrics.mse(est, x), "psnr": metrics.psnr(est, x),
                               "ssim": metrics.ssim(est, x)}
            res[str(level)] = per
        return res

    d = denoise._read_defaults() or {}
    params = json.dumps({k: d.get(k) for k in ("beta_by_noise", "beta_by_noise_clip", "steps", "restarts",
                                                "gauss_sigma_by_noise", "median_size_by_noise")}, sort_keys=True)
    digest = hashlib.sha256(params.encode()).hexdigest()[:12]
    return cached(f"compare-{sha(AE)}-{sha(VAE16)}-n{n}-{digest}", compute)


def comparison_rows(res: dict) -> list[dict]:
    rows = []
    for level, per in res.items():
        for method, m in per.items():
            rows.append({"noise": float(level), "method": METHOD_LABELS[method],
                         "MSE": float(m["mse"].mean()), "PSNR (dB)": float(m["psnr"].mean()),
                         "SSIM": float(m["ssim"].mean())})
    return rows


def winners(res: dict, metric: str = "psnr") -> dict:
    """Per level: the best method by mean `metric`, and MAP minus VAE bottleneck (paired mean)."""
    out = {}
    for level, per in res.items():
        means = {m: float(v[metric].mean()) for m, v in per.items()}
        diff = per["map"][metric] - per["vae"][metric]
        out[float(level)] = {"best": max(means, key=means.get), "means": means,
                             "map_minus_vae": float(diff.mean()),
                             "map_minus_vae_se": float(diff.std() / math.sqrt(len(diff))),
                             "map_wins_fraction": float((diff > 0).float().mean())}
    return out


def examples_at(level: float = FIGURE_LEVEL) -> dict:
    """The examples (first test image per digit), noised at `level`, and every method's output,
    with MAP's loss history and latent path."""
    x, y = data.examples()
    noisy = data.add_noise(x, level, seed=data.NOISE_SEED)
    den = denoise.Denoisers.load()
    res = den("map", noisy, noise_level=level)
    return {"clean": x, "labels": y, "noisy": noisy, "outputs": outputs(noisy, level, den), "map": res}


def optimiser_comparison(level: float = FIGURE_LEVEL, steps: int = 100, n: int = 100) -> dict:
    """Mean MAP objective per iteration, L-BFGS vs Adam, on validation images (1 restart each)."""
    def compute():
        _, noisy = _val_noisy(level)
        noisy = noisy[:n]
        den = denoise.Denoisers.load()
        beta = denoise.beta_for(level)
        out = {}
        for opt in ("lbfgs", "adam"):
            r = denoise.map_estimate(den.vae.decode, noisy, beta=beta, steps=steps, restarts=1, optimizer=opt,
                                     latent_dim=den.latent_dim, seed=0)
            out[opt] = r.loss_history.mean(1)
        return out

    return cached(f"optim-{sha(VAE16)}-l{level}-s{steps}-n{n}-b{denoise.beta_for(level):.4g}", compute)


def inpainting(level: float = 0.0) -> dict:
    """MAP with a mask: the bottom half of each example is unobserved (set to 0)."""
    x, y = data.examples()
    mask = torch.ones(1, 1, 28, 28)
    mask[..., 14:, :] = 0
    observed = data.add_noise(x, level) * mask if level else x * mask
    den = denoise.Denoisers.load()
    return {"clean": x, "observed": observed, "mask": mask,
            "map": den("map", observed, mask=mask, noise_level=max(level, 0.1)).x_hat,
            "vae": den("vae", observed).x_hat}


def main(argv=None):
    parser = argparse.ArgumentParser(description="A7/A8 analyses.")
    parser.add_argument("--choose-defaults", action="store_true",
                        help="run the validation study and write checkpoints/denoise_defaults.json")
    args = parser.parse_args(argv)
    if args.choose_defaults:
        chosen = choose_defaults()
        print(f"wrote {denoise.DEFAULTS_FILE}:")
        for k in ("beta_by_noise", "beta_by_noise_clip", "beta", "steps", "restarts", "single_image",
                  "gauss_sigma_by_noise", "median_size_by_noise"):
            print(f"  {k}: {chosen[k]}")
    else:
        parser.print_help()


if __name__ == "__main__":
    main()
