"""The noises the demo offers (Gaussian, salt and pepper, an erased block, a painted region) and the
checks of the numbers the user types for them."""
from __future__ import annotations

import re

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


# A number as a person types it: digits with at most one decimal point, an optional sign and
# exponent. Python's float() also takes "1_000", "nan" and "infinity", none of which is a typo to accept.
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
MAX_QUOTE = 40   # characters of what was typed quoted back in a message


def quoted(value) -> str:
    """What the user typed, as a message quotes it: in quotes, cut to MAX_QUOTE characters."""
    text = value if isinstance(value, str) else str(value)
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return f'"{text[:MAX_QUOTE]}…"' if len(text) > MAX_QUOTE else f'"{text}"'


def parse_number(value, name: str, lo: float, hi: float, integer: bool = False) -> float:
    """A number the user typed (a text box's string, or a number through the API), checked, never
    rounded or clamped: anything that is not a number in [lo, hi] (or not whole, where a whole
    number is needed) gets a message that quotes what was typed and says the range."""
    bounds = " to ".join(f"{int(b)}" if float(b).is_integer() else f"{b:g}" for b in (lo, hi))
    wanted = f"{'a whole number' if integer else 'a number'} from {bounds}"
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InputError(f"{name} is empty: type {wanted}.")
    if isinstance(value, str):
        text = value.strip()
        if not NUMBER.fullmatch(text):
            hint = ""
            if "," in text and NUMBER.fullmatch(text.replace(",", ".", 1)):
                hint = f" (write decimals with a point: {text.replace(',', '.', 1)})"
            raise InputError(f"{name}: {quoted(value)} is not a number{hint}; type {wanted}.")
        v = float(text)
    elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        v = float(value)
    else:
        raise InputError(f"{name} must be {wanted}, not {type(value).__name__}.")
    if not np.isfinite(v) or not lo <= v <= hi:
        raise InputError(f"{name}: {quoted(value)} is out of range; type {wanted}.")
    if integer:
        if v != int(v):
            raise InputError(f"{name}: {quoted(value)} is not a whole number; type {wanted}.")
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
    seed = parse_number(seed, "Noise seed", 0, MAX_SEED, integer=True)
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


