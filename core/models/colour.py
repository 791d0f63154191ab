"""C2: convolutional denoisers for coloured noisy MNIST (core.data.colour), trained noisy -> clean.

Encoder: four 3x3 stride-2 convs, 128/64/32/16 filters, ReLU: [N,3,28,28] -> 14 -> 7 -> 4 -> 2,
so the code is 16x2x2 = 64 numbers. Decoder: the mirror image with transposed convs
(16 -> 32 -> 64 -> 128 -> 3 channels, 2 -> 4 -> 7 -> 14 -> 28) and a sigmoid output.
Every model takes the dataset's batch `loss(x_noisy, x_clean, y)`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from core.models.base import Autoencoder, Entry, evaluating, kl_divergence, reparameterise
from core.models.train_config import TrainConfig

ENC_FILTERS = (128, 64, 32, 16)
# output_padding per decoder layer: 2->4, 4->7, 7->14, 14->28 with k=3, s=2, p=1.
DEC_OUTPUT_PADDING = (1, 0, 1, 1)
OUTPUT_BIAS = -2.0
SNAPSHOT_DIGITS = (0, 2, 3, 5, 7, 9)  # "outputs at several epochs" (C4): first test image of each


@dataclass
class ColourAEConfig:
    dropout: float = 0.0  # > 0: Dropout2d after every hidden block
    batchnorm: bool = False  # BatchNorm2d after every hidden conv
    variational: bool = False
    latent_dim: int = 64  # the code is (latent_dim / 4) channels x 2 x 2
    kl_weight: float = 1.0


def _block(conv, channels, cfg):
    layers = [conv]
    if cfg.batchnorm:
        layers.append(nn.BatchNorm2d(channels))
    layers.append(nn.ReLU(inplace=True))
    if cfg.dropout > 0:
        layers.append(nn.Dropout2d(cfg.dropout))
    return layers


class ColourAE(Autoencoder):
    """Conv AE (optionally with Dropout + BatchNorm) used as a denoiser; `encode` gives [N, 64]."""

    Config = ColourAEConfig
    # The code size was given in channels (x 2 x 2); latent_dim counts its numbers, as everywhere.
    config_aliases = {"latent_channels": ("latent_dim", lambda channels: 4 * channels)}

    def __init__(self, cfg: ColourAEConfig = ColourAEConfig()):
        super().__init__(cfg)
        if cfg.latent_dim < 4 or cfg.latent_dim % 4:
            raise ValueError(f"latent_dim must be a positive multiple of 4 (channels x 2 x 2), not {cfg.latent_dim}")
        chans = (3, *ENC_FILTERS[:-1], self.code_channels)
        enc = []
        for i in range(4):
            conv = nn.Conv2d(chans[i], chans[i + 1], 3, stride=2, padding=1)
            # The code layer is linear (no ReLU, BatchNorm or Dropout): with a ReLU there, seeds 0, 1
            # and 2 all died in the first epoch (the same output for every input); a linear code
            # cannot die, and it is what we embed.
            enc += _block(conv, chans[i + 1], cfg) if i < 3 else [conv]
        if cfg.variational:  # the last conv is replaced by two heads (mean, log-variance)
            enc = enc[:-1]
            self.mean_head = nn.Conv2d(chans[3], self.code_channels, 3, stride=2, padding=1)
            self.logvar_head = nn.Conv2d(chans[3], self.code_channels, 3, stride=2, padding=1)
        self.encoder = nn.Sequential(*enc)
        dec_chans = chans[::-1]
        dec = []
        for i in range(4):
            conv = nn.ConvTranspose2d(dec_chans[i], dec_chans[i + 1], 3, stride=2, padding=1,
                                      output_padding=DEC_OUTPUT_PADDING[i])
            dec += _block(conv, dec_chans[i + 1], cfg) if i < 3 else [conv, nn.Sigmoid()]
        self.decoder = nn.Sequential(*dec)
        # Start the output near the mostly black targets (sigmoid(-2) = 0.12, not 0.5): otherwise the
        # first Adam steps chase the black background by silencing the decoder's ReLUs for good
        # (measured: constant output within 30 batches even with the linear code).
        nn.init.constant_(dec[-2].bias, OUTPUT_BIAS)

    @property
    def code_channels(self) -> int:
        return self.cfg.latent_dim // 4

    def posterior(self, x):
        """(mean, log_std) of q(z|x), each [N, latent_dim/4, 2, 2]; log_std is None for the plain AE
        (a point code). The head predicts the log-variance (so the shipped weights were trained)."""
        h = self.encoder(x)
        if not self.cfg.variational:
            return h, None
        return self.mean_head(h), self.logvar_head(h).clamp(-10, 10) * 0.5

    def encode(self, x):  # [N,3,28,28] -> [N, latent_dim] (VAE: the posterior mean)
        return self.posterior(x)[0].flatten(1)

    def decode(self, z):  # [N, latent_dim] -> [N,3,28,28]
        return self.decoder(z.reshape(len(z), self.code_channels, 2, 2))

    def loss(self, x_noisy, x_clean, y=None):
        mean, log_std = self.posterior(x_noisy)
        if self.cfg.variational and self.training:
            z = reparameterise(mean, log_std)
        else:
            z = mean  # eval: the posterior mean, so test metrics are deterministic
        x_hat = self.decoder(z).float()
        sq = (x_hat - x_clean) ** 2
        mse = sq.mean()
        logs = {"mse": mse.detach()}
        if not self.cfg.variational:
            logs["loss"] = mse.detach()
            return mse, logs
        # Per image: summed squared error (a Gaussian likelihood with fixed variance 1/2) + KL.
        rec = sq.flatten(1).sum(1).mean()
        kl = kl_divergence(mean.float(), log_std.float()).mean()
        loss = rec + self.cfg.kl_weight * kl
        logs.update(loss=loss.detach(), kl=kl.detach())
        return loss, logs

    @torch.no_grad()
    def snapshot(self, x_noisy, x_clean, y):
        """Denoised outputs [6,3,28,28] of fixed test images: stored each epoch by the engine (C4)."""
        idx = torch.stack([(y == d).nonzero()[0, 0] for d in SNAPSHOT_DIGITS])
        with evaluating(self):
            return self(x_noisy[idx].float().contiguous()).float().cpu()


# Budget: the assignment's, 20 epochs of all 60,000 training images (batch 128, Adam 1e-3, weight
# decay 1e-5), of which VAL_SIZE are held out for the validation curves of C2 (55,000 trained on).
EPOCHS = 20
VAL_SIZE = 5_000
_TRAIN = TrainConfig(epochs=EPOCHS, batch_size=128, lr=1e-3, weight_decay=1e-5, seed=0, dataset="colour_noisy",
                     val_size=VAL_SIZE)
BUDGET_WHY = (
    f"C2. The assignment's budget: 20 epochs on all 60,000 coloured training images ({VAL_SIZE:,} of them held "
    "out as the validation split of the C2 curves, so 55,000 trained on), batch 128, Adam 1e-3, weight decay "
    "1e-5. About 20-30 CPU-minutes per model on one thread (the manifest records train_seconds). The earlier "
    "4 epochs on a 10,000-image subset (a 7-minute budget for C and D) left the models far from the reference "
    "(conv AE SNR 3.5 dB against 10.3 dB) and still improving fast.")

# A cosine decay keeps the assignment's budget (Adam at 1e-3, 20 epochs) and lets the curve settle.
_TRAIN_COSINE = replace(_TRAIN, schedule="cosine")
_COSINE_WHY = (" At a constant lr this model still gained about 2 % over its last 3 epochs (core.training.convergence allows "
               "1 %), so its lr decays from 1e-3 along a cosine over the same 20 epochs.")

MODELS = {
    "c_ae": Entry(ColourAE, ColourAEConfig(), _TRAIN, title="conv AE", budget_why=BUDGET_WHY),
    "c_ae_dropout": Entry(ColourAE, ColourAEConfig(dropout=0.2, batchnorm=True), replace(_TRAIN_COSINE, epochs=30),
                          title="conv AE + Dropout/BatchNorm", budget_why=BUDGET_WHY + _COSINE_WHY + " With "
                          "the cosine over 20 epochs it still gained 1.1 % over the last 3 (validation MSE 0.00709 to "
                          "0.00701; test MSE 0.00697): Dropout keeps the curve falling slowly, so it gets 30 epochs, "
                          "the cosine stretched over them, 10 more than the assignment's 20."),
    "c_vae": Entry(ColourAE, ColourAEConfig(variational=True), _TRAIN_COSINE, title="conv VAE",
                   budget_why=BUDGET_WHY + _COSINE_WHY + " It settled at a higher test MSE "
                   "than the 0.0097 of the constant-rate run, which was still improving: a "
                   "longer budget, not the schedule, is what would help this model; it was not tried (CPU time)."),
}
