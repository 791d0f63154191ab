"""A7/A8: the convolutional VAE (2-D and 16-D latent), the prior behind the `vae` and `map` denoisers.

Loss per image, in nats: recon = Bernoulli cross-entropy summed over the 784 pixels, plus
kl_weight * KL(q(z|x) || N(0, I)) summed over latent dimensions. With kl_weight = 1 (our choice) the
loss is exactly the negative ELBO of a Bernoulli decoder, so the test loss is an upper bound on the
test negative log-likelihood and the importance-weighted bound (core.analysis.vae) tightens it. A
larger kl_weight would trade reconstructions for a rounder latent; a smaller one drifts towards a
plain autoencoder whose latent the N(0, I) prior (and so MAP's beta ||z||^2) no longer describes.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from core.models.base import Autoencoder, Entry, evaluating, kl_divergence, reparameterise
from core.models.layers import ConvTranspose2d
from core.models.train_config import TrainConfig

LOG_STD_MIN, LOG_STD_MAX = -7.0, 3.0  # keeps exp(2 log_std) finite when a batch is odd


@dataclass
class ConvVAEConfig:
    latent_dim: int = 2
    channels: int = 8       # conv width; the second conv has twice this
    hidden: int = 64        # the encoder's Linear layer before the two heads
    kernel: int = 4         # 4 with stride 2 and padding 1 halves / doubles exactly
    kl_weight: float = 1.0  # 1 = the exact negative ELBO (see the module docstring)


class ConvEncoder(nn.Module):
    """[N,1,28,28] -> (mean, log_std), each [N, d]: two stride-2 convs, then Linear layers."""

    def __init__(self, cfg: ConvVAEConfig):
        super().__init__()
        c, k = cfg.channels, cfg.kernel
        self.conv = nn.Sequential(
            nn.Conv2d(1, c, k, stride=2, padding=1), nn.ReLU(inplace=True),        # 28 -> 14
            nn.Conv2d(c, 2 * c, k, stride=2, padding=1), nn.ReLU(inplace=True),    # 14 -> 7
        )
        self.hidden = nn.Sequential(nn.Linear(2 * c * 49, cfg.hidden), nn.ReLU(inplace=True))
        self.mean = nn.Linear(cfg.hidden, cfg.latent_dim)
        self.log_std = nn.Linear(cfg.hidden, cfg.latent_dim)

    def forward(self, x):
        h = self.hidden(self.conv(x).flatten(1))
        return self.mean(h), self.log_std(h).clamp(LOG_STD_MIN, LOG_STD_MAX)


class ConvDecoder(nn.Module):
    """[N, d] -> logits [N,1,28,28]: one Linear to a 7x7 feature map, then two transposed convs.
    Kept small on purpose: MAP calls it (forward + backward) at every optimiser iteration."""

    def __init__(self, cfg: ConvVAEConfig):
        super().__init__()
        c, k = cfg.channels, cfg.kernel
        op = 1 if k == 3 else 0  # a 3x3 transposed conv needs one extra output row to double
        self.c = c
        self.fc = nn.Linear(cfg.latent_dim, 2 * c * 49)
        self.deconv = nn.Sequential(
            nn.ReLU(inplace=True),
            ConvTranspose2d(2 * c, c, k, stride=2, padding=1, output_padding=op), nn.ReLU(inplace=True),
            ConvTranspose2d(c, 1, k, stride=2, padding=1, output_padding=op),  # 7 -> 14 -> 28
        )

    def forward(self, z):
        return self.deconv(self.fc(z).reshape(-1, 2 * self.c, 7, 7))


class ConvVAE(Autoencoder):
    """encode(x) -> posterior mean [N, d] (so core.analysis.encode gives the means);
    decode(z) -> image [N,1,28,28] in [0, 1] (sigmoid of the decoder's logits)."""

    Config = ConvVAEConfig
    metric_name = "loss"  # the negative ELBO in nats per image
    config_aliases = {"beta_kl": ("kl_weight", None)}

    def __init__(self, cfg: ConvVAEConfig = ConvVAEConfig()):
        super().__init__(cfg)
        if cfg.latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, not {cfg.latent_dim}")
        self.encoder = ConvEncoder(cfg)
        self.decoder = ConvDecoder(cfg)

    @staticmethod
    def _check(x):
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"expected images [N,1,28,28], got {tuple(x.shape)}")

    def posterior(self, x):
        """(mean, log_std) of q(z|x), each [N, d]."""
        self._check(x)
        return self.encoder(x)

    def encode(self, x):
        return self.posterior(x)[0]

    def decode_logits(self, z):
        return self.decoder(z)

    def decode(self, z):
        return torch.sigmoid(self.decoder(z))

    def forward(self, x):  # the deterministic reconstruction: decode the mean
        return self.decode(self.encode(x))

    def terms(self, x, z=None):
        """Per-image (recon, kl, z) in nats for one posterior sample (or the given z)."""
        mean, log_std = self.posterior(x)
        if z is None:
            z = reparameterise(mean, log_std)
        logits = self.decoder(z).float()
        recon = F.binary_cross_entropy_with_logits(logits, x.float(), reduction="none").flatten(1).sum(1)
        return recon, kl_divergence(mean.float(), log_std.float()), logits

    def loss(self, x, y=None):
        recon, kl, logits = self.terms(x)
        recon, kl = recon.mean(), kl.mean()
        loss = recon + self.cfg.kl_weight * kl
        mse = torch.mean((torch.sigmoid(logits) - x.float()) ** 2)
        return loss, {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach(), "mse": mse.detach()}

    @torch.no_grad()
    def health(self, x, *rest) -> str | None:
        with evaluating(self):
            x_hat = self(x)
        if float(x_hat.std(0).mean()) < 1e-3:
            return "collapsed: the output is the same image for every input (posterior collapse)"
        return None


_VAE_BUDGET = ("A7/A8. 30 epochs each, the spec's minimum: both test losses have flattened by then "
               "(under 1 % over the last 3 epochs, core.training.convergence). About 13 CPU-s per epoch "
               "single-threaded, so about 13 CPU-minutes for both.")

MODELS = {
    "vae2": Entry(ConvVAE, ConvVAEConfig(latent_dim=2), TrainConfig(epochs=30, lr=1e-3, seed=0),
                  title="conv VAE, 2-D latent (A7)", budget_why=_VAE_BUDGET),
    # The prior of the `vae` and `map` denoisers.
    "vae16": Entry(ConvVAE, ConvVAEConfig(latent_dim=16), TrainConfig(epochs=30, lr=1e-3, seed=0),
                   title="conv VAE, 16-D latent (A8)", budget_why=_VAE_BUDGET),
}
