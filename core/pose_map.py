"""Pose-aware MAP: explain a noisy digit as a decoded digit seen through a small affine transform.

    argmin_{z, u}  ||m * (x_noisy - W(g(z), sigma_u * u))||^2 + beta (||z||^2 + ||u||^2)

g is the frozen 16-D VAE decoder, W warps an image by a rotation, a scale and a shift
(`affine_grid` + `grid_sample`, zeros outside the frame), u = (angle, log-scale, shift x, shift y)
in units of the prior's standard deviations `PosePrior`. With u ~ N(0, I) the transform prior has
the same form (and the same beta) as the latent prior, so the search is exactly plain MAP
(`core.denoise.map_estimate`: batched L-BFGS, restarts, clip-aware likelihood, masks) over the
longer vector (z, u) through the decoder `v -> W(g(v[:d]), sigma * v[d:])`. Restart 0 starts at
the encoder's mean with the identity pose; the others draw (z, u) from the prior.

Why: the VAE learned centred, upright MNIST digits. A digit drawn 20 degrees tilted or 4 px off
centre is far from every decoded image, so plain MAP explains it with another digit. Measured
against plain MAP in and out of distribution by

    python -m core.pose_map --n 300 --levels 0.3 0.5 [--json]
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import sys
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .denoise import DenoiseResult, as_images, map_estimate

POSE_DIMS = 4  # angle, log-scale, shift x, shift y


@dataclass(frozen=True)
class PosePrior:
    """Standard deviations of the transform prior. MNIST digits are centred by their centre of
    mass and size-normalised, so in distribution the pose barely varies; these widths let a search
    reach a drawn digit tilted by ~20 degrees or ~4 px off centre at about one and a half sd."""
    angle_deg: float = 15.0
    log_scale: float = 0.1
    shift_px: float = 3.0

    def sigmas(self, size: int = 28) -> Tensor:
        # affine_grid works in normalised coordinates: the frame spans 2 units = `size` pixels.
        return torch.tensor([math.radians(self.angle_deg), self.log_scale,
                             2 * self.shift_px / size, 2 * self.shift_px / size])


def affine_matrices(pose: Tensor) -> Tensor:
    """[B, 2, 3] sampling matrices for affine_grid that rotate an image by pose[:, 0] radians
    (counter-clockwise as displayed), scale it by exp(pose[:, 1]) and then shift it by
    (pose[:, 2], pose[:, 3]) in normalised units (x right, y down). affine_grid maps OUTPUT
    coordinates to where they are read in the input, so this is the inverse map p -> A^-1 (p - t)."""
    angle, log_s, tx, ty = pose.unbind(1)
    inv_s = torch.exp(-log_s)
    # Displayed counter-clockwise rotation by a (y axis down): the inverse reads at R(a) in (x, y).
    c, s = torch.cos(angle) * inv_s, torch.sin(angle) * inv_s
    a11, a12, a21, a22 = c, -s, s, c
    b1 = -(a11 * tx + a12 * ty)
    b2 = -(a21 * tx + a22 * ty)
    return torch.stack([torch.stack([a11, a12, b1], 1), torch.stack([a21, a22, b2], 1)], 1)


def warp(images: Tensor, pose: Tensor) -> Tensor:
    """images [B, C, H, W] transformed by pose [B, 4] (see affine_matrices), bilinear, zeros outside."""
    grid = F.affine_grid(affine_matrices(pose.to(images.dtype)), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def pose_from_degrees_px(angle_deg, shift_x_px, shift_y_px, scale=1.0, size: int = 28) -> Tensor:
    """A [B, 4] pose from readable units (degrees, pixels, scale factor)."""
    angle = torch.as_tensor(angle_deg, dtype=torch.float32).reshape(-1)
    n = len(angle)
    def col(v):
        return torch.as_tensor(v, dtype=torch.float32).reshape(-1).expand(n)
    return torch.stack([torch.deg2rad(angle), torch.log(col(scale)), 2 * col(shift_x_px) / size,
                        2 * col(shift_y_px) / size], 1)


# An L-BFGS trial step can throw the pose far out (a scale of e^50 gives inf pixels, and NaN
# stops the clip-aware likelihood): every component is squashed smoothly into +-LIMIT (radians,
# log-scale, normalised shift), which leaves small poses unchanged (tanh(x) ~ x).
LIMIT = torch.tensor([math.radians(60.0), math.log(2.0), 0.5, 0.5])


def bounded(pose: Tensor) -> Tensor:
    limit = LIMIT.to(pose)
    return limit * torch.tanh(pose / limit)


def pose_aware(den, x_noisy, **kw) -> DenoiseResult:
    """Pose-aware MAP with a `core.denoise.Denoisers` (its decoder, validated beta and budget):
    keyword arguments as `den("map", ...)`."""
    return den("map", x_noisy, estimator=functools.partial(pose_map_estimate, latent_dim=den.latent_dim), **kw)


def pose_map_estimate(decoder, x_noisy, *, beta: float, steps: int, restarts: int, latent_dim: int,
                      init: Tensor | None = None, prior: PosePrior = PosePrior(), **map_kw) -> DenoiseResult:
    """MAP over (z, pose) through `warp(decoder(z), pose)`; keyword arguments as map_estimate
    (mask, seed, optimizer, noise_std). init: [N, latent_dim] start of restart 0's z (its pose
    starts at the identity). The result's `z` is the latent part; params["pose"] holds the
    estimated pose [N, 4] (radians, log-scale, normalised shifts) and params["pose_deg_px"] the
    same in degrees, scale factor and pixels. With all_restarts=True the per-restart latents carry
    the pose as their last 4 entries, in units of the prior's sd."""
    x = as_images(x_noisy)
    sigma = prior.sigmas(x.shape[-1])
    d = int(latent_dim)

    def posed(v: Tensor) -> Tensor:
        return warp(decoder(v[:, :d]), bounded(v[:, d:] * sigma.to(v)))

    if init is not None:
        init = torch.cat([init.detach().float(), torch.zeros(len(init), POSE_DIMS)], 1)
    res = map_estimate(posed, x, beta=beta, steps=steps, restarts=restarts, init=init,
                       latent_dim=d + POSE_DIMS, **map_kw)
    v = res.z
    pose = bounded(v[:, d:] * sigma)
    res.z = v[:, :d].clone()
    res.z_path = res.z_path[..., :d] if res.z_path is not None else None
    size = x.shape[-1]
    res.params.update(pose=pose, prior=asdict(prior), pose_deg_px=torch.stack(
        [torch.rad2deg(pose[:, 0]), pose[:, 1].exp(), pose[:, 2] * size / 2, pose[:, 3] * size / 2], 1))
    return res


