"""Sampling the latent posterior of a decoder prior: preconditioned MALA, batched over images and chains.

    res = sample(decoder, x_noisy, variance=beta, noise_std=0.5, starts=z_restarts)
    res.mean, res.std            # [N,1,28,28]: the posterior mean of the decoded image and its sd
    res.z                        # [keep, N, chains, d]: every kept latent state
    res.draws(decoder, k)        # [k, N, 1, 28, 28]: k decoded states per image, spread over chains and time

The target is MAP's objective read as an energy, U(z) = f(z) / (2 variance) with
f(z) = sum_pixels mask * (y - h(g(z)))^2 + variance * ||z||^2, i.e. a Gaussian likelihood of
`variance` around h(g(z)) (h: the mean of the clipped noisy pixel, `expected_clipped`, when
noise_std is given) and the VAE's own N(0, I) prior. With variance = MAP's validated beta, MAP is
its mode, so the posterior mean compares like for like with MAP.

Why a sampler written here rather than Pyro's or BlackJAX's: every step must be ONE decoder call
(forward + backward) for all images x chains at once, with a step size and preconditioner per
image; the libraries' kernels run one model at a time or couple all rows through one step size.
The algorithm is textbook preconditioned MALA (Roberts & Tweedie 1996; Girolami & Calderhead 2011):

    z' = z - (h^2 / 2) C grad U(z) + h L xi,   C = L L^T,  xi ~ N(0, I)

with the Metropolis-Hastings correction. Chains start at MAP's restart endpoints drawn in
proportion to their Laplace evidence exp(-U) / sqrt(det H) (so a poorer mode gets fewer chains
instead of half of them), jittered by a draw of that Laplace Gaussian. During burn-in the step
size h follows each image's acceptance towards `target_accept`, and every `adapt_window` steps C
becomes the chains' own within-chain covariance (C starts as the Laplace covariance H^-1, from
the Gauss-Newton Hessian H = J^T J / variance + I). After burn-in nothing adapts, so the kept
states are a valid Markov chain.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor

from core.denoising.denoise import _as_mask, as_images, expected_clipped


@dataclass(frozen=True)
class SamplerSettings:
    """Chains per image and their lengths (chosen on validation images: core.denoising.posterior.study)."""
    chains: int = 16
    burn_in: int = 200
    keep: int = 300
    adapt_window: int = 100      # burn-in steps between two covariance updates (the first on Laplace's)
    target_accept: float = 0.57  # MALA's optimal acceptance (Roberts & Rosenthal 1998)
    jitter: float = 1.0          # chains start at a draw of the Laplace Gaussian scaled by this
    mode_weights: str = "laplace"  # "laplace": chains per MAP restart by evidence; "equal": split evenly
    seed: int = 0

    def __post_init__(self):
        if self.chains < 1 or self.keep < 1 or self.burn_in < 0 or self.adapt_window < 2:
            raise ValueError(f"need chains >= 1, keep >= 1, burn_in >= 0, adapt_window >= 2: {self}")
        if self.mode_weights not in ("laplace", "equal"):
            raise ValueError(f"mode_weights must be 'laplace' or 'equal', not {self.mode_weights!r}")


class Target:
    """The energy U(z) per row and its gradient; rows are image-major (row i * chains + c)."""

    def __init__(self, decoder, x: Tensor, variance: float, noise_std: float | None = None,
                 mask: Tensor | None = None):
        if not (variance > 0 and math.isfinite(variance)):
            raise ValueError(f"the likelihood variance must be a finite number > 0, not {variance}")
        self.decoder, self.x, self.variance, self.mask = decoder, x, float(variance), mask
        self.noise_std = float(noise_std) if noise_std else None

    def mean_image(self, g: Tensor) -> Tensor:
        return expected_clipped(g, self.noise_std) if self.noise_std else g

    def rows(self, t: Tensor | None, per_image: int) -> Tensor | None:
        return None if t is None else t.repeat_interleave(per_image, 0)

    def energy(self, z: Tensor, x_rows: Tensor, mask_rows: Tensor | None) -> tuple[Tensor, Tensor]:
        """(U [B], decoded g [B,1,28,28]) with the graph kept (for the gradient)."""
        g = self.decoder(z)
        r = x_rows - self.mean_image(g)
        if mask_rows is not None:
            r = r * mask_rows
        return r.pow(2).flatten(1).sum(1) / (2 * self.variance) + 0.5 * z.pow(2).sum(1), g

    def energy_and_grad(self, z: Tensor, x_rows: Tensor, mask_rows: Tensor | None):
        """(U [B], grad U [B, d], g [B,1,28,28]): ONE decoder forward + backward."""
        with torch.enable_grad():
            z = z.detach().requires_grad_(True)
            u, g = self.energy(z, x_rows, mask_rows)
            (grad,) = torch.autograd.grad(u.sum(), z)
        return u.detach(), grad, g.detach()

    def laplace(self, z: Tensor, x_rows: Tensor, mask_rows: Tensor | None, eps: float = 1e-3):
        """(U [B], Gauss-Newton Hessian H [B, d, d]) at z. The Jacobian of h(g(z)) by forward
        differences: one decoder call on B * (d + 1) rows, where reverse mode would need a backward
        pass per pixel; its float32 error (about 1e-4 relative) is harmless in a preconditioner."""
        b, d = z.shape
        with torch.no_grad():
            shifted = (z[:, None, :] + eps * torch.eye(d, dtype=z.dtype)).reshape(b * d, d)
            h = self.mean_image(self.decoder(torch.cat([z, shifted]))).flatten(1)
            jac = (h[b:].view(b, d, -1) - h[:b, None]) / eps  # [B, d, P]
            if mask_rows is not None:
                jac = jac * mask_rows.flatten(1)[:, None]
            hess = jac @ jac.transpose(1, 2) / self.variance + torch.eye(d, dtype=z.dtype)
            u = self.energy(z, x_rows, mask_rows)[0]
        return u, hess


@dataclass
class PosteriorResult:
    mean: Tensor                 # [N,1,28,28]: posterior mean of the decoded image (all kept states)
    std: Tensor                  # [N,1,28,28]: its posterior standard deviation per pixel
    z: Tensor                    # [keep, N, chains, d]: the kept latent states
    accept: Tensor               # [N]: acceptance rate over the kept steps
    step: Tensor                 # [N]: the step size h after burn-in
    energy: Tensor               # [keep, N, chains]: U of the kept states
    seconds: float = 0.0         # wall time of the sampler (init included)
    params: dict = field(default_factory=dict)

    def diagnostics(self) -> dict[str, Tensor]:
        """Per image [N]: the worst latent dimension's R-hat and bulk ESS over the kept states."""
        from core.denoising.posterior.diagnostics import ess, rhat

        chains_second = self.z.permute(0, 2, 1, 3)  # [keep, chains, N, d]
        return {"rhat": rhat(chains_second).max(-1).values, "ess": ess(chains_second).min(-1).values}

    def draws(self, decoder, k: int = 64) -> Tensor:
        """[k', N, 1, 28, 28] decoded kept states, k' <= k: evenly spaced in time, every chain
        (the chains' count rounds k down to a multiple of it)."""
        keep, n, chains, d = self.z.shape
        per_chain = max(1, min(keep, k // chains))
        idx = torch.linspace(0, keep - 1, per_chain).round().long()
        z = self.z[idx].permute(0, 2, 1, 3).reshape(-1, n, d)  # [per_chain * chains, N, d]
        with torch.inference_mode():
            out = decoder(z.reshape(-1, d)).float().clamp(0, 1)
        return out.view(len(z), n, 1, 28, 28).clone()


def _start(target: Target, starts: Tensor, x: Tensor, mask, settings: SamplerSettings, gen):
    """Chain starts [N, chains, d] and the Laplace Cholesky factor [N, d, d] of the best start."""
    r, n, d = starts.shape
    flat = starts.permute(1, 0, 2).reshape(n * r, d)  # image-major rows: i * r + restart
    u, hess = target.laplace(flat, target.rows(x, r), target.rows(mask, r))
    cov = torch.linalg.inv(hess)
    chol = torch.linalg.cholesky(0.5 * (cov + cov.transpose(1, 2)))
    log_w = (-u - 0.5 * torch.logdet(hess)).view(n, r)
    if settings.mode_weights == "equal":
        log_w = torch.zeros_like(log_w)
    # Systematic resampling of the chains over restarts by weight (deterministic given the seed).
    w = torch.softmax(log_w, 1)
    edges = (torch.arange(settings.chains) + torch.rand(n, 1, generator=gen)) / settings.chains
    pick = torch.searchsorted(w.cumsum(1).contiguous(), edges.contiguous()).clamp(max=r - 1)  # [N, chains]
    rows = torch.arange(n)[:, None] * r + pick
    xi = torch.randn(n, settings.chains, d, generator=gen)
    z0 = flat[rows] + settings.jitter * (chol[rows] @ xi[..., None])[..., 0]
    best = torch.arange(n) * r + log_w.argmax(1)
    return z0, chol[best], pick


def sample(decoder, x_noisy, *, variance: float, starts: Tensor, noise_std: float | None = None, mask=None,
           settings: SamplerSettings = SamplerSettings()) -> PosteriorResult:
    """Sample p(z | x_noisy) with `settings.chains` chains per image, all images at once.

    starts: [R, N, d] latent points to start from (MAP's restart endpoints; [N, d] is one restart).
    variance: the likelihood's variance (MAP's beta); noise_std: clip-aware likelihood; mask: 1 =
    observed pixel. Frozen decoder weights are not touched; gradients flow to z only."""
    t0 = time.perf_counter()
    x = as_images(x_noisy)
    mask = _as_mask(mask, x)
    starts = starts.detach().float()
    if starts.ndim == 2:
        starts = starts[None]
    if starts.ndim != 3 or starts.shape[1] != len(x):
        raise ValueError(f"starts must be [restarts, {len(x)}, d], got {tuple(starts.shape)}")
    s = settings
    n, c, d = len(x), s.chains, starts.shape[2]
    gen = torch.Generator().manual_seed(s.seed)
    target = Target(decoder, x, variance, noise_std, mask)
    x_rows, mask_rows = target.rows(x, c), target.rows(mask, c)
    frozen = [p for p in decoder.parameters() if p.requires_grad] if hasattr(decoder, "parameters") else []
    for p in frozen:
        p.requires_grad_(False)
    try:
        z0, chol, _ = _start(target, starts, x, mask, s, gen)
        out = _mala(target, z0.reshape(n * c, d), chol, x_rows, mask_rows, s, gen, n)
    finally:
        for p in frozen:
            p.requires_grad_(True)
    out.seconds = time.perf_counter() - t0
    out.params = {**asdict(s), "variance": float(variance), "noise_std": noise_std, "masked": mask is not None}
    return out


def _mala(target: Target, z: Tensor, chol: Tensor, x_rows, mask_rows, s: SamplerSettings, gen, n: int):
    c, d = s.chains, z.shape[1]
    u, grad, g = target.energy_and_grad(z, x_rows, mask_rows)
    log_h = torch.full((n,), math.log(1.65 * d ** (-1 / 3)))  # the optimal scale for a Gaussian target
    window, kept_z, kept_u = [], [], []
    g_sum, accepted = torch.zeros_like(g.view(n, c, -1)[:, 0]), torch.zeros(n)
    g_sq = torch.zeros_like(g_sum)

    def per_row(chol):  # (L, C, L^-1) repeated for every chain of each image
        return [m.repeat_interleave(c, 0) for m in (chol, chol @ chol.transpose(1, 2), torch.linalg.inv(chol))]

    chol_r, cov_r, inv_r = per_row(chol)
    for t in range(s.burn_in + s.keep):
        h = log_h.exp().repeat_interleave(c)[:, None]
        xi = torch.randn(z.shape, generator=gen)
        z_new = z - 0.5 * h ** 2 * (cov_r @ grad[..., None])[..., 0] + h * (chol_r @ xi[..., None])[..., 0]
        u_new, grad_new, g_new = target.energy_and_grad(z_new, x_rows, mask_rows)
        back = z - z_new + 0.5 * h ** 2 * (cov_r @ grad_new[..., None])[..., 0]
        y = (inv_r @ back[..., None])[..., 0] / h
        log_alpha = u - u_new + 0.5 * xi.pow(2).sum(1) - 0.5 * y.pow(2).sum(1)
        ok = torch.isfinite(u_new) & (torch.rand(len(z), generator=gen).log() < log_alpha)
        z, u = torch.where(ok[:, None], z_new, z), torch.where(ok, u_new, u)
        grad = torch.where(ok[:, None], grad_new, grad)
        g = torch.where(ok[:, None, None, None], g_new, g)
        rate = ok.float().view(n, c).mean(1)
        if t < s.burn_in:
            # Robbins-Monro on log h towards the target acceptance, per image (stops at burn-in's end).
            log_h = log_h + (rate - s.target_accept) / (1 + t / 10) ** 0.6
            window.append(z.view(n, c, d))
            if len(window) == s.adapt_window:
                chol = _within_chain_chol(torch.stack(window), chol)
                chol_r, cov_r, inv_r = per_row(chol)
                window = []
        else:
            kept_z.append(z.view(n, c, d).clone())
            kept_u.append(u.view(n, c).clone())
            flat = g.view(n, c, -1)
            g_sum += flat.sum(1)
            g_sq += flat.pow(2).sum(1)
            accepted += rate
    count = s.keep * c
    mean = g_sum / count
    std = (g_sq / count - mean ** 2).clamp_min(0).sqrt()
    return PosteriorResult(mean=mean.view(n, 1, 28, 28).clamp(0, 1), std=std.view(n, 1, 28, 28),
                           z=torch.stack(kept_z), accept=accepted / s.keep, step=log_h.exp(),
                           energy=torch.stack(kept_u))


def _within_chain_chol(window: Tensor, fallback: Tensor) -> Tensor:
    """Cholesky factor [N, d, d] of the covariance within chains over a window [T, N, C, d]
    (each chain's own mean removed: chains in different modes do not inflate it), shrunk 10 %
    towards its diagonal; an image whose estimate is not positive definite keeps `fallback`."""
    t, n, c, d = window.shape
    dev = (window - window.mean(0, keepdim=True)).permute(1, 0, 2, 3).reshape(n, t * c, d)
    cov = dev.transpose(1, 2) @ dev / max(1, t * c - c)
    cov = 0.9 * cov + 0.1 * torch.diag_embed(torch.diagonal(cov, dim1=1, dim2=2)) + 1e-6 * torch.eye(d)
    chol, info = torch.linalg.cholesky_ex(cov)
    return torch.where((info == 0)[:, None, None], chol, fallback)
