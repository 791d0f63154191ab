"""The registry's records, the VAE vocabulary and the config-name aliases that keep old checkpoints loading."""
from dataclasses import asdict

import pytest
import torch

from core import models
from core.models import Entry, checkpoints, evaluating, kl_divergence, reparameterise
from core.models.colour import ColourAE, ColourAEConfig
from core.models.mlp_vae import MLPVAE, MLPVAEConfig
from core.models.vae import ConvVAE, ConvVAEConfig
from core.training import train

import tiny


def test_every_entry_is_a_record_with_a_unique_title_and_its_budget_reason():
    for name, e in models.REGISTRY.items():
        assert isinstance(e, Entry), name
        assert isinstance(e.config, e.cls.Config) and e.train.epochs >= 1, name
        assert e.title.strip() and len(e.budget_why) > 40, f"{name}: say what budget it got and why"
    titles = [e.title for e in models.REGISTRY.values()]
    assert len(titles) == len(set(titles))
    assert models.title("c_ae") == models.REGISTRY["c_ae"].title


def test_a_tuple_in_the_registry_is_refused_with_its_name(monkeypatch):
    monkeypatch.setitem(models.REGISTRY, "old_style", (ConvVAE, ConvVAEConfig(), models.REGISTRY["vae2"].train))
    with pytest.raises(TypeError, match="old_style.*core.models.Entry"):
        models.entry("old_style")


def test_evaluating_restores_the_callers_mode_even_after_an_error():
    model = ConvVAE(ConvVAEConfig())
    with evaluating(model):
        assert not model.training
    assert model.training
    model.eval()
    with pytest.raises(RuntimeError), evaluating(model):
        raise RuntimeError("boom")
    assert not model.training


@pytest.mark.parametrize("cls, cfg", [(ConvVAE, ConvVAEConfig(latent_dim=3)), (MLPVAE, MLPVAEConfig(latent_dim=3)),
                                      (ColourAE, ColourAEConfig(variational=True, latent_dim=12))])
def test_every_vae_hands_out_mean_and_log_std_and_its_loss_uses_the_shared_kl(cls, cfg):
    torch.manual_seed(0)
    model = cls(cfg)
    x = torch.rand(4, 3 if cls is ColourAE else 1, 28, 28)
    mean, log_std = model.posterior(x)
    assert mean.shape == log_std.shape and mean.flatten(1).shape[1] == cfg.latent_dim
    assert model.encode(x).shape == (4, cfg.latent_dim)
    torch.manual_seed(1)
    _, logs = model.loss(x, x) if cls is ColourAE else model.loss(x)
    assert float(logs["kl"]) == pytest.approx(float(kl_divergence(mean.float(), log_std.float()).mean()), rel=1e-5)


def test_kl_divergence_sums_every_dimension_per_row():
    mean, log_std = torch.randn(5, 4, 2, 2), 0.3 * torch.randn(5, 4, 2, 2)
    assert torch.allclose(kl_divergence(mean, log_std), kl_divergence(mean.flatten(1), log_std.flatten(1)))
    assert reparameterise(mean, log_std).shape == mean.shape


@pytest.mark.parametrize("cls, new, old", [
    (ConvVAE, ConvVAEConfig(kl_weight=0.5), {"beta_kl": 0.5}),
    (MLPVAE, MLPVAEConfig(latent_dim=3), {"latent": 3}),
    (ColourAE, ColourAEConfig(latent_dim=32, variational=True), {"latent_channels": 8}),
])
def test_a_checkpoint_written_with_old_config_names_loads_and_counts_as_up_to_date(cls, new, old, tmp_path, monkeypatch):
    saved = {k: v for k, v in asdict(new).items() if k not in ("kl_weight", "latent_dim")}
    if cls is not ConvVAE:
        saved["kl_weight"] = new.kl_weight
    if cls is ConvVAE:
        saved["latent_dim"] = new.latent_dim
    saved.update(old)
    torch.manual_seed(0)
    model = cls(new).eval()
    tcfg = models.REGISTRY["vae2"].train
    monkeypatch.setitem(models.REGISTRY, "renamed", Entry(cls, new, tcfg, title="renamed"))
    ckpt = {"model_class": cls.__name__, "model_config": saved, "train_config": asdict(tcfg),
            "state_dict": model.state_dict()}
    checkpoints.save_file(ckpt, tmp_path / "renamed.pt")
    loaded = checkpoints.load("renamed", tmp_path)
    assert loaded.cfg == new
    x = torch.rand(2, 3 if cls is ColourAE else 1, 28, 28)
    assert torch.equal(loaded(x), model(x))
    assert train._trained_with(cls, ckpt, tcfg, new)
    assert not train._trained_with(cls, {**ckpt, "model_config": {**saved, "hidden": 7}}, tcfg, new)
    both = {**saved, **{k: v for k, v in asdict(new).items() if k in ("kl_weight", "latent_dim")}}
    checkpoints.save_file({**ckpt, "model_config": both}, tmp_path / "renamed.pt")
    with pytest.raises(checkpoints.CheckpointError, match="both"):
        checkpoints.load("renamed", tmp_path)


def test_shipped_checkpoints_count_as_trained_with_their_registry_entry():
    """Whatever names their configs were saved under, `core.training.train` keeps them (no retraining)."""
    for name in checkpoints.manifest():
        e = models.entry(name)
        assert train._trained_with(e.cls, checkpoints.load_checkpoint(name), e.train, e.config), name


def test_tiny_models_register_as_records():
    saved = dict(models.REGISTRY)
    try:
        tiny.register()
        assert models.entry("tiny_ae").title == "tiny AE"
    finally:
        models.REGISTRY.clear(), models.REGISTRY.update(saved)