# --- measurement: in and out of distribution --------------------------------------------------------

CONDITIONS = ("upright", "rotated", "shifted")
ROTATION_DEG, SHIFT_PX = 20.0, 4.0


def transform_set(x: Tensor, condition: str, seed: int = 0) -> Tensor:
    """The clean test digits as shown to the denoisers: `upright` (as they are), `rotated` (each by
    +20 or -20 degrees, random sign), `shifted` (each by 4 px left, right, up or down), seeded."""
    if condition == "upright":
        return x.clone()
    gen = torch.Generator().manual_seed(seed)
    n = len(x)
    if condition == "rotated":
        sign = torch.randint(0, 2, (n,), generator=gen) * 2 - 1
        pose = pose_from_degrees_px(ROTATION_DEG * sign.float(), 0.0, 0.0)
    elif condition == "shifted":
        direction = torch.randint(0, 4, (n,), generator=gen)
        dx = torch.tensor([SHIFT_PX, -SHIFT_PX, 0.0, 0.0])[direction]
        dy = torch.tensor([0.0, 0.0, SHIFT_PX, -SHIFT_PX])[direction]
        pose = pose_from_degrees_px(torch.zeros(n), dx, dy)
    else:
        raise ValueError(f"condition must be one of {', '.join(CONDITIONS)}, not {condition!r}")
    with torch.no_grad():
        return warp(x, pose).clamp(0, 1)


def identity_reader():
    """The classifier that reads outputs: the judge (noise- and pose-augmented) when its checkpoint
    exists, else the A4 classifier (then said in the output: it never saw rotated digits)."""
    from . import checkpoints

    for name in ("judge", "spec_classifier"):
        if checkpoints.path(name).exists():
            try:
                return name, checkpoints.load(name)
            except checkpoints.CheckpointError:
                continue
    raise checkpoints.CheckpointError("no classifier checkpoint (judge or spec_classifier) to read outputs")


