"""A tiny model and a synthetic dataset registered under test names, for fast engine tests.

Importable from a subprocess too (see test_train.py's interruption test): `tiny.register()`.
"""
from dataclasses import dataclass, replace

import torch
from torch import nn

from core import data, models
from core.models import Autoencoder, Entry
from core.models.train_config import TrainConfig


@dataclass
class TinyConfig:
    hidden: int = 8


class TinyAE(Autoencoder):
    Config = TinyConfig

    def __init__(self, cfg=TinyConfig()):
        super().__init__(cfg)
        self.born_seed = torch.initial_seed()  # the seed the registry drew the weights from
        self.enc = nn.Linear(784, cfg.hidden)
        self.dec = nn.Linear(cfg.hidden, 784)

    def encode(self, x):
        return self.enc(x.flatten(1))

    def decode(self, z):
        return torch.sigmoid(self.dec(z)).view(-1, 1, 28, 28)


class FlakyAE(TinyAE):
    """Reports a collapse whenever it was initialised from seed 0, like an unlucky spec AE run."""

    def health(self, *batch):
        return "collapsed: test stand-in" if self.born_seed == 0 else None


def synthetic(split, n={"train": 512, "test": 128}):
    gen = torch.Generator().manual_seed(0 if split == "train" else 1)
    x = torch.rand(n[split], 1, 28, 28, generator=gen)
    return x, torch.randint(0, 10, (n[split],), generator=gen)


def register(epochs=3):
    data.DATASETS["tiny"] = synthetic
    cfg = TrainConfig(epochs=epochs, batch_size=64, dataset="tiny", fast=False)
    models.REGISTRY["tiny_ae"] = Entry(TinyAE, TinyConfig(), cfg, title="tiny AE")
    models.REGISTRY["flaky_ae"] = Entry(FlakyAE, TinyConfig(), cfg, title="flaky AE")
    models.REGISTRY["tiny_cosine"] = Entry(TinyAE, TinyConfig(), replace(cfg, lr=1e-2, schedule="cosine"),
                                           title="tiny AE, cosine lr")
    models.REGISTRY["tiny_val"] = Entry(TinyAE, TinyConfig(), replace(cfg, val_size=128), title="tiny AE, validation split")
