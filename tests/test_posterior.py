"""The posterior through the VAE prior: the sampler on a linear-Gaussian model whose posterior is
known in closed form, the diagnostics and scores on constructed cases, then the shipped artifact."""
import math

import pytest
import torch

from core import paths
from core.denoising.posterior import claims, diagnostics, evaluate, nondigits, study
from core.denoising.posterior.sampler import SamplerSettings, Target, _start, sample
from core.models import checkpoints


class Linear(torch.nn.Module):
    """g(z) = A z + 0.5, as images: with a Gaussian likelihood and the N(0, I) prior the posterior
    is Gaussian with precision A^T M A / variance + I (M: the mask)."""

    def __init__(self, d=4, seed=0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        a = 0.02 * torch.randn(784, d, generator=gen)
        a[:, 0] *= 3  # one well-determined direction, the others near the prior's width
        self.a = torch.nn.Parameter(a)

    def forward(self, z):
        return (z @ self.a.T + 0.5).view(-1, 1, 28, 28)


def closed_form(dec, y, variance, mask=None):
    a = dec.a.detach()
    m = torch.ones(784) if mask is None else mask.flatten()
    prec = a.T @ (m[:, None] * a) / variance + torch.eye(a.shape[1])
    cov = torch.linalg.inv(prec)
    mean = ((y.flatten(1) - 0.5) * m) @ a @ cov / variance
    return mean, cov


def observe(dec, n=6, seed=1):
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, dec.a.shape[1], generator=gen)
    with torch.no_grad():
        return (dec(z) + 0.2 * torch.randn(n, 1, 28, 28, generator=gen)).clamp(0, 1)


SETTINGS = SamplerSettings(chains=16, burn_in=200, keep=500, adapt_window=50)


def moments(res):
    z = res.z  # [keep, N, chains, d]
    mean = z.mean((0, 2))
    dev = z - mean[None, :, None]
    return mean, torch.einsum("kncd,knce->nde", dev, dev) / (z.shape[0] * z.shape[2])


@pytest.mark.parametrize("masked", [False, True])
def test_sampler_recovers_the_closed_form_posterior(masked):
    torch.set_num_threads(1)
    dec, variance = Linear(), 0.05
    y = observe(dec)
    mask = None
    if masked:  # the bottom half missing: the likelihood sees only the top half
        mask = torch.ones(1, 1, 28, 28)
        mask[..., 14:, :] = 0
    mean, cov = closed_form(dec, y, variance, mask)
    start = (mean + 1.0)[None]  # one sd or more off in every direction: burn-in must find it
    res = sample(dec, y, variance=variance, starts=start, mask=mask, settings=SETTINGS)
    got_mean, got_cov = moments(res)
    sd = cov.diagonal().sqrt()
    # Measured: mean error <= 0.05 sd, variances within 4 %, over seeds 0-3; without the
    # Metropolis correction or with a wrong drift the variances move by far more than 15 %.
    assert ((got_mean - mean) / sd).abs().max() < 0.2
    assert torch.allclose(got_cov.diagonal(dim1=1, dim2=2) / cov.diagonal(), torch.ones(4), atol=0.15)
    corr = cov / (sd[:, None] * sd[None])
    got_corr = got_cov / (sd[:, None] * sd[None])
    assert (got_corr - corr).abs().max() < 0.1
    assert 0.4 < float(res.accept.mean()) < 0.75
    # The decoded mean is the image of the latent mean (a linear decoder), its sd that of A z.
    a = dec.a.detach()
    assert torch.allclose(res.mean.flatten(1), (mean @ a.T + 0.5).clamp(0, 1), atol=0.01)
    want_sd = torch.einsum("pd,de,pe->p", a, cov, a).sqrt()
    assert torch.allclose(res.std[0].flatten(), want_sd, rtol=0.15, atol=1e-3)


