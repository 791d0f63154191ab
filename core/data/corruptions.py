"""Every corruption the report and the demo apply to images [N,C,H,W] in [0, 1], seeded: the same
seed, the same corruption. Masks are 1 where a pixel is observed and 0 where it is missing, the
convention of `core.denoising.denoise` (MAP fits only the observed pixels).
"""
from __future__ import annotations

import torch

from core.data.mnist import DIGIT_BOX

DEFAULT_NOISE_LEVEL = 0.5  # EXERCISES.md's default noise level s: the figures, part C, the demo
NOISE_SEED = 0             # the noise of every test-set result in the report


def add_noise(x: torch.Tensor, level: float, seed: int = NOISE_SEED) -> torch.Tensor:
    """Noise level s: additive Gaussian, std s, clipped to [0, 1]; the same seed, the same noise."""
    if level < 0:
        raise ValueError(f"noise level must be >= 0, not {level}")
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(x.shape, generator=gen, dtype=x.dtype)
    return (x + level * noise.to(x.device)).clamp_(0, 1)


def salt_and_pepper(x: torch.Tensor, fraction: float, seed: int = NOISE_SEED) -> torch.Tensor:
    """A `fraction` of the pixels (each independently) set to black or white with equal odds."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"the salt-and-pepper fraction must lie in [0, 1], not {fraction}")
    gen = torch.Generator().manual_seed(seed)
    hit = torch.rand(x.shape, generator=gen) < fraction
    salt = (torch.rand(x.shape, generator=gen) < 0.5).to(x.dtype)
    return torch.where(hit, salt, x)


def erased_block(x: torch.Tensor, size: float, seed: int = NOISE_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """(x with one square block set to 0, its mask). The block's side is `size` (in [0, 1]) times
    the 20-px digit box, placed at a seeded position inside the central 20x20 where MNIST's digit
    lies (the same block for every image of the batch)."""
    if not 0 <= size <= 1:
        raise ValueError(f"the erased block's size must lie in [0, 1], not {size}")
    gen = torch.Generator().manual_seed(seed)
    side = round(size * DIGIT_BOX)
    mask = torch.ones_like(x)
    if side > 0:
        lo = (x.shape[-1] - DIGIT_BOX) // 2
        top, left = (lo + int(torch.randint(0, DIGIT_BOX - side + 1, (1,), generator=gen)) for _ in range(2))
        mask[..., top:top + side, left:left + side] = 0
    return x * mask, mask


def bottom_half_mask(size: int = 28) -> torch.Tensor:
    """[1,1,size,size] mask with the bottom half unobserved: the report's inpainting task."""
    mask = torch.ones(1, 1, size, size)
    mask[..., size // 2:, :] = 0
    return mask
