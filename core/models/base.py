"""What every model of the lab shares: a dataclass config and `loss(*batch) -> (loss, logs)`,
the registry record (`Entry`), the Gaussian-posterior helpers and `evaluating(model)`."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from core.models.train_config import TrainConfig


@dataclass(frozen=True)
class Entry:
    """One model of the registry: what `python -m core.training <name>` builds and trains.

    `title` names the model wherever a figure, table or the demo shows it; `budget_why` says what
    training budget it got and why (the reader's answer to "why only N epochs?")."""

    cls: type
    config: object
    train: TrainConfig
    title: str
    budget_why: str = ""


@contextlib.contextmanager
def evaluating(model: nn.Module):
    """Eval mode inside the block, the caller's mode (train or eval) restored after it."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def reparameterise(mean: torch.Tensor, log_std: torch.Tensor, generator: torch.Generator | None = None):
    """z = mean + n * exp(log_std), n ~ N(0, I): a sample of q(z|x) differentiable in mean and log_std."""
    if mean.shape != log_std.shape:
        raise ValueError(f"mean {tuple(mean.shape)} and log_std {tuple(log_std.shape)} differ in shape")
    n = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
    return mean + n * torch.exp(log_std)


def kl_divergence(mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(log_std)^2) || N(0, I)) per row, summed over every dim but the first: [N, ...] -> [N].

    Closed form per dimension: (mean^2 + sigma^2 - 1)/2 - log sigma."""
    return (0.5 * (mean ** 2 + torch.exp(2 * log_std) - 1) - log_std).flatten(1).sum(1)


class LabModel(nn.Module):
    """Base of every model. Subclasses set `Config` and implement `loss`.

    `loss(*batch)` receives the tensors of one batch of the model's dataset (for MNIST: x
    [N,1,28,28] in [0,1] and labels y [N]) and returns (scalar loss, {name: float tensor}) so one
    training loop serves them all. `metrics` is what the checkpoint records on the test set.
    """

    Config = None
    metric_name = "loss"  # the headline test metric recorded in the manifest
    # Config fields renamed since checkpoints were written: {old name: (new name, convert or None)}.
    # Applied at load (`config_from`), so older checkpoints keep loading and count as up to date.
    config_aliases: dict = {}

    @classmethod
    def upgrade_config(cls, values: dict) -> dict:
        """A saved config dict with today's field names (renamed fields converted)."""
        out = {}
        for key, value in values.items():  # in the saved order, each renamed field in its place
            if key in cls.config_aliases:
                new, convert = cls.config_aliases[key]
                if new in values:
                    raise ValueError(f"{cls.__name__} config has both {key!r} and its new name {new!r}")
                key, value = new, (convert(value) if convert else value)
            out[key] = value
        return out

    @classmethod
    def config_from(cls, values: dict):
        """The Config a checkpoint's saved dict describes, old field names accepted."""
        return cls.Config(**cls.upgrade_config(values))

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg

    def loss(self, *batch):
        raise NotImplementedError

    @torch.no_grad()
    def metrics(self, *tensors, batch_size: int = 1000) -> dict[str, float]:
        """Mean of the loss logs over a whole split, in fp32 eval mode (deterministic)."""
        totals, n = {}, len(tensors[0])
        with evaluating(self):
            for start in range(0, n, batch_size):
                batch = [t[start:start + batch_size] for t in tensors]
                torch.manual_seed(start)  # stochastic losses (VAE) give the same number every time
                _, logs = self.loss(*batch)
                for k, v in logs.items():
                    totals[k] = totals.get(k, 0.0) + float(v) * len(batch[0])
        return {k: v / n for k, v in totals.items()}

    def health(self, *batch) -> str | None:
        """None if the model looks alive, else why not (a collapsed run is retried)."""
        return None


class Autoencoder(LabModel):
    """Image autoencoders: encode x [N,1,28,28] -> z [N,d]; decode z -> x [N,1,28,28]."""

    metric_name = "mse"

    def encode(self, x):
        raise NotImplementedError

    def decode(self, z):
        raise NotImplementedError

    def forward(self, x):
        return self.decode(self.encode(x))

    def loss(self, x, y=None):
        x_hat = self(x)
        mse = torch.mean((x_hat.float() - x) ** 2)
        return mse, {"loss": mse.detach(), "mse": mse.detach()}

    # Retry a run if ONE latent dimension is dead. Right for tiny codes (the spec AE's 2-D latent:
    # one dead dimension halves it); wrong for wide ReLU codes, where dead units are normal (and
    # the point of a sparse AE), so there only an all-zero code counts as collapse.
    check_each_latent = False

    @torch.no_grad()
    def health(self, x, *rest) -> str | None:
        with evaluating(self):
            z, x_hat = self.encode(x), self(x)
        if x_hat.abs().max() < 1e-6:
            return "collapsed: the decoder outputs all zeros"
        if float(x_hat.std(0).mean()) < 1e-4:
            return "collapsed: the output is the same image for every input"
        if float(z.abs().max()) == 0:
            return "collapsed: the code is zero for every input"
        if self.check_each_latent:
            dead = [k for k in range(z.shape[1]) if float((z[:, k] == 0).float().mean()) > 0.99]
            if dead:
                return f"dead latent: dimension(s) {dead} are zero for >99% of inputs"
        return None