def test_a_wrong_variance_gives_a_posterior_the_test_above_rejects():
    """The tolerances above can fail: sampling with twice the likelihood variance moves the
    variance of the well-determined direction by about twice, far outside 15 %."""
    dec, variance = Linear(), 0.05
    y = observe(dec)
    mean, cov = closed_form(dec, y, variance)
    res = sample(dec, y, variance=2 * variance, starts=mean[None], settings=SETTINGS)
    ratio = moments(res)[1].diagonal(dim1=1, dim2=2)[:, 0] / cov[0, 0]
    assert (ratio > 1.5).all()


def test_chains_start_at_restarts_in_proportion_to_their_laplace_evidence():
    dec, variance = Linear(), 0.05
    y = observe(dec, n=2)
    mean, _ = closed_form(dec, y, variance)
    starts = torch.stack([mean + 3.0, mean])  # restart 0 far worse than restart 1
    target = Target(dec, y, variance)
    gen = torch.Generator().manual_seed(0)
    _, _, pick = _start(target, starts, y, None, SamplerSettings(chains=8), gen)
    assert (pick == 1).all()
    _, _, pick = _start(target, starts, y, None, SamplerSettings(chains=8, mode_weights="equal"), gen)
    assert (pick == 0).sum(1).tolist() == [4, 4]


def test_settings_and_inputs_are_checked():
    with pytest.raises(ValueError, match="chains"):
        SamplerSettings(chains=0)
    with pytest.raises(ValueError, match="mode_weights"):
        SamplerSettings(mode_weights="tempered")
    dec = Linear()
    with pytest.raises(ValueError, match="starts"):
        sample(dec, torch.rand(2, 1, 28, 28), variance=0.1, starts=torch.zeros(3, 4))
    with pytest.raises(ValueError, match="variance"):
        sample(dec, torch.rand(2, 1, 28, 28), variance=0.0, starts=torch.zeros(2, 4))


def test_draws_span_chains_and_time():
    dec = Linear()
    y = observe(dec, n=3)
    res = sample(dec, y, variance=0.05, starts=torch.zeros(3, 4), settings=SamplerSettings(chains=4, burn_in=4, keep=10, adapt_window=2))
    d = res.draws(dec, 8)
    assert d.shape == (8, 3, 1, 28, 28) and res.z.shape == (10, 3, 4, 4)
    assert res.diagnostics()["rhat"].shape == (3,)


# --- diagnostics on constructed chains -----------------------------------------------------------------

def ar1(phi, t=1000, c=8, k=100, seed=0):
    gen = torch.Generator().manual_seed(seed)
    e = torch.randn(t, c, k, generator=gen)
    x = torch.empty_like(e)
    x[0] = e[0] / math.sqrt(1 - phi ** 2)
    for i in range(1, t):
        x[i] = phi * x[i - 1] + e[i]
    return x


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.9])
def test_ess_matches_the_ar1_formula(phi):
    want = 1000 * 8 * (1 - phi) / (1 + phi)
    got = diagnostics.ess(ar1(phi)).mean()
    assert abs(got / want - 1) < 0.08


def test_rhat_is_one_for_agreeing_chains_and_large_for_chains_in_other_places():
    x = ar1(0.5)
    assert diagnostics.rhat(x).max() < 1.01
    x[:, :4] += 2.0  # half the chains elsewhere
    assert diagnostics.rhat(x).min() > 1.1


def test_ece_of_calibrated_and_overconfident_predictions():
    gen = torch.Generator().manual_seed(0)
    p = torch.rand(20000, generator=gen)
    right = torch.rand(20000, generator=gen) < p
    assert diagnostics.ece(p, right) < 0.02
    over = torch.full((1000,), 0.95)
    right = torch.arange(1000) < 600
    assert diagnostics.ece(over, right) == pytest.approx(0.35, abs=1e-6)
    bins = diagnostics.reliability(over, right)
    assert len(bins) == 1 and bins[0]["accuracy"] == pytest.approx(0.6) and bins[0]["n"] == 1000


