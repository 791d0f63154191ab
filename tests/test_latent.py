"""A2-A6: latent analyses, the A4 classifier and the figures, on synthetic data first, then real."""
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch import nn

from core import analysis
from core.analysis import grid_points, latent_bounds
from core.analysis import latent as L
from core.cache import cached, entry
from core.models import build
from core.models.classifier import SpecClassifier
from core.plots import latent as P

ENCODER_LAYERS = (nn.Conv2d, nn.ReLU, nn.MaxPool2d)


# --- synthetic invariants ------------------------------------------------------------------------

def test_a3_nearest_neighbour_of_an_index_point_is_itself():
    gen = torch.Generator().manual_seed(0)
    index = torch.randn(300, 2, generator=gen).numpy()
    labels = np.arange(300)  # unique labels: the predicted label names the neighbour found
    assert (L.nearest_neighbour(index, labels, index) == labels).all()
    assert (L.nearest_neighbour(index, labels, index + 1e-4, "brute") == labels).all()


def test_a3_nearest_neighbour_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="index"):
        L.nearest_neighbour(np.zeros((5, 2)), np.zeros(5), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="labels"):
        L.nearest_neighbour(np.zeros((5, 2)), np.zeros(4), np.zeros((3, 2)))


def test_a3_per_digit_accuracies_average_to_overall_with_count_weights():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 997)
    pred = np.where(rng.random(997) < 0.6, y, rng.integers(0, 10, 997))
    per_digit = L.per_digit_accuracy(y, pred)
    counts = np.bincount(y, minlength=10)
    assert L.overall_accuracy(y, pred) == pytest.approx((per_digit * counts).sum() / counts.sum())
    assert L.mean_accuracy(per_digit) == pytest.approx(per_digit.mean())
    assert np.isnan(L.per_digit_accuracy(np.array([1, 1]), np.array([1, 0]))[0])
    with pytest.raises(ValueError):
        L.per_digit_accuracy(y, pred[:-1])


def test_a3_chance_and_confusion():
    y = np.array([0, 1, 1, 2, 2, 2])
    c = L.chance(y, classes=3)
    assert c["uniform"] == pytest.approx(100 / 3) and c["majority"] == 50 and c["majority_digit"] == 2
    cm = L.confusion(y, np.array([0, 1, 2, 2, 2, 1]), classes=3)
    assert cm.sum() == len(y) and np.trace(cm) == 4 and cm[1, 2] == 1
    assert L.top_confusions(cm, k=1)[0][2] == 1


def test_a2_axis_fractions_count_exact_zeros():
    z = torch.tensor([[0.0, 1.0], [0.0, 0.0], [2.0, 3.0], [1.0, 0.0]])
    f = L.axis_fractions(z)
    assert f == {"z1": 0.5, "z2": 0.5, "either": 0.75, "both": 0.25}
    assert L.axis_fraction_by_digit(z, torch.tensor([0, 0, 1, 1])).tolist()[:2] == [1.0, 0.5]
    with pytest.raises(ValueError):
        L.axis_fractions(torch.zeros(3, 3))


@pytest.mark.slow
def test_a5_grid_extent_matches_the_scatter_axes():
    gen = torch.Generator().manual_seed(0)
    z = torch.rand(500, 2, generator=gen) * torch.tensor([3.0, 5.0])
    y = torch.randint(0, 10, (500,), generator=gen)
    bounds, n = latent_bounds(z), 5
    images = torch.rand(n * n, 1, 28, 28, generator=gen)
    fig = P.grid_beside_scatter(images, bounds, n, z, y)
    scatter_ax, grid_ax = fig.axes[:2]
    im = grid_ax.get_images()[0]
    x0, x1, y0, y1 = im.get_extent()
    # tile centres sit on the grid points: first tile centre = (x_min, y_max) = top-left
    cell_x, cell_y = (x1 - x0) / n, (y1 - y0) / n
    assert (x0 + cell_x / 2, y1 - cell_y / 2) == pytest.approx((bounds[0], bounds[3]))
    assert (x1 - cell_x / 2, y0 + cell_y / 2) == pytest.approx((bounds[1], bounds[2]))
    assert tuple(grid_points(bounds, n)[0].tolist()) == pytest.approx((bounds[0], bounds[3]))
    assert scatter_ax.get_xlim() == pytest.approx((x0, x1)) and scatter_ax.get_ylim() == pytest.approx((y0, y1))
    assert grid_ax.get_xlim() == pytest.approx((x0, x1)) and grid_ax.get_ylim() == pytest.approx((y0, y1))
    assert L.inside_fraction(z, bounds) == pytest.approx(0.96, abs=0.03)
    plt.close("all")


