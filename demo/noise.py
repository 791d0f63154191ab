"""The noises the demo offers (Gaussian, salt and pepper, an erased block, a painted region) and the
checks of the numbers the user types for them."""
from __future__ import annotations

import numpy as np
import torch

from core.data import DIGIT_BOX, add_noise, salt_and_pepper
from demo.inputs import INK_THRESHOLD, InputError

NOISE_TYPES = {"Gaussian": "gaussian", "Salt and pepper": "salt_pepper", "Erased block": "block",
               "Painted region": "region"}
MAX_SEED = 2**31 - 1
MIN_KEPT_INK = 0.05   # below this share of the digit's ink left visible, nothing can be recovered
IMPOSSIBLE = ("the whole digit is gone, so no denoiser can tell which digit it was: the task is "
              "impossible. {fix}")


def parse_number(value, name: str, lo: float, hi: float, integer: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, not {value!r}.") from None
    if not np.isfinite(v) or not lo <= v <= hi:
        raise InputError(f"{name} must be between {lo:g} and {hi:g}, not {value!r}.")
    if integer:
        if v != int(v):
            raise InputError(f"{name} must be a whole number, not {value!r}.")
        return int(v)
    return v


def noise_kind(kind: str) -> str:
    if not isinstance(kind, str):
        raise InputError(f"The noise type must be one of {', '.join(NOISE_TYPES)}, not {kind!r}.")
    if kind in NOISE_TYPES.values():
        return kind
    if kind not in NOISE_TYPES:
        raise InputError(f"Unknown noise type {kind!r}; choose one of: {', '.join(NOISE_TYPES)}.")
    return NOISE_TYPES[kind]


def corrupt(x: torch.Tensor, kind: str, level, seed, region: torch.Tensor | None = None
            ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(noisy [N,1,28,28], mask or None). Level in [0, 1] means: the Gaussian's std (clipped to
    [0, 1], as in the report); the fraction of pixels set to black or white; the erased block's side
    as a fraction of the 20-px digit box (placed inside the digit's box). "Painted region" erases the pixels `region` (painted
    coverage, [1,1,28,28]) covers by half or more, and ignores the level. The erasures return a mask
    (1 = observed), which MAP uses for inpainting. The same seed gives the same noise.
    An erasure that leaves (almost) none of the digit's ink raises InputError: the task is impossible."""
    kind = noise_kind(kind)
    level = parse_number(level, "Noise level", 0, 1)
    seed = parse_number(seed, "Seed", 0, MAX_SEED, integer=True)
    if kind == "gaussian":
        return add_noise(x, level, seed), None
    if kind == "salt_pepper":
        return salt_and_pepper(x, level, seed), None
    # The erased block is placed in the digit's own box (not core's central 20x20): at level 1 the
    # whole digit is gone, which is then said instead of asking MAP for the impossible.
    gen = torch.Generator().manual_seed(seed)
    mask = torch.ones_like(x)
    if kind == "region":
        if region is None or not bool((region >= 0.5).any()):
            raise InputError("Painted region: nothing is painted. Switch the canvas to \"Paint region to "
                             "erase\" and paint over part of your digit.")
        mask = (region < 0.5).to(x.dtype).expand_as(x).clone()
        fix = "Paint over a smaller part of the digit."
    else:
        side = round(level * DIGIT_BOX)
        if side > 0:
            # The block lies inside the digit's own box (20 px on its longer side): at level 1 it
            # covers the whole digit, whatever its shape and position.
            drawn = x[0, 0] > INK_THRESHOLD
            rows, cols = (torch.nonzero(drawn.any(1)).flatten(), torch.nonzero(drawn.any(0)).flatten()) if drawn.any() \
                else (torch.tensor([4, 23]), torch.tensor([4, 23]))
            corner = []
            for idx in (rows, cols):
                lo, hi = int(idx[0]), int(idx[-1]) + 1
                start = lo + int(torch.randint(0, max(0, hi - lo - side) + 1, (1,), generator=gen))
                corner.append(max(0, min(start - max(0, side - (hi - lo)) // 2, 28 - side)))
            top, left = corner
            mask[..., top:top + side, left:left + side] = 0
        fix = "Choose a smaller block (a level below 1)."
    if float((x * mask).sum()) < MIN_KEPT_INK * float(x.sum()):
        raise InputError(("At this level the block covers the whole 20-px digit box: " if kind == "block"
                          else "The painted region covers the whole digit: ") + IMPOSSIBLE.format(fix=fix))
    return x * mask, mask


