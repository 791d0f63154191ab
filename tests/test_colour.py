"""C1-C4: the coloured noisy dataset, the three conv denoisers, the on-disk analysis cache."""
import math

import pytest
import torch

from core.analysis import colour as ca
from core.data import colour as cm
from core.models import REGISTRY, build, checkpoints


def _digits(n=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 1, 28, 28)
    x[:, :, 8:20, 10:18] = torch.rand(n, 1, 12, 8, generator=gen)  # a "stroke" on black
    return x, torch.arange(n) % 10


# --- C1 data -------------------------------------------------------------------------------------

def test_colours_are_saturated_and_seeded():
    c = cm.hsv_colours(500, seed=3)
    assert c.shape == (500, 3) and c.min() >= 0 and c.max() <= 1
    assert torch.allclose(c.max(1).values, torch.ones(500))  # v = 1: the brightest channel is 1
    assert torch.allclose(c.min(1).values, torch.zeros(500))  # s = 1: the darkest channel is 0
    assert torch.equal(c, cm.hsv_colours(500, seed=3)) and not torch.equal(c, cm.hsv_colours(500, seed=4))


def test_colour_noisy_pairs_are_deterministic_with_black_background():
    x, y = _digits()
    noisy, clean, y2 = cm.make_colour_noisy(x, y, "test")
    noisy_b, clean_b, _ = cm.make_colour_noisy(x, y, "test")
    assert noisy.shape == clean.shape == (6, 3, 28, 28) and torch.equal(y, y2)
    assert torch.equal(noisy, noisy_b) and torch.equal(clean, clean_b)
    assert clean[:, :, :8].abs().max() == 0  # background stays black
    assert torch.allclose(clean.max(1, keepdim=True).values, x)  # the brightest channel is the stroke
    assert noisy.min() >= 0 and noisy.max() <= 1 and (noisy - clean).abs().mean() > 0.1
    other, _, _ = cm.make_colour_noisy(x, y, "train")
    assert not torch.equal(other, noisy)  # splits use their own seeds


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="split"):
        cm.make_colour_noisy(*_digits(), "valid")
    with pytest.raises(ValueError, match="colours"):
        cm.colourise(torch.zeros(2, 3, 28, 28), torch.zeros(2, 3))


def test_training_subset_is_fixed_sorted_and_unique():
    a, b = cm.train_subset_indices(n=10_000), cm.train_subset_indices(n=10_000)
    assert torch.equal(a, b) and len(a) == 10_000 and len(a.unique()) == len(a)
    assert torch.all(a[1:] > a[:-1]) and a.max() < 60_000
    assert torch.equal(cm.train_subset_indices(100, None), torch.arange(100))
    assert torch.equal(cm.train_subset_indices(), torch.arange(60_000))  # the assignment: every image


# --- C2 models -----------------------------------------------------------------------------------

def test_neighbour_purity_is_high_for_separated_digits_and_near_chance_when_shuffled():
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(10).repeat_interleave(30)
    apart = torch.randn(300, 2, generator=gen) * 0.1 + 10 * torch.stack([y.float(), y.float() % 3], 1)
    assert all(p == 100.0 for p in ca.neighbour_purity(apart, y).values())
    mixed = ca.neighbour_purity(torch.randn(300, 2, generator=gen), y)
    assert set(mixed) == set(range(10)) and sum(mixed.values()) / 10 < 25


@pytest.mark.parametrize("name", ["c_ae", "c_ae_dropout", "c_vae"])
def test_colour_models_shapes_loss_and_snapshot(name):
    model = build(name)
    assert REGISTRY[name].train.dataset == "colour_noisy"
    x, y = _digits(8)
    noisy, clean, y = cm.make_colour_noisy(x, y, "test")
    z = model.encode(noisy)
    assert z.shape == (8, 64)
    out = model.decode(z)
    assert out.shape == (8, 3, 28, 28) and out.min() >= 0 and out.max() <= 1
    loss, logs = model.loss(noisy, clean, y)
    assert torch.isfinite(loss) and {"loss", "mse"} <= set(logs)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    model.train()
    snap = model.snapshot(torch.cat([noisy] * 2), torch.cat([clean] * 2), torch.arange(16) % 10)
    assert snap.shape == (6, 3, 28, 28) and model.training  # the mode is restored