def test_interval_coverage_on_constructed_draws():
    gen = torch.Generator().manual_seed(0)
    draws = torch.randn(400, 50, 1, 28, 28, generator=gen)
    clean = torch.randn(50, 1, 28, 28, generator=gen)
    lo, hi = diagnostics.interval(draws, 0.9)
    assert diagnostics.coverage(lo, hi, clean) == pytest.approx(0.9, abs=0.01)
    assert diagnostics.coverage(lo, hi, clean + 5) < 0.01
    assert diagnostics.coverage(lo, hi, clean, where=clean > 0) == pytest.approx(0.9, abs=0.02)


def test_auroc_separates_what_differs():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(500, generator=gen), torch.randn(500, generator=gen)
    assert diagnostics.auroc(a, b) == pytest.approx(0.5, abs=0.05)
    assert diagnostics.auroc(a, b + 5) > 0.99 and diagnostics.auroc(a + 5, b) < 0.01


# --- claims ---------------------------------------------------------------------------------------------

def test_clipped_variance_matches_monte_carlo():
    g = torch.tensor([0.0, 0.05, 0.3, 0.5, 0.9, 1.0])
    noise = torch.randn(200000, 1, generator=torch.Generator().manual_seed(0))
    for sigma in (0.1, 0.5, 0.8):
        mc = (g + sigma * noise).clamp(0, 1).var(0)
        assert torch.allclose(claims.clipped_variance(g, sigma), mc, rtol=0.02, atol=1e-4)


def test_misfit_is_small_for_data_the_model_explains_and_large_otherwise():
    gen = torch.Generator().manual_seed(0)
    clean = torch.rand(20, 1, 28, 28, generator=gen) ** 3  # mostly dark, like digits
    noisy = (clean + 0.5 * torch.randn(clean.shape, generator=gen)).clamp(0, 1)
    fits = claims.misfit(noisy, clean[None].expand(8, -1, -1, -1, -1), noise_std=0.5)
    assert fits.abs().max() < 4
    other = torch.rand(20, 1, 28, 28, generator=gen)
    assert (claims.misfit(noisy, other[None], noise_std=0.5) > 10).all()
    with pytest.raises(ValueError, match="noise"):
        claims.misfit(noisy, clean[None])


def test_model_error_draws_follow_the_residuals_of_each_intensity_bin():
    gen = torch.Generator().manual_seed(0)
    decoded = torch.rand(200000, generator=gen)
    residual = torch.where(decoded < 0.5, 0.01, 0.2) * torch.randn(200000, generator=gen)
    err = claims.ModelError.from_residuals(decoded, residual)
    low = torch.full((50000,), 0.25)
    high = torch.full((50000,), 0.6)
    assert (err.draw(low, gen) - low).std() == pytest.approx(0.01, rel=0.1)
    assert (err.draw(high, gen) - high).std() == pytest.approx(0.2, rel=0.1)
    zero = err.draw(torch.zeros(1000), gen)
    assert zero.min() >= 0 and (zero == 0).float().mean() > 0.3  # clipped: a clean 0 can be covered


# --- non-digits -------------------------------------------------------------------------------------------

def test_non_digit_sets_are_mnist_like_and_deterministic():
    for make in (nondigits.letters, nondigits.patches):
        a, b = make(12, seed=3), make(12, seed=3)
        assert torch.equal(a, b) and a.shape == (12, 1, 28, 28)
        assert a.min() >= 0 and a.max() <= 1 and a.flatten(1).std(1).min() > 0.05
        assert not torch.equal(a, make(12, seed=4))
    x = nondigits.letters(4)
    w = x.sum((1, 2, 3))
    i = torch.arange(28.0)
    assert torch.allclose((x.sum((1, 2)) * i).sum(-1) / w, torch.full((4,), 13.5), atol=0.6)


