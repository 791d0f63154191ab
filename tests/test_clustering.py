"""D1-D2: the MLP VAE, the Hungarian cluster -> digit mapping, GMM scores and the ellipse plot."""
import numpy as np
import pytest
import torch

from core import paths
from core.analysis import clustering as cl
from core.models import build


def test_hungarian_mapping_recovers_a_permuted_labelling():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 2000)
    perm = rng.permutation(10)
    clusters = perm[labels]  # cluster c holds exactly the digit whose image under perm is c
    mapping = cl.hungarian_mapping(clusters, labels)
    assert np.array_equal(mapping[perm], np.arange(10))
    assert cl.scores(mapping[clusters], labels)["accuracy"] == 100


def test_hungarian_mapping_is_one_to_one_under_noise():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, 3000)
    clusters = np.where(rng.random(3000) < 0.3, rng.integers(0, 10, 3000), (labels + 3) % 10)
    mapping = cl.hungarian_mapping(clusters, labels)
    assert sorted(mapping) == list(range(10))
    assert np.array_equal(mapping, (np.arange(10) - 3) % 10)
    with pytest.raises(ValueError, match="shape"):
        cl.hungarian_mapping(clusters[:5], labels)


def test_scores_of_a_partly_wrong_prediction():
    labels = np.repeat(np.arange(10), 10)
    predicted = labels.copy()
    predicted[:10] = 1  # every 0 called a 1
    s = cl.scores(predicted, labels)
    assert s["accuracy"] == pytest.approx(90)
    assert s["per_digit"][0]["recall %"] == 0 and s["per_digit"][1]["precision %"] == pytest.approx(50)
    assert 0 < s["f1"] < 100


def test_scores_survive_the_weights_only_cache(tmp_path):
    s = cl.scores(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]))
    torch.save(s, tmp_path / "s.pt")
    assert torch.load(tmp_path / "s.pt", weights_only=True) == s


def test_where_digit_goes_counts_the_named_components_of_one_digit():
    # Components 0..9 are named 9..0; the 4s land in components 5 (-> 4) x2 and 2 (-> 7) x1.
    result = {"mapping": torch.arange(9, -1, -1), "test_labels": torch.tensor([4, 4, 4, 1, 1]),
              "test_clusters": torch.tensor([5, 2, 5, 8, 8])}
    assert cl.where_digit_goes(result, 4) == [(4, pytest.approx(200 / 3)), (7, pytest.approx(100 / 3))]
    assert cl.where_digit_goes(result, 1, top=1) == [(1, 100.0)]
    counts = cl.components_per_digit(result)  # component 5 and 2 are mostly 4s, 8 is all 1s
    assert (counts[4], counts[1], sum(counts.values())) == (2, 1, 3)


def test_gmm_on_separated_blobs_finds_the_digits():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 20, (10, 2))
    labels = rng.integers(0, 10, 3000)
    z = centres[labels] + rng.normal(0, 1, (3000, 2))
    gmm, mapping = cl.fit_gmm(z, labels)
    assert cl.scores(mapping[gmm.predict(z)], labels)["accuracy"] > 95


def test_gmm_scatter_draws_an_ellipse_per_component():
    import matplotlib

    matplotlib.use("Agg")
    from core.plots.clustering import gmm_scatter

    rng = np.random.default_rng(0)
    z, labels = rng.normal(size=(200, 2)), rng.integers(0, 10, 200)
    covs = np.stack([np.diag([1.0, 0.25])] * 10)
    fig = gmm_scatter(z, labels, rng.normal(size=(10, 2)), covs, np.arange(10))
    assert len(fig.axes[0].patches) == 20  # outline + coloured ellipse per component
    with pytest.raises(ValueError, match="2-D"):
        gmm_scatter(rng.normal(size=(5, 3)), labels[:5], np.zeros((10, 3)), covs, np.arange(10))


def test_mlp_vae_shapes_and_loss():
    model = build("mlp_vae")
    x = torch.rand(16, 1, 28, 28)
    mean, log_std = model.posterior(x)
    assert mean.shape == log_std.shape == (16, 2) and torch.equal(model.encode(x), mean)
    assert model.decode(mean).shape == (16, 1, 28, 28)
    loss, logs = model.loss(x)
    assert torch.isfinite(loss) and {"loss", "bce", "kl", "mse"} <= set(logs) and float(logs["kl"]) >= 0
    loss.backward()
    assert cl.prior_samples(model, 5).shape == (5, 1, 28, 28)


def test_missing_checkpoint_degrades_to_a_clear_row(monkeypatch, tmp_path):
    monkeypatch.setattr(paths, "CHECKPOINT_DIR", tmp_path)
    assert cl.gmm_if_available("vae16") is None
    row = cl.score_rows({"vae16": None})[0]
    assert "not available" in row["accuracy %"] and "vae16" in row["accuracy %"]


def test_shipped_mlp_vae_clusters_better_than_chance(mnist):
    r = cl.gmm_on("mlp_vae")
    assert r["accuracy"] > 30 and sorted(r["mapping"].tolist()) == list(range(10))
