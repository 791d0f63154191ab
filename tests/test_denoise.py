"""The three denoisers (A8): MAP's optimiser, masks, restarts, the interface and its errors."""
import pytest
import torch
from torch import nn

from core import data, metrics
from core.denoising import denoise as dn
from core.models import build, checkpoints


class TinyDecoder(nn.Module):
    """A small smooth generator z [B,d] -> images [B,1,28,28] for fast synthetic checks."""

    def __init__(self, d=4):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(d, 784)

    def forward(self, z):
        return torch.sigmoid(3 * self.fc(z)).view(-1, 1, 28, 28)


@pytest.fixture(scope="module")
def untrained():
    torch.manual_seed(0)
    return dn.Denoisers(build("spec_ae"), build("vae16"), trained={"spec_ae": False, "vae16": False})


def objective(dec, z, x, beta, mask=None):
    r = x - dec(z)
    if mask is not None:
        r = r * mask
    return r.pow(2).flatten(1).sum(1) + beta * z.pow(2).sum(1)


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_map_never_increases_and_clearly_reduces_its_objective(optimizer):
    dec = TinyDecoder()
    x = dec(torch.randn(6, 4)).detach().clamp(0, 1)
    res = dn.map_estimate(dec, x, beta=0.1, steps=25, restarts=3, seed=1, optimizer=optimizer)
    h = res.loss_history
    assert h.shape == (26, 6) and res.z_path.shape == (26, 6, 4) and res.x_hat.shape == (6, 1, 28, 28)
    if optimizer == "lbfgs":  # accepted steps only: monotone per image
        assert torch.all(h[1:] <= h[:-1] + 1e-5)
    assert torch.all(h[-1] < 0.5 * h[0])
    # The history is the objective of the returned path, and x_hat decodes its last point.
    with torch.no_grad():
        assert torch.allclose(h[-1], objective(dec, res.z_path[-1], x, 0.1), rtol=1e-4, atol=1e-4)
        assert torch.allclose(res.x_hat, dec(res.z), atol=1e-6)


def test_lbfgs_recovers_a_code_the_decoder_can_reach():
    dec = TinyDecoder()
    z_true = torch.randn(4, 4)
    x = dec(z_true).detach()
    res = dn.map_estimate(dec, x, beta=0.0, steps=60, restarts=4)
    assert float(res.loss_history[-1].max()) < 1e-3


def test_more_restarts_never_end_worse_and_the_best_is_kept():
    dec = TinyDecoder()
    x = torch.rand(5, 1, 28, 28)
    one = dn.map_estimate(dec, x, beta=0.5, steps=10, restarts=1, seed=3)
    four = dn.map_estimate(dec, x, beta=0.5, steps=10, restarts=4, seed=3)
    # Restart 0 is the same draw in both runs and rows are optimised independently.
    assert torch.all(four.loss_history[-1] <= one.loss_history[-1] + 1e-5)
    assert four.best_restart.shape == (5,) and four.best_restart.max() < 4


def test_mask_ignores_unobserved_pixels():
    dec = TinyDecoder()
    x = dec(torch.randn(3, 4)).detach()
    mask = torch.ones(1, 1, 28, 28)
    mask[..., 10:20, :] = 0
    corrupted = x.clone()
    corrupted[..., 10:20, :] = torch.rand(3, 1, 10, 28)  # garbage where nothing is observed
    a = dn.map_estimate(dec, x, beta=0.1, steps=15, restarts=2, mask=mask)
    b = dn.map_estimate(dec, corrupted, beta=0.1, steps=15, restarts=2, mask=mask)
    assert torch.allclose(a.x_hat, b.x_hat, atol=1e-5)
    assert torch.allclose(a.loss_history, b.loss_history, atol=1e-4)
    c = dn.map_estimate(dec, corrupted, beta=0.1, steps=15, restarts=2)
    assert not torch.allclose(a.x_hat, c.x_hat, atol=1e-3)


