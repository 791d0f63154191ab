"""Image-quality numbers, per image, as EXERCISES.md defines them (pixels in [0, 1])."""
from __future__ import annotations

import numpy as np
import torch


def mse(estimate: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image: [N, ...] -> [N]."""
    return ((estimate.float() - clean.float()) ** 2).flatten(1).mean(1)


def psnr(estimate: torch.Tensor, clean: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """PSNR in dB with peak 1, per image: [N, ...] -> [N]."""
    return -10 * torch.log10(mse(estimate, clean) + eps)


def snr(estimate: torch.Tensor, clean: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """SNR = 10 log10(sum clean^2 / sum (clean - estimate)^2) in dB, per image."""
    clean, estimate = clean.float().flatten(1), estimate.float().flatten(1)
    return 10 * torch.log10(clean.pow(2).sum(1) / ((clean - estimate).pow(2).sum(1) + eps))


def ssim(estimate: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """Structural similarity per image (scikit-image, data range 1), for [N,C,H,W] tensors."""
    from skimage.metrics import structural_similarity

    est, ref = estimate.float().cpu().numpy(), clean.float().cpu().numpy()
    values = [structural_similarity(r, e, data_range=1.0, channel_axis=0) for e, r in zip(est, ref)]
    return torch.tensor(np.array(values, dtype=np.float32))
