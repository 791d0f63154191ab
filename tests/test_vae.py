"""A7/A8 conv VAE: reparameterisation, KL, the fast transposed conv, the loss, shapes, errors."""
import math

import pytest
import torch
import torch.nn.functional as F

from core.models import build, checkpoints, kl_divergence, reparameterise
from core.models.layers import ConvTranspose2d
from core.models.vae import ConvVAE, ConvVAEConfig


def test_reparameterise_has_the_requested_mean_and_std():
    mean = torch.tensor([1.0, -2.0, 0.0]).expand(200_000, 3)
    log_std = torch.tensor([math.log(0.5), math.log(2.0), 0.0]).expand(200_000, 3)
    z = reparameterise(mean, log_std, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(z.mean(0), mean[0], atol=0.02)
    assert torch.allclose(z.std(0), log_std[0].exp(), rtol=0.01)
    # Standardised samples are uncorrelated standard normals.
    n = (z - mean) / log_std.exp()
    assert torch.allclose(torch.corrcoef(n.T), torch.eye(3), atol=0.01)


def test_reparameterise_is_differentiable_in_mean_and_log_std():
    mean = torch.zeros(4, 2, requires_grad=True)
    log_std = torch.zeros(4, 2, requires_grad=True)
    z = reparameterise(mean, log_std, generator=torch.Generator().manual_seed(1))
    z.sum().backward()
    assert torch.equal(mean.grad, torch.ones(4, 2))
    assert torch.allclose(log_std.grad, z.detach())  # dz/dlog_std = n * exp(log_std) = n here


def test_reparameterise_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        reparameterise(torch.zeros(3, 2), torch.zeros(3, 4))


def test_kl_matches_torch_distributions():
    gen = torch.Generator().manual_seed(0)
    mean, log_std = torch.randn(50, 16, generator=gen) * 2, torch.randn(50, 16, generator=gen)
    ours = kl_divergence(mean, log_std)
    q = torch.distributions.Normal(mean, log_std.exp())
    p = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
    assert torch.allclose(ours, torch.distributions.kl_divergence(q, p).sum(-1), rtol=1e-5, atol=1e-5)
    assert torch.all(kl_divergence(torch.zeros(3, 4), torch.zeros(3, 4)) == 0)


@pytest.mark.parametrize("c_in,c_out", [(16, 8), (8, 1)])
def test_fast_transposed_conv_equals_torch_in_value_and_gradients(c_in, c_out):
    layer = ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)
    x = torch.randn(3, c_in, 7, 7, requires_grad=True)
    ours = layer(x)
    ref = F.conv_transpose2d(x, layer.weight, layer.bias, stride=2, padding=1)
    assert ours.shape == (3, c_out, 14, 14)
    assert torch.allclose(ours, ref, atol=1e-5)
    g = torch.randn_like(ref)
    grads_ours = torch.autograd.grad(ours, (x, layer.weight, layer.bias), g)
    grads_ref = torch.autograd.grad(ref, (x, layer.weight, layer.bias), g)
    for a, b in zip(grads_ours, grads_ref):
        assert torch.allclose(a, b, atol=1e-4)


def test_frozen_transposed_conv_cache_follows_weight_changes():
    layer = ConvTranspose2d(4, 2, 4, stride=2, padding=1).requires_grad_(False)
    x = torch.randn(2, 4, 7, 7)
    first = layer(x)
    with torch.no_grad():
        layer.weight.mul_(2)
    assert torch.allclose(layer(x), F.conv_transpose2d(x, layer.weight, layer.bias, stride=2, padding=1), atol=1e-5)
    assert not torch.allclose(layer(x), first)