@pytest.mark.slow
def test_denoiser_learns_a_little():
    torch.manual_seed(0)
    model = build("c_ae")
    noisy, clean, y = cm.make_colour_noisy(*_digits(32), "train")
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    first = float(model.loss(noisy, clean)[0].detach())
    for _ in range(15):
        loss, _ = model.loss(noisy, clean)
        opt.zero_grad(), loss.backward(), opt.step()
    assert float(loss.detach()) < first


# --- the analysis cache --------------------------------------------------------------------------

def test_cache_is_reused_and_invalidated_when_the_checkpoint_changes(tmp_path):
    from core.cache import cached

    ckpt, other = tmp_path / "m.pt", tmp_path / "n.pt"
    ckpt.write_bytes(b"weights v1"), other.write_bytes(b"other weights")
    calls = []

    def compute():
        calls.append(1)
        return {"value": torch.tensor([float(len(calls))])}

    store = tmp_path / "cache"
    first = cached("demo", compute, depends_on=[ckpt], directory=store)
    again = cached("demo", compute, depends_on=[ckpt], directory=store)
    assert len(calls) == 1 and torch.equal(first["value"], again["value"])
    ckpt.write_bytes(b"weights v2")  # a retrained checkpoint: another hash
    new = cached("demo", compute, depends_on=[ckpt], directory=store)
    assert len(calls) == 2 and float(new["value"]) == 2
    assert len(list(store.glob("demo-*.pt"))) == 1  # the stale entry is gone
    cached("demo", compute, depends_on=[ckpt], params={"n": 5}, directory=store)
    assert len(calls) == 3 and len(list(store.glob("demo-*.pt"))) == 2  # other parameters, another entry
    cached("demo", compute, depends_on=[ckpt, other], directory=store)
    assert len(calls) == 4  # one more checkpoint it depends on, another entry
    cached("demo-other", compute, depends_on=[ckpt], directory=store)
    assert len(list(store.glob("demo-*.pt"))) == 3  # another tag's entry is kept


def test_a_shipped_entry_is_read_until_the_weights_change(tmp_path, monkeypatch):
    import shutil

    from core import cache, paths

    monkeypatch.setattr(paths, "SHIPPED_CACHE_DIR", tmp_path / "shipped")
    monkeypatch.setattr(paths, "CACHE_DIR", tmp_path / "cache")
    ckpt = tmp_path / "m.pt"
    ckpt.write_bytes(b"weights v1")
    calls = []

    def compute():
        calls.append(1)
        return {"value": torch.tensor([float(len(calls))])}

    def get(**kw):
        return float(cache.cached("slow", compute, depends_on=[ckpt], params={"n": 1}, **kw)["value"])

    copy = cache.ship("slow", compute, depends_on=[ckpt], params={"n": 1})
    assert copy.parent == tmp_path / "shipped" and len(calls) == 1
    shutil.rmtree(tmp_path / "cache")  # a new clone: nothing cached, the shipped copy is read
    assert get(shipped=True) == 1 and len(calls) == 1 and not (tmp_path / "cache").exists()
    assert get() == 2  # without shipped=True the committed copy is not consulted
    ckpt.write_bytes(b"weights v2")  # retrained: the copy no longer matches, so it is computed
    assert get(shipped=True) == 3
    cache.ship("slow", compute, depends_on=[ckpt], params={"n": 1})  # read from the cache: no compute
    assert len(calls) == 3
    assert [p.name for p in (tmp_path / "shipped").iterdir()] == [cache.entry("slow", [ckpt], {"n": 1}).name]
    next((tmp_path / "shipped").iterdir()).write_bytes(b"damaged")
    shutil.rmtree(tmp_path / "cache")
    assert get(shipped=True) == 4  # a damaged copy is recomputed, not trusted
    # `stored` reads what `cached` would, and never computes: None when nothing holds it.
    assert float(cache.stored("slow", depends_on=[ckpt], params={"n": 1})["value"]) == 4
    assert cache.stored("slow", depends_on=[ckpt], params={"n": 2}) is None and len(calls) == 4
    shutil.rmtree(tmp_path / "cache")
    assert cache.stored("slow", depends_on=[ckpt], params={"n": 1}) is None   # the shipped copy is damaged


