"""Convergence diagnostics of the chains, and the scores of what the posterior claims.

    rhat(draws), ess(draws)          # draws [T, chains, ...] -> [...]: rank-normalised split R-hat, bulk ESS
    reliability(conf, correct)       # the reliability diagram's bins, and ece(...) from them
    coverage(lo, hi, clean)          # fraction of clean pixels inside their credible intervals
    auroc(inside, outside)           # how well a statistic separates two sets (0.5: not at all)

R-hat and ESS follow Vehtari, Gelman, Simpson, Carpenter & Buerkner (2021), the definitions of
Stan and ArviZ: chains split in halves, draws rank-normalised over all chains, the autocorrelation
sum truncated by Geyer's initial monotone sequence. Written here in torch because they run on
thousands of images x 16 latent dimensions at once, in one vectorised call (ArviZ works series by
series, and its current releases need a newer Python than the project's).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

RHAT_LIMIT = 1.1   # above it an image's chains have not mixed (the usual limit, Vehtari et al. 2021)


def _split(draws: Tensor) -> Tensor:
    """[T, C, ...] -> [T // 2, 2C, ...]: each chain's first and second half as two chains."""
    half = draws.shape[0] // 2
    return torch.cat([draws[:half], draws[draws.shape[0] - half:]], 1)


def _rank_normal(draws: Tensor) -> Tensor:
    """Normal scores of the ranks over all draws of all chains (per trailing index)."""
    t, c = draws.shape[:2]
    flat = draws.reshape(t * c, -1)
    ranks = flat.argsort(0).argsort(0).double() + 1
    scores = math.sqrt(2) * torch.erfinv(2 * (ranks - 0.375) / (t * c + 0.25) - 1)
    return scores.reshape(draws.shape)


def _rhat_raw(draws: Tensor) -> Tensor:
    t = draws.shape[0]
    chain_mean = draws.mean(0)
    within = draws.var(0).mean(0)
    between = t * chain_mean.var(0)
    var_plus = (t - 1) / t * within + between / t
    return (var_plus / within).sqrt()


def rhat(draws: Tensor) -> Tensor:
    """Rank-normalised split R-hat [...] of draws [T, C, ...]: the larger of the bulk and the
    folded (tails) values. Near 1 when the chains agree; above 1.01-1.1 they have not mixed."""
    split = _split(draws.double())
    bulk = _rhat_raw(_rank_normal(split))
    folded = _rhat_raw(_rank_normal((split - split.median(0).values.median(0).values).abs()))
    return torch.maximum(bulk, folded).float()


def _autocov(x: Tensor) -> Tensor:
    """Autocovariance along dim 0 of [T, ...] (biased, by FFT), lags 0..T-1."""
    t = x.shape[0]
    x = x - x.mean(0)
    f = torch.fft.rfft(x, n=2 * t, dim=0)
    return torch.fft.irfft(f * f.conj(), n=2 * t, dim=0)[:t] / t


def ess(draws: Tensor, rank_normalise: bool = True) -> Tensor:
    """Bulk effective sample size [...] of draws [T, C, ...] (split chains)."""
    x = _split(draws.double())
    if rank_normalise:
        x = _rank_normal(x)
    t, c = x.shape[:2]
    acov = _autocov(x)                                  # [T, C, ...]
    within = acov[0].mean(0) * t / (t - 1)
    var_plus = within * (t - 1) / t + (x.mean(0).var(0) if c > 1 else 0)
    rho = 1 - (within - acov.mean(1)) / var_plus        # [T, ...]; rho[0] = 1
    pairs = rho[: 2 * (t // 2)].reshape(t // 2, 2, *rho.shape[1:]).sum(1)  # Geyer's P_k = rho_2k + rho_2k+1
    positive = (pairs > 0).long().cumprod(0).bool()     # the initial positive sequence
    monotone = torch.where(positive, pairs, torch.full_like(pairs, float("inf"))).cummin(0).values
    tau = -1 + 2 * torch.where(positive, monotone, torch.zeros_like(pairs)).sum(0)
    n = t * c
    return (n / tau.clamp_min(1 / math.log10(n))).float()


def reliability(confidence: Tensor, correct: Tensor, bins: int = 10) -> list[dict]:
    """The reliability diagram's bins: equal-width confidence bins over [0, 1], each with its
    count, mean confidence and accuracy (empty bins left out)."""
    confidence, correct = confidence.float().flatten(), correct.float().flatten()
    which = (confidence * bins).long().clamp(0, bins - 1)
    out = []
    for b in range(bins):
        sel = which == b
        if sel.any():
            out.append({"lo": b / bins, "hi": (b + 1) / bins, "n": int(sel.sum()),
                        "confidence": float(confidence[sel].mean()), "accuracy": float(correct[sel].mean())})
    return out


def ece(confidence: Tensor, correct: Tensor, bins: int = 10) -> float:
    """Expected calibration error: sum over bins of (share of items) x |accuracy - confidence|."""
    n = confidence.numel()
    return sum(r["n"] / n * abs(r["accuracy"] - r["confidence"]) for r in reliability(confidence, correct, bins))


def interval(draws: Tensor, level: float = 0.9) -> tuple[Tensor, Tensor]:
    """Equal-tailed credible interval per pixel from draws [S, ...]."""
    q = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=draws.dtype)
    lo, hi = torch.quantile(draws, q, dim=0)
    return lo, hi


def coverage(lo: Tensor, hi: Tensor, clean: Tensor, where: Tensor | None = None) -> float:
    """Fraction of clean pixels inside [lo, hi] (only where `where` is True, if given)."""
    inside = (clean >= lo) & (clean <= hi)
    if where is not None:
        inside = inside[where]
    return float(inside.float().mean())


def auroc(inside: Tensor, outside: Tensor) -> float:
    """Area under the ROC curve of a statistic that should be larger `outside` (the probability
    that a random outside item scores above a random inside one; ties count half)."""
    from sklearn.metrics import roc_auc_score

    scores = torch.cat([inside.flatten(), outside.flatten()]).double().numpy()
    labels = [0] * inside.numel() + [1] * outside.numel()
    return float(roc_auc_score(labels, scores))
