"""C1: coloured noisy MNIST, generated deterministically from the real MNIST tensors.

Colour scheme: every image gets ONE stroke colour, a fully saturated, full-brightness hue
(HSV with h ~ U[0, 1), s = 1, v = 1) drawn from a generator seeded per split (COLOUR_SEED);
the clean image is the grey digit times that RGB colour, so the background stays black and the
stroke keeps MNIST's anti-aliased intensity. The noisy image adds Gaussian noise of standard
deviation DEFAULT_NOISE_LEVEL independently to every channel of every pixel, then clips to [0, 1]
(the project's "noise level s" convention at its default level, drawn from NOISE_SEED).

The training split is all 60,000 training images (TRAIN_SUBSET = None; the models hold out a
seeded validation part of them, core.training.train.validation_split), as the assignment asks; a number
would pick a fixed, seeded subset instead. The test split is all 10,000 test images. Both are built once per process and kept in memory.
"""
from __future__ import annotations

import functools

import torch

from core.data.corruptions import DEFAULT_NOISE_LEVEL, add_noise
from core.data.mnist import load_mnist, seeded_subset

COLOUR_SEED = {"train": 101, "test": 102}
NOISE_SEED = {"train": 201, "test": 202}
SUBSET_SEED = 301
TRAIN_SUBSET = None  # all 60,000 training images; a number picks a seeded subset of that size


def hsv_colours(n: int, seed: int) -> torch.Tensor:
    """n saturated RGB colours [n, 3] in [0, 1]: hue uniform, saturation and value 1."""
    hue = torch.rand(n, generator=torch.Generator().manual_seed(seed))
    h6 = hue[:, None] * 6
    # Piecewise-linear HSV -> RGB for s = v = 1: each channel is a clipped triangle over the hue.
    rgb = torch.cat([(h6 - 3).abs() - 1, 2 - (h6 - 2).abs(), 2 - (h6 - 4).abs()], dim=1)
    return rgb.clamp_(0, 1)


def colourise(x: torch.Tensor, colours: torch.Tensor) -> torch.Tensor:
    """Grey digits [N,1,H,W] times one RGB colour per image [N,3] -> [N,3,H,W]."""
    if x.ndim != 4 or x.shape[1] != 1 or colours.shape != (len(x), 3):
        raise ValueError(f"need x [N,1,H,W] and colours [N,3], got {tuple(x.shape)} and {tuple(colours.shape)}")
    return x * colours[:, :, None, None]


def train_subset_indices(n_total: int = 60_000, n: int | None = TRAIN_SUBSET) -> torch.Tensor:
    """The fixed training subset (sorted indices into the MNIST training split)."""
    return seeded_subset(n_total, n, SUBSET_SEED, sort=True)


def make_colour_noisy(x: torch.Tensor, y: torch.Tensor, split: str):
    """(noisy, clean, y) from grey MNIST tensors, with the split's colour and noise seeds."""
    if split not in COLOUR_SEED:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    clean = colourise(x, hsv_colours(len(x), COLOUR_SEED[split]))
    noisy = add_noise(clean, DEFAULT_NOISE_LEVEL, seed=NOISE_SEED[split])
    return noisy, clean, y


@functools.lru_cache(maxsize=None)
def load_colour_noisy(split: str = "train"):
    """(x_noisy [N,3,28,28], x_clean [N,3,28,28], y [N]) for 'train' or 'test'."""
    if split not in COLOUR_SEED:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    x, y = load_mnist(split)
    if split == "train":
        idx = train_subset_indices(len(x))
        x, y = x[idx], y[idx]
    return make_colour_noisy(x, y, split)