def test_weights_outside_checkpoints_never_replace_the_shipped_results(tmp_path, monkeypatch, capsys):
    from core import paths

    monkeypatch.setattr(paths, "CHECKPOINT_DIR", tmp_path)  # AELAB_CHECKPOINTS=... make train
    monkeypatch.setattr(ca, "ship_results", lambda *a, **k: pytest.fail("shipped from another folder's weights"))
    ca.main(["--ship"])
    assert "not shipping" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["demo.judging", "core.denoising.posterior.single"])
def test_the_demos_calibrations_are_not_shipped_from_weights_trained_elsewhere(command, tmp_path, monkeypatch, capsys):
    import importlib

    from core import cache, paths

    monkeypatch.setattr(paths, "CHECKPOINT_DIR", tmp_path)  # AELAB_CHECKPOINTS=... make train
    monkeypatch.setattr(cache, "ship", lambda *a, **k: pytest.fail("shipped from another folder's weights"))
    importlib.import_module(command).main(["--ship"])
    assert "not shipping" in capsys.readouterr().out


def test_chapter_c_slow_results_are_shipped_for_the_current_weights():
    # Else chapter C computes minutes of t-SNE and C3 scores at render time: `make train` (or
    # `python -m core.analysis.colour --ship`) ships them with new weights.
    from core import cache, paths

    jobs = ca.shipped_jobs()
    assert {j["tag"] for j in jobs} >= {"c4-tsne2d-c_ae", "c4-tsne3d-c_ae", "c3-levels-c_vae"}
    for job in jobs:
        target = cache.entry(job["tag"], job["depends_on"], job["params"])
        assert (paths.SHIPPED_CACHE_DIR / target.name).exists(), f"run python -m core.analysis.colour --ship ({job['tag']})"


def test_cache_needs_an_existing_checkpoint(tmp_path):
    from core.cache import cached

    with pytest.raises(checkpoints.CheckpointError, match="does not exist"):
        cached("demo", dict, depends_on=[tmp_path / "missing.pt"], directory=tmp_path)
    with pytest.raises(checkpoints.CheckpointError, match="core.training nonexistent"):
        cached("demo", dict, depends_on=["nonexistent"], directory=tmp_path, checkpoint_dir=tmp_path)


# --- real data and shipped weights ---------------------------------------------------------------

def test_real_test_split_is_coloured_mnist(mnist):
    noisy, clean, y = cm.load_colour_noisy("test")
    x, labels = mnist["test"]
    assert noisy.shape == clean.shape == (10_000, 3, 28, 28) and torch.equal(y, labels)
    assert torch.allclose(clean.max(1, keepdim=True).values, x, atol=1e-6)


@pytest.mark.slow
def test_shipped_denoiser_beats_the_noisy_input(mnist):
    noisy_score = ca.noisy_input_metrics()
    ours = ca.denoising_metrics("c_ae")
    assert ours["mse"] < noisy_score["mse"] and ours["snr"] > noisy_score["snr"]
    assert len(checkpoints.load_checkpoint("c_ae")["snapshots"]) == REGISTRY["c_ae"].train.epochs


def test_stroke_saturation_is_one_for_pure_hues_and_zero_for_grey():
    x, y = _digits(4)
    coloured = cm.colourise(x, cm.hsv_colours(4, seed=0))
    assert ca.stroke_saturation(coloured) == pytest.approx(1.0, abs=1e-5)
    assert ca.stroke_saturation(x.repeat(1, 3, 1, 1)) == pytest.approx(0.0, abs=1e-6)
    assert math.isnan(ca.stroke_saturation(torch.zeros(2, 3, 28, 28)))  # no stroke at all


def test_noise_levels_of_c3_reuse_the_test_splits_noise_at_the_training_level(mnist):
    noisy, clean, _ = ca.test_set()
    assert torch.equal(ca.noisy_at(cm.DEFAULT_NOISE_LEVEL), noisy)
    low = ca.noisy_input_metrics(0.1)
    assert low["snr"] > ca.noisy_input_metrics(0.5)["snr"] and low["mse"] < ca.noisy_input_metrics(0.5)["mse"]
    with pytest.raises(ValueError, match="not one of C3"):
        ca.denoising_metrics("c_ae", 0.4)
