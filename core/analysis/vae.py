"""A7/A8 analyses: the VAEs' latent spaces, test NLL, and the measured denoiser comparison.

Expensive results are cached (core.cache), keyed by the checkpoints they read and their
parameters. The MAP defaults and the filters' sizes come from the validation study on training
images (core.denoising.study), read through `Denoisers.load().defaults`.
"""
from __future__ import annotations

import math

import torch

from core import data, metrics
from core.analysis import decode_grid, encode, latent_bounds
from core.cache import cached
from core.denoising import denoise
from core.denoising.study import LEVELS, gaussian_filter, median_filter, validation_noisy
from core.models import checkpoints

AE, VAE2, VAE16 = "spec_ae", "vae2", "vae16"
# Test: a fixed seeded subset of the test set for everything that optimises per image.
TEST_N, TEST_SEED = 1000, 0
NLL_N, NLL_K = 1000, 256  # importance samples per image for the IW bound


def test_set(n: int = TEST_N):
    """(x, y, indices): the fixed seeded subset of the test set."""
    x, y = data.load_mnist("test")
    idx = data.seeded_subset(len(x), n, TEST_SEED)
    return x[idx], y[idx], idx


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

    res = cached("a7-grids", compute, depends_on=[AE, VAE2], params={"n": n, "coverage": coverage})
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

    res = cached("a7-nll", compute, depends_on=[VAE2, VAE16], params={"n": n, "k": k, "seed": TEST_SEED})
    return [{"model": name, "latent dim": checkpoints.load_checkpoint(name)["model_config"]["latent_dim"],
             "negative ELBO (k=1)": float(r["neg_elbo"].mean()), f"IW bound (k={k})": float(r["iw_nll"].mean()),
             "± s.e.": float(r["iw_nll"].std() / math.sqrt(len(r["iw_nll"])))} for name, r in res.items()]


# --- A8: the measured comparison on the test subset ----------------------------------------------

METHOD_LABELS = {"noisy": "noisy input", **denoise.METHOD_TITLES, "map_clip": "MAP, clipping-aware",
                 "gaussian": "Gaussian filter", "median": "median filter"}


def outputs(x_noisy: torch.Tensor, level: float, den=None) -> dict[str, torch.Tensor]:
    """Every method's output for one batch of noisy images at a known noise level."""
    den = den or denoise.Denoisers.load()
    chosen = den.defaults.require()
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

    d = denoise.MapDefaults.read().record
    params = {k: d.get(k) for k in ("beta_by_noise", "beta_by_noise_clip", "steps", "restarts",
                                    "gauss_sigma_by_noise", "median_size_by_noise")}
    return cached("a8-compare", compute, depends_on=[AE, VAE16], params={"n": n, "levels": LEVELS, **params})


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


def examples_at(level: float = data.DEFAULT_NOISE_LEVEL) -> dict:
    """The examples (first test image per digit), noised at `level`, and every method's output,
    with MAP's loss history and latent path."""
    x, y = data.examples()
    noisy = data.add_noise(x, level, seed=data.NOISE_SEED)
    den = denoise.Denoisers.load()
    res = den("map", noisy, noise_level=level)
    return {"clean": x, "labels": y, "noisy": noisy, "outputs": outputs(noisy, level, den), "map": res}


def optimiser_comparison(level: float = data.DEFAULT_NOISE_LEVEL, steps: int = 100, n: int = 100) -> dict:
    """Mean MAP objective per iteration, L-BFGS vs Adam, on validation images (1 restart each)."""
    beta = denoise.MapDefaults.read().beta_for(level)

    def compute():
        _, noisy = validation_noisy(level)
        noisy = noisy[:n]
        den = denoise.Denoisers.load()
        out = {}
        for opt in ("lbfgs", "adam"):
            r = denoise.map_estimate(den.vae.decode, noisy, beta=beta, steps=steps, restarts=1, optimizer=opt,
                                     latent_dim=den.latent_dim, seed=0)
            out[opt] = r.loss_history.mean(1)
        return out

    return cached("a8-optimisers", compute, depends_on=[VAE16],
                  params={"level": level, "steps": steps, "n": n, "beta": f"{beta:.4g}"})


def inpainting(level: float = 0.0) -> dict:
    """MAP with a mask: the bottom half of each example is unobserved (set to 0)."""
    x, y = data.examples()
    mask = data.bottom_half_mask()
    observed = data.add_noise(x, level) * mask if level else x * mask
    den = denoise.Denoisers.load()
    return {"clean": x, "observed": observed, "mask": mask,
            "map": den("map", observed, mask=mask, noise_level=max(level, 0.1)).x_hat,
            "vae": den("vae", observed).x_hat}