def test_bad_mask_and_bad_parameters_are_clear_errors():
    dec, x = TinyDecoder(), torch.rand(2, 1, 28, 28)
    with pytest.raises(ValueError, match="mask"):
        dn.map_estimate(dec, x, beta=0.1, steps=2, restarts=1, mask=torch.ones(3, 1, 28, 28))
    with pytest.raises(ValueError, match="0 .missing"):
        dn.map_estimate(dec, x, beta=0.1, steps=2, restarts=1, mask=torch.full((28, 28), 0.5))
    with pytest.raises(ValueError, match="beta"):
        dn.map_estimate(dec, x, beta=-1.0, steps=2, restarts=1)
    with pytest.raises(ValueError, match="restarts"):
        dn.map_estimate(dec, x, beta=0.1, steps=2, restarts=0)
    with pytest.raises(ValueError, match="optimizer"):
        dn.map_estimate(dec, x, beta=0.1, steps=2, restarts=1, optimizer="sgd")


@pytest.mark.parametrize("method", dn.METHODS)
@pytest.mark.parametrize("shape", [(3, 1, 28, 28), (3, 28, 28), (28, 28)])
def test_interface_shapes(untrained, method, shape):
    x = torch.rand(shape)
    res = untrained(method, x, steps=3, restarts=2)
    n = 1 if len(shape) == 2 else 3
    assert res.x_hat.shape == (n, 1, 28, 28)
    assert res.x_hat.min() >= 0 and res.x_hat.max() <= 1
    if method == "map":
        assert res.loss_history.shape == (4, n) and res.z_path.shape == (4, n, 16)
    else:
        assert res.loss_history is None and res.z_path is None


@pytest.mark.parametrize("bad,error,match", [
    (torch.rand(2, 1, 32, 32), ValueError, "28"),
    (torch.rand(2, 3, 28, 28), ValueError, "28"),
    ((torch.rand(2, 1, 28, 28) * 255).to(torch.uint8), TypeError, "255"),
    (torch.rand(2, 1, 28, 28) * 2, ValueError, r"\[0, 1\]"),
    (torch.full((1, 1, 28, 28), float("nan")), ValueError, "NaN"),
    (torch.zeros(0, 1, 28, 28), ValueError, "no images"),
])
def test_bad_input_is_a_clear_error(untrained, bad, error, match):
    for method in dn.METHODS:
        with pytest.raises(error, match=match):
            untrained(method, bad)


def test_unknown_method_lists_the_valid_ones(untrained):
    with pytest.raises(ValueError, match="ae, vae, map"):
        untrained("median", torch.rand(1, 1, 28, 28))


def test_map_starts_from_the_vae_mean(untrained):
    x = torch.rand(2, 1, 28, 28)
    res = untrained("map", x, steps=0, restarts=1)
    assert torch.allclose(res.z, untrained("vae", x).z, atol=1e-6)
    assert torch.allclose(res.x_hat, untrained("vae", x).x_hat, atol=1e-5)


def test_beta_for_interpolates_between_validated_levels():
    d = dn.MapDefaults(beta=0.2, beta_by_noise={0.1: 0.01, 0.5: 1.0}, beta_by_noise_clip={0.1: 3.0})
    assert d.beta_for(0.1) == pytest.approx(0.01)
    assert d.beta_for(0.5) == pytest.approx(1.0)
    assert 0.01 < d.beta_for(0.3) < 1.0
    assert d.beta_for(0.9) == pytest.approx(1.0)  # clamped to the validated range
    assert d.beta_for(None) == 0.2 and d.beta_for(0.3, clip_aware=True) == 3.0
    assert d.settings(0.3, single_image=True) == dn.MapSettings(float(f"{d.beta_for(0.3):.4g}"), 20, 8)