def test_a5_grid_support_counts_points_in_the_tile_under_them():
    bounds, n = (0.0, 4.0, 0.0, 2.0), 5
    points = grid_points(bounds, n)  # each grid point falls in its own tile
    assert (L.grid_support(points, bounds, n) == 1).all()
    z = torch.tensor([[0.0, 2.0], [0.1, 1.9], [4.0, 0.0], [9.0, 9.0]])  # top-left twice, bottom-right, outside
    support = L.grid_support(z, bounds, n)
    assert support[0] == 2 and support[-1] == 1 and support.sum() == 3


def test_a6_noise_shift_measures_displacement_and_spread():
    z = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    s = L.noise_shift(z, z * 0 + 1)  # every code collapses to (1, 1)
    assert s["median_shift"] == pytest.approx(2 ** 0.5) and s["spread_noisy"] == 0
    assert s["spread_clean"] == pytest.approx(2 ** 0.5) and s["centre_noisy"] == [1.0, 1.0]


def test_a4_generalisation_gap_flags_a_turning_test_loss_only():
    steady = {"train": {"loss": [1.0, 0.5, 0.3, 0.2]}, "test": {"loss": [1.1, 0.6, 0.4, 0.35]}}
    turning = {"train": {"loss": [1.0, 0.5, 0.3, 0.2]}, "test": {"loss": [1.1, 0.6, 0.7, 0.9]}}
    g = L.generalisation_gap(steady, "loss")
    assert (g["best_epoch"], g["rise"], g["overfits"]) == (4, 0.0, False)
    t = L.generalisation_gap(turning, "loss")
    assert t["best_epoch"] == 2 and t["rise"] == pytest.approx(0.5) and t["overfits"]
    acc = {"train": {"accuracy": [90, 95, 99]}, "test": {"accuracy": [89, 94, 93]}}
    a = L.generalisation_gap(acc)
    assert a["best_epoch"] == 2 and a["gap"] == 6 and a["rise"] == pytest.approx(1 / 94)
    assert not a["overfits"]  # 1 % worse is within the 5 % tolerance


def test_digit_layout_names_each_digits_side_and_sorts_by_distance():
    gen = torch.Generator().manual_seed(0)
    centres = {0: (0.0, 4.0), 1: (-3.0, -3.0), 2: (0.0, 0.0), 3: (2.0, 0.0)}
    z = torch.cat([torch.tensor(c) + 0.1 * torch.randn(50, 2, generator=gen) for c in centres.values()])
    y = torch.tensor(list(centres)).repeat_interleave(50)
    rows = analysis.digit_layout(z, y)
    assert [r["digit"] for r in rows] == [1, 0, 3, 2]  # farthest first
    sides = {r["digit"]: r["side"] for r in rows}
    assert (sides[0], sides[1], sides[3]) == ("top", "bottom left", "right")
    assert rows[-1]["distance"] < 0.1  # digit 2 sits on the overall median
    with pytest.raises(ValueError, match="2-D points"):
        analysis.digit_layout(torch.zeros(5, 3), torch.zeros(5))


@pytest.mark.slow
def test_figures_build_from_synthetic_data():
    gen = torch.Generator().manual_seed(0)
    z = torch.rand(200, 2, generator=gen)
    z[:20, 0] = 0
    y = torch.randint(0, 10, (200,), generator=gen)
    figs = [P.scatter(z, y, latent_bounds(z)), P.axis_zoom(z, y),
            P.accuracy_bars({"a": np.arange(10) * 10.0, "b": np.ones(10)}, chance=10),
            P.confusion(L.confusion(y, y.roll(1))), P.overlay(torch.rand(9, 1, 28, 28), latent_bounds(z), 3, z, y),
            P.denoising_rows(*torch.rand(3, 10, 1, 28, 28)),
            P.noise_shift(z, y, z.flip(0), torch.arange(10))]
    assert all(isinstance(f, plt.Figure) for f in figs)
    plt.close("all")


def test_cache_recomputes_a_damaged_file(tmp_path):
    calls = []
    compute = lambda: calls.append(1) or {"x": torch.arange(3)}
    assert cached("k", compute, directory=tmp_path)["x"].tolist() == [0, 1, 2]
    assert cached("k", compute, directory=tmp_path)["x"].tolist() == [0, 1, 2] and len(calls) == 1
    entry("k", directory=tmp_path).write_bytes(b"garbage")
    assert cached("k", compute, directory=tmp_path)["x"].tolist() == [0, 1, 2] and len(calls) == 2


