"""What every model of the lab shares: a dataclass config and `loss(*batch) -> (loss, logs)`."""
from __future__ import annotations

import torch
from torch import nn


class LabModel(nn.Module):
    """Base of every model. Subclasses set `Config` and implement `loss`.

    `loss(*batch)` receives the tensors of one batch of the model's dataset (for MNIST: x
    [N,1,28,28] in [0,1] and labels y [N]) and returns (scalar loss, {name: float tensor}) so one
    training loop serves them all. `metrics` is what the checkpoint records on the test set.
    """

    Config = None
    metric_name = "loss"  # the headline test metric recorded in the manifest

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg

    def loss(self, *batch):
        raise NotImplementedError

    @torch.no_grad()
    def metrics(self, *tensors, batch_size: int = 1000) -> dict[str, float]:
        """Mean of the loss logs over a whole split, in fp32 eval mode (deterministic)."""
        was_training = self.training
        self.eval()
        totals, n = {}, len(tensors[0])
        for start in range(0, n, batch_size):
            batch = [t[start:start + batch_size] for t in tensors]
            torch.manual_seed(start)  # stochastic losses (VAE) give the same number every time
            _, logs = self.loss(*batch)
            for k, v in logs.items():
                totals[k] = totals.get(k, 0.0) + float(v) * len(batch[0])
        self.train(was_training)
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
        was_training = self.training
        self.eval()
        z, x_hat = self.encode(x), self(x)
        self.train(was_training)
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