def test_defaults_are_read_from_the_weights_folder(tmp_path):
    assert not dn.MapDefaults.read(tmp_path).found  # no file: the built-in fallbacks
    with pytest.raises(FileNotFoundError, match="choose-defaults"):
        dn.MapDefaults.read(tmp_path).require()
    checkpoints.write_json({"beta": 0.5, "steps": 7, "restarts": 3, "beta_by_noise": {"0.2": 0.04},
                            "single_image": {"steps": 5, "restarts": 6}}, dn.MapDefaults.path(tmp_path))
    d = dn.MapDefaults.read(tmp_path)
    assert d.found and d.settings(0.2) == dn.MapSettings(0.04, 7, 3) and d.settings().beta == 0.5
    assert d.settings(None, single_image=True) == dn.MapSettings(0.5, 5, 6)


def test_map_estimate_returns_every_restart_and_keeps_the_best():
    torch.manual_seed(0)
    dec = nn.Sequential(nn.Linear(4, 784), nn.Sigmoid(), nn.Unflatten(1, (1, 28, 28)))
    x = torch.rand(3, 1, 28, 28)
    res = dn.map_estimate(dec, x, beta=0.1, steps=6, restarts=4, seed=2, all_restarts=True)
    assert res.restart_losses.shape == (7, 4, 3) and res.restart_z.shape == (7, 4, 3, 4)
    assert torch.equal(res.restart_losses[-1].argmin(0), res.best_restart)
    assert torch.equal(res.restart_z[:, res.best_restart, torch.arange(3)], res.z_path)
    plain = dn.map_estimate(dec, x, beta=0.1, steps=6, restarts=4, seed=2)
    assert plain.restart_losses is None and torch.equal(plain.x_hat, res.x_hat)


@pytest.mark.slow
def test_shipped_map_beats_the_noisy_input_at_noise_05(mnist):
    x = mnist["test"][0][:16]
    noisy = data.add_noise(x, 0.5, seed=0)
    den = dn.Denoisers.load()
    res = den("map", noisy, noise_level=0.5)
    assert metrics.psnr(res.x_hat, x).mean() > metrics.psnr(noisy, x).mean()
    assert torch.all(res.loss_history[-1] <= res.loss_history[0] + 1e-4)


def test_expected_clipped_matches_monte_carlo_and_is_identity_without_noise():
    g = torch.tensor([0.0, 0.1, 0.5, 0.9, 1.0])
    n = torch.randn(400_000, 1, generator=torch.Generator().manual_seed(0))
    for sigma in (0.3, 0.8):
        mc = (g + sigma * n).clamp(0, 1).mean(0)
        assert torch.allclose(dn.expected_clipped(g, sigma), mc, atol=3e-3)
    assert torch.equal(dn.expected_clipped(g, 0.0), g)


def test_expected_clipped_is_bit_for_bit_the_normal_distributions_formula():
    """Written out for speed (the demo's MAP calls it every step); the recorded MAP results were
    computed through torch.distributions.Normal and must not move by a single bit."""
    normal = torch.distributions.Normal(0.0, 1.0)

    def reference(g, sigma):
        a, b = -g / sigma, (1 - g) / sigma
        cdf_a, cdf_b = normal.cdf(a), normal.cdf(b)
        pdf_a, pdf_b = normal.log_prob(a).exp(), normal.log_prob(b).exp()
        return g * (cdf_b - cdf_a) + sigma * (pdf_a - pdf_b) + (1 - cdf_b)

    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        g = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(1)).to(dtype).requires_grad_(True)
        for sigma in (0.1, 0.5, 0.8):
            ours, ref = dn.expected_clipped(g, sigma), reference(g, sigma)
            assert torch.equal(ours, ref)
            assert torch.equal(*(torch.autograd.grad(v.sum(), g)[0] for v in (ours, ref)))


def test_clip_aware_map_needs_the_noise_level(untrained):
    x = torch.rand(2, 1, 28, 28)
    with pytest.raises(ValueError, match="noise_level"):
        untrained("map", x, clip_aware=True)
    res = untrained("map", x, clip_aware=True, noise_level=0.5, steps=3, restarts=2)
    assert res.params["noise_std"] == 0.5 and res.x_hat.shape == (2, 1, 28, 28)