# --- the validation choice --------------------------------------------------------------------------------

def test_the_cheapest_setting_within_tolerance_is_chosen():
    rows = []
    for s, gains in ((study.GRID[0], (0.09, 0.19)), (study.GRID[1], (0.11, 0.215)), (study.GRID[4], (0.12, 0.22))):
        rows += [{"setting": study.label(s), "cost": study.cost(s), "gain_vs_map": g, "chains": s.chains,
                  "burn_in": s.burn_in, "keep": s.keep, "mode_weights": s.mode_weights} for g in gains]
    choice = study.choose({"rows": rows, "tolerance_db": 0.02, "calibration_ece": {"posterior": 0.03, "vote": 0.05}})
    assert choice["setting"] == study.label(study.GRID[1]) and choice["digit_posterior"] == "posterior"
    assert study.settings_of(choice) == study.GRID[1]


# --- through the Denoisers (untrained weights: plumbing only) -----------------------------------------

def test_posterior_through_the_denoisers_with_noise_or_a_mask():
    from core.denoising.denoise import Denoisers
    from core.denoising.posterior import estimate
    from core.models import build

    den = Denoisers(build("spec_ae"), build("vae16"), trained={})
    x = torch.rand(3, 1, 28, 28)
    tiny = SamplerSettings(chains=2, burn_in=4, keep=3, adapt_window=2)
    res = estimate.posterior(den, x, noise_level=0.5, settings=tiny)
    assert res.mean.shape == res.std.shape == (3, 1, 28, 28) and res.z.shape == (3, 3, 2, 16)
    assert res.params["noise_std"] == 0.5 and res.map.x_hat.shape == (3, 1, 28, 28)
    mask = torch.ones(1, 1, 28, 28)
    mask[..., 14:, :] = 0
    res = estimate.posterior(den, x, mask=mask, settings=tiny)
    assert res.params["noise_std"] is None and res.params["masked"]
    assert torch.isfinite(res.mean).all() and (res.std >= 0).all()


# --- the chapter's sentences follow the numbers ----------------------------------------------------------

def _artifact(gains=(0.1, 0.3), psnr=(20.0, 17.0), cover=(0.91, 0.80), ece=(0.03, 0.08), aurocs=(0.95, 0.7)):
    levels = (0.5, 0.8)
    rows = []
    for lv, g, p, c, e in zip(levels, gains, psnr, cover, ece):
        cal = {"ece": e, "accuracy": 0.9, "confidence": 0.9, "bins": []}
        rows.append({"condition": "clean", "level": lv, "psnr": p, "gain_vs_map": g, "gain_vs_map_se": 0.02,
                     "better_than_map": 0.7, "coverage": {"posterior": 0.3, "predictive": c, "predictive_ink": c},
                     "diagnostics": {"rhat_over_1.1": 0.5},
                     "calibration": {"judge": {"posterior": cal, "vote": cal, "input": {**cal, "ece": 0.06}}}})
    val = [{"setting": name, "cost": cost, "rhat_over_1.1": r, "gain_vs_map": g, "level": 0.5, "mode_weights": w}
           for name, cost, r, g, w in (("short", 100, 1.0, 0.20, "laplace"), ("long", 900, 0.8, 0.21, "laplace"),
                                       ("long, even", 900, 0.8, 0.11, "equal"))]
    return {"params": {"judges": ["judge"], "interval_level": 0.9, "settings": {"keep": 100}},
            "choice": {"digit_posterior": "posterior", "setting": "short"},
            "validation": {"rows": val, "tolerance_db": 0.02},
            "rows": rows, "misfit": {"letters|0.5": [float(i % 52) for i in range(104)]},
            "auroc": [{"set": "letters", "level": 0.5, "auroc": aurocs[0]},
                      {"set": "patches", "level": 0.5, "auroc": aurocs[1]}]}


