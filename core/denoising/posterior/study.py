"""Choosing the sampler's budget on VALIDATION images (training images, never test images).

For each setting of GRID and each level of LEVELS, on the first VAL_N images of
core.denoising.baselines.validation_set() with its noise seed: the posterior mean's PSNR against
the MAP it starts from, R-hat, ESS, ESS per second and ms per image (one thread). The batch
budget chosen is the cheapest setting whose gain over MAP, averaged over the levels, is within
TOLERANCE_DB of the best setting's; the digit posterior's form (judge softmax averaged over draws,
or the share of draws read as each digit) is the one with the lower calibration error there.
"""
from __future__ import annotations

import time

import torch

from core import data, metrics
from core.denoising import baselines
from core.denoising.posterior import claims
from core.denoising.posterior.diagnostics import RHAT_LIMIT, ece
from core.denoising.posterior.sampler import SamplerSettings

LEVELS = (0.1, 0.3, 0.5, 0.8)
VAL_N = 50
TOLERANCE_DB = 0.02
GRID = (SamplerSettings(chains=8, burn_in=50, keep=50, adapt_window=25),
        SamplerSettings(chains=8, burn_in=100, keep=100, adapt_window=50),
        SamplerSettings(chains=8, burn_in=100, keep=100, adapt_window=50, mode_weights="equal"),
        SamplerSettings(chains=16, burn_in=100, keep=100, adapt_window=50),
        SamplerSettings(chains=16, burn_in=150, keep=200, adapt_window=50),
        SamplerSettings(chains=16, burn_in=150, keep=200, adapt_window=50, mode_weights="equal"))


def cost(s: SamplerSettings) -> int:
    """Decoder rows per image: what a setting costs."""
    return s.chains * (s.burn_in + s.keep)


def label(s: SamplerSettings) -> str:
    return f"{s.chains} chains x ({s.burn_in} + {s.keep}) steps, {s.mode_weights} starts"


def run(den, n: int = VAL_N, levels=LEVELS, grid=GRID, progress: bool = True) -> dict:
    """{"rows": one per (setting, level), "calibration": ECE of both digit-posterior forms}."""
    from tqdm.auto import tqdm

    from core.denoising.posterior.estimate import posterior

    clean_all = baselines.validation_set()
    clean = clean_all[:n]
    labels = _labels(n)
    rows, calib = [], {"posterior": [], "vote": [], "right_posterior": [], "right_vote": []}
    jobs = [(s, lv) for lv in levels for s in grid]
    for s, level in tqdm(jobs, desc="posterior budget (validation)", disable=not progress):
        noisy = data.add_noise(clean, level, seed=baselines.VAL_NOISE_SEED)
        t0 = time.perf_counter()
        res = posterior(den, noisy, noise_level=level, settings=s)
        seconds = (time.perf_counter() - t0) / n
        gain = metrics.psnr(res.mean, clean) - metrics.psnr(res.map.x_hat, clean)
        diag = res.diagnostics()
        rows.append({"setting": label(s), "chains": s.chains, "burn_in": s.burn_in, "keep": s.keep,
                     "mode_weights": s.mode_weights, "cost": cost(s), "level": level,
                     "psnr": float(metrics.psnr(res.mean, clean).mean()), "gain_vs_map": float(gain.mean()),
                     "gain_se": float(gain.std() / n ** 0.5), "ms_per_image": 1000 * seconds,
                     "rhat_median": float(diag["rhat"].median()),
                     "rhat_over_1.1": float((diag["rhat"] > RHAT_LIMIT).float().mean()),
                     "ess_median": float(diag["ess"].median()),
                     "ess_per_s_median": float((diag["ess"] / seconds).median()),
                     "accept": float(res.accept.mean())})
        if s == GRID[1] and level >= 0.5:  # the calibration question, at the levels of its goal
            draws = res.draws(den.vae.decode)
            for kind, probs in zip(("posterior", "vote"), claims.digit_probabilities(draws)):
                conf, pred = probs.max(1)
                calib[kind].append(conf)
                calib[f"right_{kind}"].append((pred == labels).float())
    out = {"rows": rows, "n": n, "levels": list(levels), "tolerance_db": TOLERANCE_DB,
           "images": f"the first {n} of core.denoising.baselines.validation_set() (training images), "
                     f"noise seed {baselines.VAL_NOISE_SEED}"}
    if calib["posterior"]:
        out["calibration_ece"] = {k: ece(torch.cat(calib[k]), torch.cat(calib[f"right_{k}"]))
                                  for k in ("posterior", "vote")}
    return out


def _labels(n: int) -> torch.Tensor:
    x, y = data.load_mnist("train")
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(baselines.VAL_SEED))[:n]
    return y[idx]


def choose(study: dict) -> dict:
    """The cheapest setting within TOLERANCE_DB of the best mean gain over levels, and the digit
    posterior's form with the lower validation ECE."""
    by = {}
    for r in study["rows"]:
        by.setdefault(r["setting"], []).append(r)
    mean_gain = {k: sum(r["gain_vs_map"] for r in v) / len(v) for k, v in by.items()}
    best = max(mean_gain.values())
    ok = [k for k, g in mean_gain.items() if g >= best - study["tolerance_db"]]
    pick = min(ok, key=lambda k: (by[k][0]["cost"], -mean_gain[k]))
    r = by[pick][0]
    form = min(study.get("calibration_ece", {"posterior": 0}).items(), key=lambda kv: kv[1])[0]
    return {"setting": pick, "chains": r["chains"], "burn_in": r["burn_in"], "keep": r["keep"],
            "mode_weights": r["mode_weights"], "mean_gain": mean_gain[pick], "best_gain": best,
            "digit_posterior": form}


def settings_of(choice: dict) -> SamplerSettings:
    for s in GRID:
        if label(s) == choice["setting"]:
            return s
    raise KeyError(f"{choice['setting']} is not in the grid")