# --- A4 classifier ------------------------------------------------------------------------------

def test_a4_classifier_is_the_encoder_with_one_linear_head():
    model = SpecClassifier()
    leaves = [m for m in model.modules() if not list(m.children())]
    linears = [m for m in leaves if isinstance(m, nn.Linear)]
    assert len(linears) == 1 and linears[0].out_features == 10
    assert all(isinstance(m, ENCODER_LAYERS) for m in leaves if m is not linears[0])
    convs = [m for m in leaves if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [16] * 4 and all(c.kernel_size == (3, 3) for c in convs)
    assert sum(isinstance(m, nn.MaxPool2d) for m in leaves) == 4
    logits = model(torch.rand(7, 1, 28, 28))
    assert logits.shape == (7, 10)
    assert model.predict(torch.rand(5, 1, 28, 28)).shape == (5,)
    with pytest.raises(ValueError, match="28"):
        model(torch.rand(2, 1, 32, 32))


@pytest.mark.slow
def test_a4_classifier_logs_and_learns_a_tiny_batch():
    model = build("spec_classifier", seed=0)
    x, y = torch.rand(20, 1, 28, 28), torch.arange(20) % 10
    loss, logs = model.loss(x, y)
    assert {"loss", "accuracy"} <= set(logs) and 0 <= float(logs["accuracy"]) <= 100
    assert model.metric_name == "accuracy" and not logs["loss"].requires_grad
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = float(logs["loss"])
    for _ in range(20):
        loss, logs = model.loss(x, y)
        opt.zero_grad(), loss.backward(), opt.step()
    assert float(logs["loss"]) < 0.9 * first


# --- real data, shipped checkpoints -------------------------------------------------------------

@pytest.mark.slow
def test_a2_a3_real_latents_and_knn(mnist):
    lat = L.latents()
    assert lat["test_z"].shape == (10_000, 2) and lat["train_z"].shape == (60_000, 2)
    assert (lat["test_z"] >= 0).all()  # the encoder ends in a ReLU
    assert torch.equal(lat["test_y"], mnist["test"][1])
    knn = L.latent_knn()
    assert 10 < knn["mean"] <= 100 and (knn["per_digit"] > 0).all()  # better than chance
    s = L.summary()
    assert s["a3_knn_mean"] == pytest.approx(knn["mean"])


@pytest.mark.slow
def test_a3_real_pixel_knn_is_a_ceiling(mnist):
    pix = L.pixel_knn()
    assert len(pix["y"]) == L.PIXEL_QUERIES and pix["overall"] > 90
    assert pix["mean"] > L.latent_knn()["mean"]


@pytest.mark.slow
def test_a4_real_classifier_matches_its_recorded_accuracy(mnist):
    res = L.classifier_results()
    assert res["accuracy"] == pytest.approx(L.summary()["a4_test_accuracy"], abs=0.05)
    assert res["accuracy"] >= 99.0  # the accuracy the shipped classifier was trained to reach
    assert L.confusion(res["y"], res["pred"]).sum() == 10_000


def test_a5_real_grid_covers_the_occupied_region(mnist):
    g = L.grid()
    assert g["images"].shape == (L.GRID_N ** 2, 1, 28, 28)
    assert 0.9 < g["inside"] <= 1.0
    assert g["images"].std(0).mean() > 0.01  # the tiles differ: the decoder is not constant
    z = L.latents()["test_z"]
    support = L.grid_support(z, g["bounds"], g["n"])
    # The tiles' cells are centred on the grid points, so together they cover the bounds widened by
    # half a cell on each side: every code there is counted once, and none outside.
    x0, x1, y0, y1 = g["bounds"]
    hx, hy = (x1 - x0) / (g["n"] - 1) / 2, (y1 - y0) / (g["n"] - 1) / 2
    widened = L.inside_fraction(z, (x0 - hx, x1 + hx, y0 - hy, y1 + hy))
    assert support.sum() / len(z) == pytest.approx(widened, abs=2 / len(z))  # edge ties aside
    assert support.sum() / len(z) >= g["inside"] - 1 / len(z)


def test_a6_real_denoising_improves_on_the_noisy_input(mnist):
    d = L.denoising()
    rows = {r["images"]: r for r in d["rows"]}
    assert rows["AE(noisy)"]["MSE"] < rows["noisy input"]["MSE"]
    assert rows["AE(noisy)"]["PSNR (dB)"] > rows["noisy input"]["PSNR (dB)"]
    assert d["noisy"].shape == d["output"].shape == d["clean"].shape == (10, 1, 28, 28)