BOARD = {"rows": [{"condition": "clean", "method": m, "level": lv, "psnr": p}
                  for lv, dn, mp in ((0.5, 19.5, 19.9), (0.8, 17.5, 16.7))
                  for m, p in (("dncnn", dn), ("map_clip", mp))]}


def test_chapter_sentences_follow_the_numbers():
    from core.analysis import posterior as ap

    text = ap.sentences(_artifact(), BOARD)
    assert text["map"] == "It beats MAP at every level."
    assert text["dncnn"].startswith("it reaches DnCNN at 0.5 but falls short at 0.8 by 0.50 dB")
    assert text["coverage"] == "Against the goal of 90 ± 3 % they are within it at 0.5 and outside it at 0.8 (80.0 %)."
    assert "missed at 0.8 (above 0.05)" in text["ece"]
    assert "met for letters but missed for patches at 0.5 by 0.20" in text["auroc"]
    assert "Letters" not in text["auroc"]
    text = ap.sentences(_artifact(gains=(0.01, 0.3), psnr=(20.0, 18.0), aurocs=(0.5, 0.95)), BOARD)
    assert text["map"].startswith("It beats MAP (by more than twice the standard error) at 0.8 but not at 0.5")
    assert text["dncnn"] == "it reaches DnCNN at every level from 0.5 on."
    assert "lowest misfit at noise 0.5: A, B, C, D" in text["auroc"]
    assert text["mixing"].startswith("At 0.5 and 0.8 the chains of many images disagree")
    assert "long) has R-hat above 1.1 for 80 % of the images against 100 %" in text["mixing"]
    assert text["mixing"].endswith("is settled before the chains have mixed.")
    assert "changes the mean's gain by -0.100 dB at 0.5" in text["weights"]
    claims_ = ap.coverage_claims(_artifact())
    assert claims_["the posterior's own intervals cover far less than their level (10 points or more)"]


# --- the shipped artifact ----------------------------------------------------------------------------------

def test_the_loader_refuses_an_artifact_of_other_weights(tmp_path, monkeypatch, shipped_in_tmp):
    from core.denoising.posterior import artifact
    from core.denoising.scoreboard import StaleArtifact

    with pytest.raises(StaleArtifact, match="python -m core.denoising.posterior --write"):
        artifact.load_artifact(tmp_path / "none.json")
    shipped_in_tmp(["vae16.pt", *[f"{name}.pt" for name in evaluate.judges()], "denoise_defaults.json"])
    target = tmp_path / "posterior.json"
    checkpoints.write_json({"fingerprint": artifact.fingerprint(), "rows": []}, target)
    assert artifact.load_artifact(target)["rows"] == []
    (tmp_path / "vae16.pt").unlink()  # a retrained VAE: other bytes under the same name
    (tmp_path / "vae16.pt").write_bytes((paths.PROJECT_ROOT / "checkpoints" / "vae16.pt").read_bytes() + b"\0")
    with pytest.raises(StaleArtifact, match="vae16.*python -m core.denoising.posterior --write"):
        artifact.load_artifact(target)
    monkeypatch.setattr(study, "GRID", study.GRID[:2])  # another grid searched: stale too
    (tmp_path / "vae16.pt").unlink()
    (tmp_path / "vae16.pt").symlink_to(paths.PROJECT_ROOT / "checkpoints" / "vae16.pt")
    with pytest.raises(StaleArtifact, match="grid"):
        artifact.load_artifact(target)


def test_the_sampler_settings_in_code_are_the_ones_chosen_on_validation():
    from core.denoising.posterior import artifact, estimate
    from core.denoising.scoreboard import StaleArtifact

    try:
        art = artifact.load_artifact()
    except StaleArtifact as exc:
        pytest.skip(str(exc))
    assert SamplerSettings(**art["params"]["settings"]) == estimate.BATCH
    assert study.label(estimate.BATCH) == art["choice"]["setting"]


