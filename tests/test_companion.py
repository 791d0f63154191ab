"""B1-B6: FC (plain/sparse/denoising) and upsampling AEs, and the companion analyses."""
import numpy as np
import pytest
import torch

from core.analysis import companion as B
from core.analysis import reference
from core.models.fc import FCAE, FCConfig
from core.models.upsampling import VARIANTS, UpsamplingAE, UpsamplingConfig, _top_left_indices

# --- models, synthetic ------------------------------------------------------------------------

@pytest.mark.parametrize("hidden", [1, 7, 64])
def test_fc_shapes_nonnegative_code_and_pixel_range(hidden):
    m = FCAE(FCConfig(hidden=hidden))
    x = torch.rand(5, 1, 28, 28)
    h = m.encode(x)
    assert h.shape == (5, hidden) and (h >= 0).all()
    out = m(x)
    assert out.shape == x.shape and (out >= 0).all() and (out <= 1).all()
    assert m.filters().shape == (hidden, 28, 28)


def test_fc_rejects_bad_config():
    with pytest.raises(ValueError, match="hidden"):
        FCAE(FCConfig(hidden=0))
    with pytest.raises(ValueError):
        FCAE(FCConfig(l1=-1.0))


def test_sparse_loss_adds_the_l1_of_hidden_activations():
    x = torch.rand(8, 1, 28, 28)
    plain, sparse = FCAE(FCConfig(hidden=16)), FCAE(FCConfig(hidden=16, l1=0.01))
    sparse.load_state_dict(plain.state_dict())
    loss_p, logs_p = plain.loss(x)
    loss_s, logs_s = sparse.loss(x)
    assert float(loss_p.detach()) == pytest.approx(float(logs_p["mse"]))
    l1 = float(plain.encode(x).detach().abs().sum(1).mean())
    assert float(loss_s.detach()) == pytest.approx(float(logs_s["mse"]) + 0.01 * l1, rel=1e-5)
    assert {"loss", "mse", "mean_act"} <= set(logs_s)


def _train(model, x, steps=150):
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        loss, _ = model.loss(x)
        opt.zero_grad(), loss.backward(), opt.step()
    return model


@pytest.mark.slow
def test_l1_penalty_makes_the_code_sparser_on_synthetic_strokes():
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(128, 1, 28, 28, generator=gen) > 0.8).float()
    torch.manual_seed(0)
    plain = _train(FCAE(FCConfig(hidden=32)), x)
    torch.manual_seed(0)
    sparse = _train(FCAE(FCConfig(hidden=32, l1=3e-3)), x)
    with torch.no_grad():
        assert float(sparse.encode(x).mean()) < 0.5 * float(plain.encode(x).mean())


def test_dae_draws_fresh_noise_from_the_global_rng_and_targets_the_clean_image():
    m = FCAE(FCConfig(hidden=16, noise=0.5)).train()
    x = torch.rand(4, 1, 28, 28)
    torch.manual_seed(1)
    a, _ = m.loss(x)
    torch.manual_seed(1)
    b, _ = m.loss(x)
    c, _ = m.loss(x)
    a, b, c = (float(v.detach()) for v in (a, b, c))
    assert a == b and a != c
    torch.manual_seed(1)
    noisy = m.corrupt(x)
    assert (noisy >= 0).all() and (noisy <= 1).all() and not torch.equal(noisy, x)
    torch.manual_seed(1)
    expected = torch.mean((m(noisy) - x) ** 2)
    torch.manual_seed(1)
    assert float(m.loss(x)[0].detach()) == pytest.approx(float(expected.detach()), rel=1e-5)
    m.eval()
    assert "mse_clean" in m.loss(x)[1]


def test_fc_health_accepts_dead_units_but_not_a_dead_layer():
    m = FCAE(FCConfig(hidden=8))
    x = torch.rand(32, 1, 28, 28)
    with torch.no_grad():
        m.encoder[1].bias[:4] = -1e3  # half the units dead: fine for a (sparse) ReLU layer
    assert m.health(x) is None
    with torch.no_grad():
        m.encoder[1].bias[:] = -1e3
    assert "collapsed" in m.health(x)