def measure(n: int = 300, levels=(0.3, 0.5), conditions=CONDITIONS, seed: int = 0, restarts: int | None = None,
            steps: int | None = None, clip_aware: bool = True, progress: bool = True) -> list[dict]:
    """Plain MAP vs pose-aware MAP (same beta, steps, restarts, init) on `n` seeded test images per
    condition and noise level: rows {condition, level, method, psnr, identity, ms_per_image}."""
    from tqdm.auto import tqdm

    from . import data, metrics
    from .denoise import Denoisers

    den = Denoisers.load()
    reader_name, reader = identity_reader()
    x_all, y_all = data.load_mnist("test")
    idx = torch.randperm(len(x_all), generator=torch.Generator().manual_seed(seed))[:n]
    x_clean, y = x_all[idx], y_all[idx]
    policy = den.defaults.settings()
    steps = policy.steps if steps is None else steps
    restarts = policy.restarts if restarts is None else restarts
    rows = []
    jobs = [(c, s) for c in conditions for s in levels]
    for condition, level in tqdm(jobs, desc="pose MAP", disable=not progress):
        target = transform_set(x_clean, condition, seed)
        noisy = data.add_noise(target, level, seed)
        with torch.inference_mode():
            mean = den.vae.encode(noisy).float().clone()
        beta = den.defaults.beta_for(level, clip_aware)
        kw = dict(beta=beta, steps=steps, restarts=restarts, seed=seed,
                  noise_std=float(level) if clip_aware else None)
        variants = {"noisy input": None,
                    "MAP": lambda: map_estimate(den.vae.decode, noisy, init=mean, **kw),
                    "MAP + pose": lambda: pose_map_estimate(den.vae.decode, noisy, init=mean,
                                                            latent_dim=den.latent_dim, **kw)}
        for method, run in variants.items():
            t0 = time.perf_counter()
            out = noisy if run is None else run().x_hat
            ms = 1000 * (time.perf_counter() - t0) / n
            with torch.inference_mode():
                read = reader(out).argmax(1)
            rows.append({"condition": condition, "level": float(level), "method": method,
                         "psnr": float(metrics.psnr(out, target).mean()),
                         "identity": float(100 * (read == y).float().mean()),
                         "ms_per_image": ms if run is not None else 0.0,
                         "reader": reader_name, "n": n, "clip_aware": clip_aware,
                         "beta": beta, "steps": steps, "restarts": restarts})
    return rows


def verdicts(rows: list[dict], margin_db: float = 0.1) -> list[dict]:
    """Per condition and level: PSNR and identity gain of MAP + pose over MAP, and `helps`
    (PSNR gain above margin_db without losing identity)."""
    by = {(r["condition"], r["level"], r["method"]): r for r in rows}
    out = []
    for (cond, level, method), r in by.items():
        if method != "MAP + pose":
            continue
        base = by[(cond, level, "MAP")]
        d_psnr, d_id = r["psnr"] - base["psnr"], r["identity"] - base["identity"]
        out.append({"condition": cond, "level": level, "psnr gain dB": d_psnr, "identity gain %": d_id,
                    "helps": d_psnr > margin_db and d_id >= 0})
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description="Plain vs pose-aware MAP, in and out of distribution.")
    parser.add_argument("--n", type=int, default=300, help="test images per condition and level")
    parser.add_argument("--levels", type=float, nargs="+", default=[0.3, 0.5])
    parser.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=CONDITIONS)
    parser.add_argument("--restarts", type=int, help="default: the validated MAP default")
    parser.add_argument("--steps", type=int, help="default: the validated MAP default")
    parser.add_argument("--plain-likelihood", action="store_true", help="not clip-aware")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--dry-run", action="store_true", help="4 images, 2 steps (checks the plumbing)")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    n, steps = (4, 2) if args.dry_run else (args.n, args.steps)
    rows = measure(n, args.levels, args.conditions, restarts=args.restarts, steps=steps,
                   clip_aware=not args.plain_likelihood, progress=not args.json)
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        print()
        return
    print(f"{n} test images per row, outputs read by {rows[0]['reader']}; "
          f"steps {rows[0]['steps']}, restarts {rows[0]['restarts']}, clip-aware {rows[0]['clip_aware']}")
    print(f"{'condition':<9} {'level':>5} {'method':<12} {'PSNR dB':>8} {'identity %':>10} {'ms/img':>7}")
    for r in rows:
        print(f"{r['condition']:<9} {r['level']:>5.2f} {r['method']:<12} {r['psnr']:>8.2f} {r['identity']:>10.1f} "
              f"{r['ms_per_image']:>7.1f}")
    for v in verdicts(rows):
        print(f"{v['condition']:<9} {v['level']:>5.2f} pose: {v['psnr gain dB']:+.2f} dB, "
              f"{v['identity gain %']:+.1f} identity points -> {'helps' if v['helps'] else 'does not help'}")


if __name__ == "__main__":
    main()
