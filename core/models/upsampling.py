"""B6: three small conv autoencoders that differ only in how the decoder upsamples.

Shared encoder: conv(1->c1)+ReLU, maxpool 28->14, conv(c1->c2)+ReLU, maxpool 14->7; the code is
the c2x7x7 map, flattened. The decoder mirrors it with two "upsample, then 3x3 filter" stages:

    "unpool"        MaxUnpool2d with the encoder's pooling indices, then Conv2d
    "unpool_tconv"  MaxUnpool2d with the encoder's pooling indices, then ConvTranspose2d (stride 1)
    "tconv"         ConvTranspose2d(k=2, stride=2) (learned upsampling, no indices), then Conv2d

A stride-1 transposed conv computes the same family of functions as a conv (flipped, transposed
kernel), so "unpool" and "unpool_tconv" differ by parametrisation and initialisation only: PyTorch
draws a transposed conv's initial weights from its *output* channels (fan-in = out x k x k), a conv
from its input channels. The B6 chapter measures what that and the indices change.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from core.models.base import Autoencoder, Entry
from core.models.layers import ConvTranspose2d
from core.models.train_config import TrainConfig

VARIANTS = ("unpool", "unpool_tconv", "tconv")


@dataclass
class UpsamplingConfig:
    variant: str = "unpool"
    c1: int = 8   # channels after the first conv (28x28 -> pooled to 14x14)
    c2: int = 4   # channels of the code (7x7): a c2*49-D latent


def _top_left_indices(n: int, c: int, h: int, w: int, device) -> torch.Tensor:
    """MaxUnpool indices [n,c,h,w] pointing at the top-left pixel of every 2x2 window of the
    (2h x 2w) output: what unpooling does when no encoder indices exist (decoding a free code)."""
    rows = torch.arange(h, device=device).view(h, 1) * 2 * (2 * w)
    cols = torch.arange(w, device=device).view(1, w) * 2
    return (rows + cols).expand(n, c, h, w)


class UpsamplingAE(Autoencoder):
    Config = UpsamplingConfig

    def __init__(self, cfg: UpsamplingConfig = UpsamplingConfig()):
        super().__init__(cfg)
        if cfg.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, not {cfg.variant!r}")
        c1, c2 = cfg.c1, cfg.c2
        self.enc1 = nn.Conv2d(1, c1, 3, padding=1)
        self.enc2 = nn.Conv2d(c1, c2, 3, padding=1)
        filt = ConvTranspose2d if cfg.variant == "unpool_tconv" else nn.Conv2d
        self.dec2 = filt(c2, c1, 3, padding=1)   # 14x14, after the first upsampling
        self.dec1 = filt(c1, 1, 3, padding=1)    # 28x28, after the second
        if cfg.variant == "tconv":
            # Channel-preserving learned 2x upsampling: each code pixel paints a 2x2 patch.
            self.up2 = nn.ConvTranspose2d(c2, c2, 2, stride=2)
            self.up1 = nn.ConvTranspose2d(c1, c1, 2, stride=2)

    @property
    def uses_indices(self) -> bool:
        return self.cfg.variant != "tconv"

    def encode_with_indices(self, x):
        """x [N,1,28,28] -> (code [N,c2,7,7], (indices of pool 1 [N,c1,14,14], of pool 2 [N,c2,7,7]))."""
        h, i1 = F.max_pool2d(F.relu(self.enc1(x)), 2, return_indices=True)
        z, i2 = F.max_pool2d(F.relu(self.enc2(h)), 2, return_indices=True)
        return z, (i1, i2)

    def encode(self, x):  # [N,1,28,28] -> [N, c2*49]
        return self.encode_with_indices(x)[0].flatten(1)

    def _up(self, h, stage: int, indices):
        if not self.uses_indices:
            return (self.up2 if stage == 2 else self.up1)(h)
        n, c, hh, ww = h.shape
        idx = indices[stage - 1] if indices is not None else _top_left_indices(n, c, hh, ww, h.device)
        return F.max_unpool2d(h, idx, 2, output_size=(2 * hh, 2 * ww))

    def decode(self, z, indices=None):
        """Code [N, c2*49] (or [N,c2,7,7]) -> [N,1,28,28]. The unpooling variants put each value
        where the encoder's max was if `indices` are given, else at each window's top-left."""
        h = z.reshape(-1, self.cfg.c2, 7, 7)
        h = F.relu(self.dec2(self._up(h, 2, indices)))
        return torch.sigmoid(self.dec1(self._up(h, 1, indices)))

    def forward(self, x):
        z, indices = self.encode_with_indices(x)
        return self.decode(z, indices)

    def decoder_filters(self) -> dict[str, torch.Tensor]:
        """The decoder's learned kernels, as [n, k, k] images per layer (for B6's filter figure).
        Conv weights are [out,in,k,k], transposed-conv weights [in,out,k,k]; both are shown per
        (in, out) pair, the first `in` input channels of output channel 0 and so on."""
        out = {}
        c1, c2 = self.cfg.c1, self.cfg.c2
        layers = {f"3x3 filter {c1}->1 (28x28)": self.dec1, f"3x3 filter {c2}->{c1} (14x14)": self.dec2}
        if not self.uses_indices:
            layers[f"2x2 upsampling {c1}->{c1} (14->28)"] = self.up1
        for label, layer in layers.items():
            w = layer.weight.detach()
            out[label] = w.flatten(0, 1)  # [(a*b), k, k]
        return out


TITLES = {"unpool": "max-unpool + conv", "unpool_tconv": "max-unpool + transposed conv",
          "tconv": "learned 2x2 transposed-conv upsampling"}
BUDGET_WHY = ("B6. 20 epochs, lr 1e-3 decayed along a cosine to 0 (~10-20 CPU-s per epoch at one thread): the "
              "earlier 6 epochs at a constant rate left all three improving by ~15 % over their last 3 epochs "
              "(core.training.convergence allows 1 %), so B6 compared snapshots of unfinished runs. The three share the "
              "seed and every other setting, so the comparison stays fair.")

MODELS = {name: Entry(UpsamplingAE, UpsamplingConfig(variant=name), TrainConfig(epochs=20, schedule="cosine", seed=0),
                      title=TITLES[name], budget_why=BUDGET_WHY) for name in VARIANTS}