@pytest.mark.parametrize("d", [2, 16])
def test_shapes_and_loss_terms(d):
    model = ConvVAE(ConvVAEConfig(latent_dim=d))
    x = torch.rand(5, 1, 28, 28)
    mean, log_std = model.posterior(x)
    assert mean.shape == log_std.shape == (5, d)
    assert model.encode(x).shape == (5, d)
    out = model.decode(torch.randn(5, d))
    assert out.shape == (5, 1, 28, 28) and out.min() >= 0 and out.max() <= 1
    loss, logs = model.loss(x)
    assert {"loss", "recon", "kl", model.metric_name} <= set(logs)
    assert torch.isclose(loss, logs["recon"] + model.cfg.kl_weight * logs["kl"])
    assert logs["kl"] >= 0


def test_wrong_image_size_is_a_clear_error():
    model = ConvVAE(ConvVAEConfig(latent_dim=2))
    with pytest.raises(ValueError, match=r"\[N,1,28,28\]"):
        model.encode(torch.rand(2, 1, 32, 32))


@pytest.mark.slow
def test_a_few_adam_steps_lower_the_loss():
    torch.manual_seed(0)
    model = ConvVAE(ConvVAEConfig(latent_dim=4))
    x = (torch.rand(64, 1, 28, 28) > 0.8).float()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    torch.manual_seed(1)
    before = float(model.loss(x)[0].detach())
    for _ in range(30):
        loss, _ = model.loss(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.manual_seed(1)
    assert float(model.loss(x)[0].detach()) < before


def test_registry_has_both_vaes_with_at_least_30_epochs():
    for name, d in (("vae2", 2), ("vae16", 16)):
        model = build(name)
        assert isinstance(model, ConvVAE) and model.cfg.latent_dim == d
        from core.models import entry
        assert entry(name).train.epochs >= 30
        # Convolutional except the encoder's last layers and the decoder's first layer.
        linear_dec = [m for m in model.decoder.modules() if isinstance(m, torch.nn.Linear)]
        assert linear_dec == [model.decoder.fc]


@pytest.mark.parametrize("name", ["vae2", "vae16"])
def test_shipped_vae_reconstructs_better_than_the_mean_image(name, mnist):
    model = checkpoints.load(name)
    x_train, x_test = mnist["train"][0], mnist["test"][0][:500]
    with torch.no_grad():
        err_model = F.mse_loss(model(x_test), x_test)
    err_mean = F.mse_loss(x_train.mean(0, keepdim=True).expand_as(x_test), x_test)
    assert err_model < 0.7 * err_mean


def test_choose_takes_the_cheapest_budget_for_batches_and_the_fewest_steps_for_one_image():
    from core.denoising import study

    grids = {"betas": (0.01, 0.1), "levels": (0.1, 0.5), "steps": (10, 20, 50), "restarts": (2, 8),
             "gauss_sigmas": (0.5, 1.0), "median_sizes": (3, 5)}
    # PSNR per (steps, restarts), the same at both levels: (20, 8) and (50, 2) are within 0.05 dB
    # of the best (50, 8); everything with 10 steps is not.
    grid = torch.tensor([[15.0, 15.5], [17.90, 17.96], [17.97, 18.0]])
    results = {"steps_restarts": grid.expand(2, 3, 2), "beta_psnr": torch.tensor([[20.0, 19.0], [15.0, 16.0]]),
             "beta_psnr_clip": torch.tensor([[20.0, 19.0], [15.0, 16.0]]),
             "gauss": torch.tensor([[1.0, 0.0], [0.0, 1.0]]), "median": torch.tensor([[0.0, 1.0], [1.0, 0.0]])}
    chosen = study.choose(results, tolerance_db=0.05, grids=grids)
    assert (chosen["steps"], chosen["restarts"]) == (50, 2)  # 100 decoder rows per image < 160
    assert chosen["single_image"] == {"steps": 20, "restarts": 8}
    assert chosen["beta_by_noise"] == {"0.1": 0.01, "0.5": 0.1} and chosen["beta"] == 0.1
    assert chosen["gauss_sigma_by_noise"] == {"0.1": 0.5, "0.5": 1.0}
    assert chosen["median_size_by_noise"] == {"0.1": 5, "0.5": 3}