# Tolerances from `python -m bench.posterior_probe` (the probe rerun with seeds 0-4: another CPU sends
# the chains and MAP's restarts along other paths, as another seed does). Seed 0 reproduced the
# artifact exactly on the machine that wrote it; the largest distances from it over the other seeds
# were PSNR 0.073 dB, MAP's PSNR 0.117 dB, misfit 0.011, confidence 0.0071, coverage 0.0020: each
# tolerance is about twice that.
PROBE_TOL = {"psnr": 0.15, "psnr_map": 0.25, "misfit": 0.03, "conf_posterior": 0.015, "cover_predictive": 0.005}


@pytest.mark.slow
def test_shipped_artifact_matches_a_recomputed_probe(mnist):
    from dataclasses import replace

    from core.denoising.denoise import Denoisers
    from core.denoising.posterior import artifact, evaluate
    from core.denoising.scoreboard import StaleArtifact, test_digits

    try:
        art = artifact.load_artifact()
    except StaleArtifact as exc:
        pytest.skip(str(exc))
    want = art["probe"]
    clean, labels = test_digits(evaluate.CHUNK)  # the chunk as measured: its draws depend on its size
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        settings = replace(SamplerSettings(**art["params"]["settings"]), seed=0)
        per = evaluate.run_chunk(Denoisers.load(), clean, labels, 0.5, settings,
                                 claims.ModelError(torch.tensor(art["model_error"])))
    finally:
        torch.set_num_threads(threads)
    got = evaluate.probe(per, evaluate.judges(), want["n"])
    for key, tol in PROBE_TOL.items():
        assert got[key] == pytest.approx(want[key], abs=tol), key


def test_one_drawing_gets_labels_and_a_flag_from_its_calibrated_threshold():
    from core.denoising.denoise import Denoisers
    from core.denoising.posterior import single
    from core.models import build

    den = Denoisers(build("spec_ae"), build("vae16"), trained={})
    art = {"choice": {}}
    calibration = {"0.3": torch.arange(101.0), "0.8": torch.full((100,), 100.0)}
    # The (1 - FALSE_ALARM) quantile of the validation digits' misfit at the nearest calibrated level.
    assert single.misfit_threshold(calibration, 0.35) == pytest.approx(100 * (1 - single.FALSE_ALARM))
    assert single.misfit_threshold(calibration, 0.7) == 100.0 and single.misfit_threshold(calibration, None) is None
    assert single.misfit_threshold(None, 0.3) is None   # no calibration: no flag
    out = single.for_drawing(den, torch.rand(28, 28), noise_level=0.3, art=art, calibration=calibration)
    assert set(out.label_probs) == {str(d) for d in range(10)}
    assert sum(out.label_probs.values()) == pytest.approx(1.0, abs=1e-5)
    assert out.draws.shape == (4, 1, 28, 28) and out.mean.shape == (1, 28, 28)
    assert out.flagged == (out.misfit > out.threshold) and (out.warning != "") == out.flagged
    masked = single.for_drawing(den, torch.rand(28, 28), mask=torch.ones(28, 28), art=art, calibration=calibration)
    assert masked.threshold is None and not masked.flagged


def test_the_demo_posteriors_warning_is_calibrated_on_validation_digits_for_the_shipped_weights():
    """Else the demo shows the posterior without its warning: `python -m core.denoising.posterior.single
    --ship` makes the calibration (validation digits, never test digits, run as the demo runs them)."""
    from core.denoising.denoise import Denoisers
    from core.denoising.posterior import single

    calibration = single.stored_calibration(Denoisers.load())
    assert calibration is not None, "run python -m core.denoising.posterior.single --ship"
    assert set(calibration) == {f"{lv:g}" for lv in single.CALIBRATION_LEVELS}
    assert all(len(v) == single.CALIBRATION_N for v in calibration.values())