@pytest.mark.parametrize("variant", VARIANTS)
def test_upsampling_variants_shapes_and_layers(variant):
    m = UpsamplingAE(UpsamplingConfig(variant=variant, c1=4, c2=2))
    x = torch.rand(3, 1, 28, 28)
    z = m.encode(x)
    assert z.shape == (3, 2 * 49)
    out = m(x)
    assert out.shape == x.shape and (out >= 0).all() and (out <= 1).all()
    assert m.decode(z).shape == x.shape
    tconv_layers = [l for l in m.modules() if isinstance(l, torch.nn.ConvTranspose2d)]
    assert len(tconv_layers) == {"unpool": 0, "unpool_tconv": 2, "tconv": 2}[variant]
    assert all(isinstance(k, torch.Tensor) for k in m.decoder_filters().values())


def test_unpooling_uses_the_encoders_indices_and_tconv_does_not():
    x = torch.rand(3, 1, 28, 28)
    unpool = UpsamplingAE(UpsamplingConfig(variant="unpool", c1=4, c2=2))
    tconv = UpsamplingAE(UpsamplingConfig(variant="tconv", c1=4, c2=2))
    with torch.no_grad():
        assert not torch.allclose(unpool(x), unpool.decode(unpool.encode(x)))
        assert torch.allclose(tconv(x), tconv.decode(tconv.encode(x)))


def test_top_left_indices_place_values_at_even_positions():
    idx = _top_left_indices(1, 1, 3, 4, "cpu")
    out = torch.nn.functional.max_unpool2d(torch.ones(1, 1, 3, 4), idx, 2, output_size=(6, 8))
    expected = torch.zeros(6, 8)
    expected[::2, ::2] = 1
    assert torch.equal(out[0, 0], expected)


def test_unknown_variant_is_a_clear_error():
    with pytest.raises(ValueError, match="variant"):
        UpsamplingAE(UpsamplingConfig(variant="bilinear"))


# --- analyses, synthetic ----------------------------------------------------------------------

def test_pca_curve_matches_direct_reconstructions():
    gen = torch.Generator().manual_seed(0)
    basis = torch.randn(6, 784, generator=gen)
    x_train = (torch.randn(300, 6, generator=gen) @ basis + 0.1 * torch.randn(300, 784, generator=gen))
    x_train, x_test = x_train.view(-1, 1, 28, 28)[:200], x_train.view(-1, 1, 28, 28)[200:]
    curve = B.pca_mse_curve(B.fit_pca(x_train, 10), x_test)
    assert np.all(np.diff(curve) <= 1e-12)
    for k in (1, 3, 6):
        direct = float(((B.pca_reconstruct(B.fit_pca(x_train, k), x_test) - x_test) ** 2).mean())
        assert curve[k - 1] == pytest.approx(direct, rel=1e-6)
    with pytest.raises(ValueError, match="n_components"):
        B.fit_pca(x_train, 0)


def test_background_stats_sees_grey_backgrounds():
    clean = torch.zeros(2, 1, 28, 28)
    clean[:, :, 10:18, 10:18] = 1
    grey = clean + 0.2
    assert B.background_stats(grey, clean)["share_above"] == pytest.approx(1.0)
    assert B.background_stats(clean, clean)["share_above"] == 0.0
    with pytest.raises(ValueError):
        B.background_stats(clean, torch.ones_like(clean))


def test_activation_stats_and_top_units():
    m = FCAE(FCConfig(hidden=6))
    with torch.no_grad():
        m.encoder[1].bias[:] = torch.tensor([-1e3, 0, 0, 0, 5.0, 0])
    s = B.activation_stats(m, torch.rand(20, 1, 28, 28))
    assert s["dead_units"] >= 1 and 0 < s["active"] < 1 and s["per_unit"].shape == (6,)
    assert int(B.top_units(s["per_unit"], 1)[0]) == 4
    assert B.encoder_filters(m, [4, 0]).shape == (2, 28, 28)


