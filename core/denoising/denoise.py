"""The three denoisers of A6/A8 behind one interface (the report and the demo both use this).

    from core.denoising.denoise import Denoisers
    den = Denoisers.load()                       # spec_ae + vae16 checkpoints, loaded once
    out = den("map", x_noisy)                    # x_noisy [N,1,28,28] (or [28,28]) in [0, 1]
    out.x_hat, out.loss_history, out.z_path      # [N,1,28,28]; map only: [steps+1, N], [steps+1, N, d]

- "ae":  the A1 spec AE (2-D ReLU bottleneck): decode(encode(x_noisy)).
- "vae": the 16-D VAE bottleneck: decode the posterior mean of x_noisy.
- "map": argmin_z ||m * (x_noisy - g(z))||^2 + beta ||z||^2 through the frozen 16-D decoder g
  (m: optional mask, 1 = observed pixel; sums over pixels and latent dims). Batched over images
  AND restarts: each iteration is ONE decoder call (forward + backward for z only) for all of them.
  Restart 0 starts at the VAE encoder's mean of x_noisy, the others at z ~ N(0, I) (seeded); the
  best restart per image (lowest final objective) is kept.

The optimiser is a batched L-BFGS written here: every (image, restart) row keeps its own curvature
history and step size, and a step is accepted only if it satisfies the Armijo condition (else the
row halves its step and retries next iteration). torch.optim.LBFGS would couple all rows through
one line search on the summed objective and spend several decoder calls per iteration.

Defaults (beta per noise level, steps, restarts) are a `MapDefaults`, read by `Denoisers.load`
from the same folder as the weights (denoise_defaults.json), where the validation study of
core.denoising.study (training images, never test images) writes them:
`python -m core.denoising.study --choose-defaults`.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import torch
from torch import Tensor

from core import models
from core.denoising.defaults import MapDefaults, MapSettings  # noqa: F401 (MapSettings: part of the API)
from core.models import checkpoints

METHODS = ("ae", "vae", "map")
AE_NAME, VAE_NAME = "spec_ae", "vae16"
# How figures, tables and the demo name the methods (a method that is one model: its title).
METHOD_TITLES = {"ae": models.title(AE_NAME), "vae": "VAE bottleneck (16-D)", "map": "MAP through the 16-D VAE decoder"}


@dataclass
class DenoiseResult:
    x_hat: Tensor                        # [N,1,28,28] in [0, 1]
    loss_history: Tensor | None = None   # map only: [steps+1, N] objective of the best restart
    z_path: Tensor | None = None         # map only: [steps+1, N, d] latent path of the best restart
    z: Tensor | None = None              # vae/map: the latent code decoded, [N, d]
    best_restart: Tensor | None = None   # map only: [N] index of the restart kept
    restart_losses: Tensor | None = None  # map, all_restarts=True: [steps+1, restarts, N]
    restart_z: Tensor | None = None       # map, all_restarts=True: [steps+1, restarts, N, d]
    params: dict = field(default_factory=dict)  # the beta/steps/restarts/seed actually used


def as_images(x, name: str = "x_noisy") -> Tensor:
    """Validate and standardise images to a float tensor [N,1,28,28] with pixels in [0, 1].

    Accepts [28,28], [N,28,28] or [N,1,28,28]; anything else gets an error that says what to pass."""
    if not isinstance(x, Tensor):
        try:
            x = torch.as_tensor(x)
        except Exception as exc:
            raise TypeError(f"{name} must be a tensor or array of images, got {type(x).__name__}") from exc
    if not (x.is_floating_point()):
        raise TypeError(f"{name} must hold floats in [0, 1], got dtype {x.dtype} "
                        "(for uint8 images divide by 255 first)")
    if x.ndim == 2:
        x = x[None, None]
    elif x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
        raise ValueError(f"{name} must be MNIST-sized images [N,1,28,28] (or [28,28], [N,28,28]), "
                         f"got shape {tuple(x.shape)}")
    if len(x) == 0:
        raise ValueError(f"{name} holds no images")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite pixels")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise ValueError(f"{name} pixels must lie in [0, 1], got range [{lo:.3g}, {hi:.3g}]")
    return x.float().clamp(0, 1)


def _as_mask(mask, x: Tensor) -> Tensor | None:
    if mask is None:
        return None
    mask = torch.as_tensor(mask)
    if mask.ndim == 2:
        mask = mask[None, None]
    elif mask.ndim == 3:
        mask = mask[:, None]
    try:
        mask = torch.broadcast_to(mask, x.shape)
    except RuntimeError as exc:
        raise ValueError(f"mask of shape {tuple(mask.shape)} does not fit images {tuple(x.shape)}") from exc
    mask = mask.float()
    if not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError("mask must hold only 0 (missing pixel) and 1 (observed pixel)")
    return mask


def expected_clipped(g: Tensor, sigma: float) -> Tensor:
    """E[clip(g + n, 0, 1)] for n ~ N(0, sigma^2), elementwise (differentiable in g).

    What a clean image g looks like on average after the convention's noise: clipping at 0 lifts
    a black background to about 0.4 sigma, which the plain objective would try to reproduce."""
    if sigma <= 0:
        return g
    a, b = -g / sigma, (1 - g) / sigma
    # The standard normal's cdf and pdf written out as torch.distributions.Normal(0, 1) computes
    # them (bit for bit the same values and gradients), without its per-call object and argument
    # checks: this runs once per MAP iteration, and those checks were about half its time.
    cdf_a, cdf_b = 0.5 * (1 + torch.erf(a / math.sqrt(2))), 0.5 * (1 + torch.erf(b / math.sqrt(2)))
    log_norm = math.log(math.sqrt(2 * math.pi))
    pdf_a, pdf_b = (-(a ** 2) / 2 - log_norm).exp(), (-(b ** 2) / 2 - log_norm).exp()
    return g * (cdf_b - cdf_a) + sigma * (pdf_a - pdf_b) + (1 - cdf_b)


def _objective_and_grad(decoder, z: Tensor, x: Tensor, mask: Tensor | None, beta: float,
                        noise_std: float | None = None):
    """Per-row objective [B] and its gradient in z [B, d]: ONE decoder forward + backward."""
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        g = decoder(z)
        r = x - (expected_clipped(g, noise_std) if noise_std else g)
        if mask is not None:
            r = r * mask
        f = r.pow(2).flatten(1).sum(1) + beta * z.pow(2).sum(1)
        (g,) = torch.autograd.grad(f.sum(), z)
    return f.detach(), g


def _two_loop(g: Tensor, S: list, Y: list, RHO: list, gamma: Tensor) -> Tensor:
    """L-BFGS direction -H g per row; (s, y, rho) pairs with rho = 0 are no-ops for that row."""
    q = g.clone()
    alphas = []
    for s, y, rho in zip(reversed(S), reversed(Y), reversed(RHO)):
        a = rho * (s * q).sum(1)
        q -= a[:, None] * y
        alphas.append(a)
    r = gamma[:, None] * q
    for (s, y, rho), a in zip(zip(S, Y, RHO), reversed(alphas)):
        b = rho * (y * r).sum(1)
        r += s * (a - b)[:, None]
    return -r


def _lbfgs(decoder, z: Tensor, x: Tensor, mask, beta: float, steps: int, history: int = 8,
           noise_std: float | None = None):
    """Batched L-BFGS with per-row Armijo backtracking. Returns (f_path [steps+1, B], z_path)."""
    f, g = _objective_and_grad(decoder, z, x, mask, beta, noise_std)
    S, Y, RHO = [], [], []
    gamma = torch.ones_like(f)
    t = torch.clamp(1.0 / g.abs().sum(1).clamp_min(1e-12), max=1.0)  # cautious first step
    f_path, z_path = [f], [z]
    for _ in range(steps):
        p = _two_loop(g, S, Y, RHO, gamma)
        slope = (g * p).sum(1)
        bad = slope >= 0  # not a descent direction (stale curvature): fall back to steepest descent
        if bad.any():
            p = torch.where(bad[:, None], -g, p)
            slope = torch.where(bad, -(g * g).sum(1), slope)
        z_new = z + t[:, None] * p
        f_new, g_new = _objective_and_grad(decoder, z_new, x, mask, beta, noise_std)
        ok = torch.isfinite(f_new) & (f_new <= f + 1e-4 * t * slope)
        s, y = z_new - z, g_new - g
        sy = (s * y).sum(1)
        good = ok & (sy > 1e-10)
        S.append(torch.where(good[:, None], s, 0.0))
        Y.append(torch.where(good[:, None], y, 0.0))
        RHO.append(torch.where(good, 1.0 / sy.clamp_min(1e-10), 0.0))
        if len(S) > history:
            S.pop(0), Y.pop(0), RHO.pop(0)
        gamma = torch.where(good, sy / (y * y).sum(1).clamp_min(1e-12), gamma)
        z = torch.where(ok[:, None], z_new, z)
        f = torch.where(ok, f_new, f)
        g = torch.where(ok[:, None], g_new, g)
        t = torch.where(ok, torch.ones_like(t), t * 0.5)
        f_path.append(f), z_path.append(z)
    return torch.stack(f_path), torch.stack(z_path)


def _adam(decoder, z: Tensor, x: Tensor, mask, beta: float, steps: int, lr: float = 0.1,
          noise_std: float | None = None):
    """Batched Adam (for comparison with L-BFGS): same one-call-per-iteration budget."""
    z = z.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    f_path, z_path = [], []
    for _ in range(steps + 1):
        f, g = _objective_and_grad(decoder, z, x, mask, beta, noise_std)
        f_path.append(f), z_path.append(z.detach().clone())
        z.grad = g
        opt.step()
    return torch.stack(f_path), torch.stack(z_path)


OPTIMIZERS = {"lbfgs": _lbfgs, "adam": _adam}


def map_estimate(decoder, x_noisy, *, beta: float, steps: int, restarts: int, mask=None, seed: int = 0,
                 optimizer: str = "lbfgs", init: Tensor | None = None, latent_dim: int | None = None,
                 noise_std: float | None = None, all_restarts: bool = False) -> DenoiseResult:
    """MAP denoising argmin_z ||mask*(x_noisy - decoder(z))||^2 + beta ||z||^2, batched.

    decoder: z [B, d] -> images [B,1,28,28] (its weights are not updated and get no gradient).
    init: optional [N, d] start for restart 0 (e.g. the encoder's mean); the other restarts start
    at z ~ N(0, I) drawn from `seed`. latent_dim is needed only when init is None and the decoder
    has no `in_features`-bearing first layer to read it from.
    noise_std: if given, compare x_noisy with E[clip(decoder(z) + noise)] (expected_clipped)
    instead of decoder(z): the likelihood of the convention's clipped Gaussian noise, to first order.
    all_restarts: also return every restart's objective and latent path (restart_losses, restart_z),
    e.g. to see what fewer steps or restarts would have given.
    """
    x = as_images(x_noisy)
    mask = _as_mask(mask, x)
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {optimizer!r}")
    if not (beta >= 0 and math.isfinite(beta)):
        raise ValueError(f"beta must be a finite number >= 0, not {beta}")
    if noise_std is not None and not (noise_std >= 0 and math.isfinite(noise_std)):
        raise ValueError(f"noise_std must be a finite number >= 0, not {noise_std}")
    if int(steps) < 0 or int(restarts) < 1:
        raise ValueError(f"need steps >= 0 and restarts >= 1, got steps={steps}, restarts={restarts}")
    steps, restarts = int(steps), int(restarts)
    n = len(x)
    d = init.shape[1] if init is not None else (latent_dim or _latent_dim(decoder))
    gen = torch.Generator().manual_seed(seed)
    z0 = torch.randn(restarts, n, d, generator=gen)
    if init is not None:
        if tuple(init.shape) != (n, d):
            raise ValueError(f"init must be [{n}, {d}], got {tuple(init.shape)}")
        z0[0] = init.detach().float()
    # Rows are restart-major: row r*n + i is restart r of image i.
    xr = x.repeat(restarts, 1, 1, 1)
    mr = mask.repeat(restarts, 1, 1, 1) if mask is not None else None
    frozen = [p for p in decoder.parameters() if p.requires_grad] if hasattr(decoder, "parameters") else []
    for p in frozen:
        p.requires_grad_(False)
    try:
        f_path, z_path = OPTIMIZERS[optimizer](decoder, z0.reshape(restarts * n, d), xr, mr, float(beta), steps,
                                               noise_std=noise_std)
        f_path = f_path.view(steps + 1, restarts, n)
        z_path = z_path.view(steps + 1, restarts, n, d)
        best = f_path[-1].argmin(0)  # [n]
        cols = torch.arange(n)
        f_best, z_best = f_path[:, best, cols], z_path[:, best, cols]  # [steps+1, n], [steps+1, n, d]
        with torch.inference_mode():
            x_hat = decoder(z_best[-1]).float().clamp(0, 1)
    finally:
        for p in frozen:
            p.requires_grad_(True)
    return DenoiseResult(x_hat=x_hat.clone(), loss_history=f_best, z_path=z_best, z=z_best[-1], best_restart=best,
                         restart_losses=f_path if all_restarts else None,
                         restart_z=z_path if all_restarts else None,
                         params={"beta": float(beta), "steps": steps, "restarts": restarts, "seed": seed,
                                 "optimizer": optimizer, "noise_std": noise_std})


def _latent_dim(decoder) -> int:
    for module in decoder.modules():
        if isinstance(module, torch.nn.Linear):
            return module.in_features
    raise ValueError("cannot infer the latent size of this decoder: pass init or latent_dim")


class Denoisers:
    """The three denoisers with their models loaded once. Call: den(method, x_noisy, ...)."""

    def __init__(self, ae, vae, trained: dict | None = None, defaults: MapDefaults | None = None):
        self.ae, self.vae = ae.eval(), vae.eval()
        self.defaults = defaults or MapDefaults()
        for p in [*self.ae.parameters(), *self.vae.parameters()]:
            p.requires_grad_(False)  # frozen: MAP differentiates in z only
        self.trained = trained or {AE_NAME: True, VAE_NAME: True}
        self.latent_dim = int(vae.cfg.latent_dim)

    @classmethod
    def load(cls, directory=None, allow_untrained: bool = False) -> "Denoisers":
        """spec_ae and vae16 from `directory` (default checkpoints/), with the MAP defaults stored
        beside them (MapDefaults.read(directory)). With allow_untrained=True a
        missing checkpoint is replaced by a randomly initialised model (a warning says so): for
        developing against the interface before the weights exist, never for results."""
        from core.models import build

        models, trained = {}, {}
        for name in (AE_NAME, VAE_NAME):
            try:
                models[name], trained[name] = checkpoints.load(name, directory), True
            except checkpoints.CheckpointError:
                if not allow_untrained:
                    raise
                warnings.warn(f"{name}: no checkpoint, using an UNTRAINED model", stacklevel=2)
                models[name], trained[name] = build(name).eval(), False
        return cls(models[AE_NAME], models[VAE_NAME], trained, MapDefaults.read(directory))

    def __call__(self, method: str, x_noisy, *, mask=None, beta: float | None = None,
                 steps: int | None = None, restarts: int | None = None, seed: int = 0,
                 noise_level: float | None = None, optimizer: str = "lbfgs", clip_aware: bool = False,
                 estimator=None) -> DenoiseResult:
        """Denoise x_noisy with `method` in METHODS. beta=None: the validated beta for
        `noise_level` (self.defaults.beta_for), else the defaults' beta. mask (map only): 1 = observed pixel.
        clip_aware (map only, needs noise_level): model the clipping of the noise (expected_clipped);
        much better at noise >= 0.3 (see the A8 table) but not the plain objective of A8(b).
        estimator (map only): a stand-in for map_estimate with its signature, e.g. the pose-aware
        search of core.denoising.pose_map (`pose_map.pose_aware(den, x, ...)` passes it). It is kept only
        where its shipped measurement says it helps: `pose_map.auto(den, x, condition=...,
        noise_level=...)` chooses (`pose_map.recommended`)."""
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
        if clip_aware and noise_level is None:
            raise ValueError("clip_aware=True needs the noise level (noise_level=...)")
        x = as_images(x_noisy)
        if method == "ae":
            with torch.inference_mode():
                return DenoiseResult(x_hat=self.ae(x).float().clamp(0, 1).clone(), params={"method": method})
        with torch.inference_mode():
            mean = self.vae.encode(x).float().clone()
        if method == "vae":
            with torch.inference_mode():
                x_hat = self.vae.decode(mean).float().clamp(0, 1).clone()
            return DenoiseResult(x_hat=x_hat, z=mean, params={"method": method})
        policy = self.defaults.settings(noise_level, clip_aware=clip_aware)
        kw = dict(mask=mask, init=mean, seed=seed, optimizer=optimizer,
                  beta=policy.beta if beta is None else beta,
                  noise_std=float(noise_level) if clip_aware else None,
                  steps=policy.steps if steps is None else steps,
                  restarts=policy.restarts if restarts is None else restarts)
        result = (estimator or map_estimate)(self.vae.decode, x, **kw)
        result.params.update(method=method, pose_aware=estimator is not None)
        return result

    def all(self, x_noisy, **kw) -> dict[str, DenoiseResult]:
        """Every method on the same input: {method: DenoiseResult}."""
        return {m: self(m, x_noisy, **kw) for m in METHODS}


_CACHE: dict = {}


def denoise(method: str, x_noisy, **kw) -> Tensor:
    """Shortcut: the denoised images [N,1,28,28] from the shipped models (loaded once)."""
    if "den" not in _CACHE:
        _CACHE["den"] = Denoisers.load()
    return _CACHE["den"](method, x_noisy, **kw).x_hat
