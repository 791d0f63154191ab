"""The posterior measured on the scoreboard's test digits, and on digits and non-digits it should flag.

Per noise level, on the board's seeded test digits and noise (core.denoising.scoreboard.test_digits,
data.add_noise(..., seed=data.NOISE_SEED)), in the board's chunks of 50 images:
- the posterior mean as a denoiser (PSNR, SSIM, identity per judge) and paired against the MAP
  it started from (the board's clipping-aware MAP: same beta, steps, restarts and seeds);
- pixel credible intervals: how many clean pixels the posterior's 90 % interval covers, alone and
  with the decoder's model error (claims.ModelError);
- which digit: the judges read on posterior draws, against their reading of the noisy input;
- the misfit statistic (claims.misfit), also on rotated, shifted, thinned and thickened digits,
  letters and photograph patches (nondigits), for its AUROC;
- R-hat, ESS and time per image.
"""
from __future__ import annotations

import time

import torch

from core import data, metrics
from core.denoising import judge
from core.denoising.posterior import claims
from core.denoising.posterior.diagnostics import RHAT_LIMIT, ece, interval, reliability

CHUNK = 50           # as the scoreboard: seeded restarts and chains do not depend on n
DRAWS = 64           # decoded draws per image for intervals and the judges
LEVEL = 0.9          # credible level of the pixel intervals
BINS = 10            # reliability-diagram bins


def judges() -> tuple[str, ...]:
    """The judges that read identity: the scoreboard's, and a second independent one where shipped."""
    names = getattr(judge, "NAMES", (judge.NAME,))
    return tuple(names)


def run_chunk(den, clean, labels, level: float, settings, model_error: "claims.ModelError",
              judge_names=None) -> dict:
    """Everything measured on one chunk of images (labels -1: not digits). Tensors per image."""
    from core.denoising.posterior.estimate import posterior

    judge_names = judge_names or judges()
    noisy = data.add_noise(clean, level, seed=data.NOISE_SEED)
    t0 = time.perf_counter()
    res = posterior(den, noisy, noise_level=level, settings=settings)
    seconds = time.perf_counter() - t0
    draws = res.draws(den.vae.decode, DRAWS)
    out = {"psnr": metrics.psnr(res.mean, clean), "psnr_map": metrics.psnr(res.map.x_hat, clean),
           "ssim": metrics.ssim(res.mean, clean), "misfit": claims.misfit(noisy, draws, noise_std=level),
           "seconds": torch.full((len(clean),), seconds / len(clean)), **res.diagnostics()}
    ink = clean > 0
    for name, (lo, hi) in (("posterior", interval(draws, LEVEL)), ("predictive", model_error.interval(draws, LEVEL))):
        inside = ((clean >= lo) & (clean <= hi)).float()
        out[f"cover_{name}"] = inside.flatten(1).mean(1)
        out[f"cover_{name}_ink"] = (inside * ink).flatten(1).sum(1)  # a count: pooled over images below
    out["ink"] = ink.float().flatten(1).sum(1)
    for name in judge_names:
        model = judge.load(name)
        with torch.inference_mode():
            out[f"kept_{name}"] = (model.read(res.mean)[0] == labels).float()
            out[f"kept_map_{name}"] = (model.read(res.map.x_hat)[0] == labels).float()
        soft, vote = claims.digit_probabilities(draws, name)
        for kind, probs in (("posterior", soft), ("vote", vote), ("input", claims.input_probabilities(noisy, name))):
            conf, pred = probs.max(1)
            out[f"conf_{kind}_{name}"], out[f"right_{kind}_{name}"] = conf, (pred == labels).float()
    return out


def measure(den, clean, labels, level: float, settings, model_error, judge_names=None, progress=None) -> dict:
    """run_chunk over chunks of CHUNK images, concatenated."""
    parts = []
    for i in range(0, len(clean), CHUNK):
        parts.append(run_chunk(den, clean[i:i + CHUNK], labels[i:i + CHUNK], level, settings, model_error,
                               judge_names))
        if progress:
            progress.update(min(CHUNK, len(clean) - i))
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


def summary(per: dict, level: float, condition: str, judge_names) -> dict:
    """One board row (the scoreboard's schema, method "posterior_mean") plus the posterior's own
    figures, from measure()'s per-image values."""
    n = len(per["psnr"])
    first = judge_names[0]
    gain = per["psnr"] - per["psnr_map"]
    row = {"method": "posterior_mean", "level": level, "condition": condition, "n": n,
           "psnr": float(per["psnr"].mean()), "psnr_se": float(per["psnr"].std() / n ** 0.5),
           "ssim": float(per["ssim"].mean()), "identity": float(per[f"kept_{first}"].mean()),
           "ms_per_image": 1000 * float(per["seconds"].mean()),
           "psnr_sub": float(per["psnr"][:CHUNK].mean()), "identity_sub": float(per[f"kept_{first}"][:CHUNK].mean()),
           "n_sub": min(n, CHUNK),
           "identity_by_judge": {j: float(per[f"kept_{j}"].mean()) for j in judge_names},
           "map_clip": {"psnr": float(per["psnr_map"].mean()),
                        "identity_by_judge": {j: float(per[f"kept_map_{j}"].mean()) for j in judge_names}},
           "gain_vs_map": float(gain.mean()), "gain_vs_map_se": float(gain.std() / n ** 0.5),
           "better_than_map": float((gain > 0).float().mean()),
           "coverage": {**{k: float(per[f"cover_{k}"].mean()) for k in ("posterior", "predictive")},
                        **{f"{k}_ink": float(per[f"cover_{k}_ink"].sum() / per["ink"].sum())
                           for k in ("posterior", "predictive")}},
           "diagnostics": {"rhat_median": float(per["rhat"].median()),
                           "rhat_over_1.1": float((per["rhat"] > RHAT_LIMIT).float().mean()),
                           "rhat_over_1.01": float((per["rhat"] > 1.01).float().mean()),
                           "ess_median": float(per["ess"].median()),
                           "ess_per_s_median": float((per["ess"] / per["seconds"]).median())}}
    if len(judge_names) > 1:
        reads = torch.stack([per[f"kept_{j}"] for j in judge_names])
        row["identity_all_judges"] = float(reads.min(0).values.mean())
    row["calibration"] = {j: {kind: {"ece": ece(per[f"conf_{kind}_{j}"], per[f"right_{kind}_{j}"], BINS),
                                     "accuracy": float(per[f"right_{kind}_{j}"].mean()),
                                     "confidence": float(per[f"conf_{kind}_{j}"].mean()),
                                     "bins": reliability(per[f"conf_{kind}_{j}"], per[f"right_{kind}_{j}"], BINS)}
                                for kind in ("posterior", "vote", "input")} for j in judge_names}
    return row


def probe(per: dict, judge_names, k: int = 20) -> dict:
    """The recomputable slice: means over the first k images (a sampler on another CPU draws other
    chains, so single images are not compared; tests/test_posterior.py compares these means)."""
    first = judge_names[0]
    return {"n": k, "psnr": round(float(per["psnr"][:k].mean()), 4),
            "psnr_map": round(float(per["psnr_map"][:k].mean()), 4),
            "misfit": round(float(per["misfit"][:k].mean()), 3),
            "conf_posterior": round(float(per[f"conf_posterior_{first}"][:k].mean()), 4),
            "cover_predictive": round(float(per["cover_predictive"][:k].mean()), 4)}
