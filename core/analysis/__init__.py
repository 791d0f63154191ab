"""Analyses behind the report: plain functions returning tensors, arrays or tables.

Split by family: latent.py (A2-A6), ...; shared batched inference lives here.
"""
from __future__ import annotations

import torch


@torch.inference_mode()
def batched(fn, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """fn applied to x in batches (inference mode, fp32), results concatenated on the CPU."""
    return torch.cat([fn(x[i:i + batch_size]).float().cpu() for i in range(0, len(x), batch_size)])


def encode(model, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """Latent codes [N, d] of a whole split in one batched pass (VAEs: the posterior means)."""
    return batched(model.encode, x, batch_size)


def reconstruct(model, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    return batched(model, x, batch_size)


def latent_bounds(z: torch.Tensor, coverage: float = 0.98) -> tuple[float, float, float, float]:
    """(x_min, x_max, y_min, y_max) of the central `coverage` of 2-D latents, per axis.

    Quantiles rather than min/max: a handful of outliers would otherwise stretch the grid over
    empty space. With coverage 0.98 each axis spans its 1st to 99th percentile.
    """
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"latent_bounds needs [N, 2] latents, got {tuple(z.shape)}")
    lo, hi = (1 - coverage) / 2, 1 - (1 - coverage) / 2
    q = torch.quantile(z.float(), torch.tensor([lo, hi]), dim=0)  # [2 quantiles, 2 axes]
    return float(q[0, 0]), float(q[1, 0]), float(q[0, 1]), float(q[1, 1])


def grid_points(bounds, n: int = 15) -> torch.Tensor:
    """n*n equidistant 2-D points, row-major with the FIRST row at the TOP (largest y): [n*n, 2].

    Top-first matches image layout, so `plots.latent_grid` can imshow the tiles with
    origin="upper" and an extent that puts each tile at its latent coordinate.
    """
    x_min, x_max, y_min, y_max = bounds
    xs = torch.linspace(x_min, x_max, n)
    ys = torch.linspace(y_max, y_min, n)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx.flatten(), gy.flatten()], dim=1)


def decode_grid(model, bounds, n: int = 15) -> torch.Tensor:
    """Decoded images [n*n, 1, 28, 28] at `grid_points(bounds, n)`."""
    return batched(model.decode, grid_points(bounds, n))


def digit_layout(z: torch.Tensor, labels: torch.Tensor) -> list[dict]:
    """Where each digit sits on a 2-D map, for describing a scatter in words: the median of its
    points, its distance from the median of all points (in units of the map's overall spread), and
    that direction as a compass word as the scatter is drawn (y up): "top", "bottom left", ...
    Sorted from the farthest digit to the most central one."""
    z, labels = torch.as_tensor(z, dtype=torch.float32), torch.as_tensor(labels)
    if z.dim() != 2 or z.shape[1] != 2 or len(z) != len(labels):
        raise ValueError(f"need 2-D points [N,2] and N labels, got {tuple(z.shape)} and {tuple(labels.shape)}")
    centre, spread = z.median(0).values, z.std(0).clamp_min(1e-12)
    rows = []
    for digit in labels.unique().tolist():
        offset = (z[labels == digit].median(0).values - centre) / spread
        dx, dy = offset.tolist()
        angle = torch.atan2(offset[1], offset[0]).item()  # 0 = right, counter-clockwise
        words = ("right", "top right", "top", "top left", "left", "bottom left", "bottom", "bottom right")
        rows.append({"digit": int(digit), "x": dx, "y": dy, "distance": float(offset.norm()),
                     "side": words[round(angle / (torch.pi / 4)) % 8]})
    return sorted(rows, key=lambda r: -r["distance"])


def sharpness(x: torch.Tensor) -> float:
    """Mean absolute difference between neighbouring pixels (both axes): lower = blurrier."""
    x = torch.as_tensor(x).float()
    return float(((x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()) / 2)


def ink_agreement(x: torch.Tensor, x_hat: torch.Tensor) -> dict:
    """How well outputs keep the coarse shape of their inputs: the correlation of total ink
    (sum of pixels) across images, and the mean distance between the two centres of mass (px)."""
    x, x_hat = torch.as_tensor(x).float().flatten(2)[:, 0], torch.as_tensor(x_hat).float().flatten(2)[:, 0]
    side = int(round(x.shape[1] ** 0.5))
    rows, cols = torch.meshgrid(torch.arange(side).float(), torch.arange(side).float(), indexing="ij")
    def centre(t):
        m = t.sum(1, keepdim=True).clamp_min(1e-8)
        return torch.stack([(t * rows.flatten()).sum(1, keepdim=True) / m, (t * cols.flatten()).sum(1, keepdim=True) / m], 1)[..., 0]
    mass = torch.stack([x.sum(1), x_hat.sum(1)])
    return {"mass_corr": float(torch.corrcoef(mass)[0, 1]),
            "centre_shift_px": float((centre(x) - centre(x_hat)).norm(dim=1).mean())}