def test_manifold_walks_start_at_the_image_and_move_away():
    m = FCAE(FCConfig(hidden=8)).eval()
    x = torch.rand(1, 1, 28, 28)
    w = B.manifold_walks(m, x, steps=(0, 2, 4))
    assert torch.allclose(w["pixel"][0], x[0])
    assert torch.allclose(w["latent"][0], m(x)[0], atol=1e-6)
    d = [r["distance to x"] for r in w["rows"] if r["walk"] == "pixel"]
    assert d[0] == 0 and d[0] < d[1] < d[2]
    with pytest.raises(ValueError):
        B.manifold_walks(m, torch.rand(2, 1, 28, 28))
    sigma = B.code_std(m, torch.rand(50, 1, 28, 28))
    rows = B.walk_table(m, torch.rand(2, 1, 28, 28), steps=(0, 1), seeds=(0, 1), code_std=sigma)
    assert len(rows) == 4
    d = sorted(r["distance to x"] for r in rows if r["walk"] == "pixel")
    assert B.interp_walk(rows, "pixel", d[0]) == pytest.approx(
        next(r["RMSE to AE(image)"] for r in rows if r["walk"] == "pixel" and r["step"] == 0))
    with pytest.raises(ValueError):
        B.interp_walk(rows, "nowhere", 1.0)


def test_code_std_shaped_walk_leaves_dead_units_alone():
    m = FCAE(FCConfig(hidden=8)).eval()
    with torch.no_grad():
        m.encoder[1].bias[:4] = -1e3
    x = torch.rand(1, 1, 28, 28)
    sigma = B.code_std(m, torch.rand(50, 1, 28, 28))
    assert (sigma[:4] == 0).all()
    w = B.manifold_walks(m, x, steps=(0, 3), code_std=sigma)
    with torch.no_grad():
        z0 = m.encode(x)
    assert w["latent"].shape == (2, 1, 28, 28) and z0[0, :4].eq(0).all()


def test_random_input_rows_compare_noise_with_digits(monkeypatch):
    m = FCAE(FCConfig(hidden=8)).eval()
    monkeypatch.setattr(B, "model", lambda name: m)
    rows = B.random_input_rows(torch.rand(40, 1, 28, 28), names=("a",), n=40)
    assert rows[0]["model"] == "a" and rows[0]["output spread, noise in"] >= 0
    assert B.random_inputs(3, seed=1).shape == (3, 1, 28, 28)
    assert torch.equal(B.random_inputs(3, seed=1), B.random_inputs(3, seed=1))


def test_denoise_table_and_pivot(monkeypatch):
    identity = FCAE(FCConfig(hidden=4))
    monkeypatch.setattr(B, "model", lambda name: identity)
    x = torch.rand(10, 1, 28, 28)
    rows = B.denoise_table(x, levels=(0.0, 0.5), names=("a",))
    assert len(rows) == 4
    noisy0 = [r for r in rows if r["model"] == "noisy input" and r["noise"] == 0.0][0]
    assert noisy0["MSE"] == 0
    table = B.pivot(rows, "MSE")
    assert [r["model"] for r in table] == ["noisy input", "a"] and "noise 0.5" in table[0]


# --- real data and shipped weights -----------------------------------------------------------

def test_pca_on_real_mnist_improves_with_components_and_leaves_grey_backgrounds(mnist):
    x_train, x_test = mnist["train"][0][:5000], mnist["test"][0][:500]
    pca = B.fit_pca(x_train, 30)
    curve = B.pca_mse_curve(pca, x_test)
    assert curve[0] > curve[9] > curve[29] > 0
    rec = B.pca_reconstruct(pca, x_test)
    assert rec.min() < 0  # a linear reconstruction leaves [0, 1]: the grey-background answer
    assert B.background_stats(rec, x_test)["share_above"] > 0.05


@pytest.mark.slow
def test_summary_gives_every_b_reference_key_from_shipped_weights(mnist):
    ours = B.summary()
    keys = {k for k in reference.REFERENCE if k.startswith("b")}
    assert set(ours) == keys
    assert all(np.isfinite(v) and v > 0 for v in ours.values())
    assert ours["b3_mean_act_sparse"] < ours["b3_mean_act_128"]  # the L1 penalty did its job
    # the shipped DAE beats the plain AE of the same size on noisy inputs
    x = mnist["test"][0][:1000]
    rows = B.denoise_table(x, levels=(0.5,), names=("fc128", "dae"))
    mse = {r["model"]: r["MSE"] for r in rows}
    assert mse["dae"] < mse["fc128"] < mse["noisy input"]
