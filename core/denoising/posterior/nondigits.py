"""Images that are not digits, for the misspecification test: letters and natural-image patches.

    letters(300), patches(300)     # [N,1,28,28] in [0, 1], deterministic from the seed

Letters: A-Z and a-z drawn with Pillow's own bundled font (the same on every machine, no system
font needed), white on black, then put in MNIST's format: the glyph's box scaled to fit 20x20 and
its centre of mass moved to the centre of the 28x28 frame, each with a small seeded rotation and
stroke width. Patches: seeded 56x56 crops of the grey-level photographs bundled with
scikit-image, halved to 28x28 and stretched to [0, 1].
"""
from __future__ import annotations

import string

import numpy as np
import torch
from scipy import ndimage

# Letters that are drawn like digits in many hands (O/0, I/l/1, S/5, Z/2, B/8, g/9, b/6, q/9, G/6)
# stay in: the test should face them, and the chapter shows how they score.
LETTERS = string.ascii_uppercase + string.ascii_lowercase
PHOTOS = ("camera", "moon", "coins", "brick", "grass", "gravel", "astronaut", "coffee", "chelsea", "rocket")


def _mnist_format(glyph: np.ndarray) -> np.ndarray:
    """A grey image [H, W] (ink bright) -> 28x28: bounding box scaled into 20x20, centre of mass centred."""
    from PIL import Image

    ys, xs = np.nonzero(glyph > 0.05)
    box = glyph[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h, w = box.shape
    scale = 20 / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray((box * 255).astype(np.uint8)).resize(size, Image.LANCZOS), np.float32) / 255
    frame = np.zeros((28, 28), np.float32)
    top, left = (28 - small.shape[0]) // 2, (28 - small.shape[1]) // 2
    frame[top:top + small.shape[0], left:left + small.shape[1]] = small
    cy, cx = ndimage.center_of_mass(frame)
    return np.clip(ndimage.shift(frame, (13.5 - cy, 13.5 - cx), order=1, mode="constant"), 0, 1)


def letters(n: int = 300, seed: int = 0) -> torch.Tensor:
    """n letters cycling through LETTERS, each rotated by up to +-10 degrees and drawn with a
    seeded stroke width, in MNIST's format."""
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    font = ImageFont.load_default(size=64)
    out = []
    for i in range(n):
        img = Image.new("L", (128, 128), 0)
        ImageDraw.Draw(img).text((32, 16), LETTERS[i % len(LETTERS)], fill=255, font=font,
                                 stroke_width=int(rng.integers(0, 4)), stroke_fill=255)
        img = img.rotate(float(rng.uniform(-10, 10)), resample=Image.BILINEAR)
        out.append(_mnist_format(np.asarray(img, np.float32) / 255))
    return torch.from_numpy(np.stack(out))[:, None]


def patches(n: int = 300, seed: int = 0) -> torch.Tensor:
    """n seeded 56x56 crops of scikit-image's bundled photographs (grey), halved to 28x28 and
    stretched to [0, 1] per patch."""
    from skimage import color, data
    from skimage.transform import downscale_local_mean

    rng = np.random.default_rng(seed)
    photos = []
    for name in PHOTOS:
        img = np.asarray(getattr(data, name)(), np.float32)
        img = color.rgb2gray(img[..., :3]) if img.ndim == 3 else img / 255
        photos.append(img)
    out = []
    for i in range(n):
        img = photos[i % len(photos)]
        top, left = rng.integers(0, img.shape[0] - 56), rng.integers(0, img.shape[1] - 56)
        patch = downscale_local_mean(img[top:top + 56, left:left + 56], (2, 2))
        lo, hi = patch.min(), patch.max()
        out.append((patch - lo) / max(hi - lo, 1e-6))
    return torch.from_numpy(np.stack(out).astype(np.float32))[:, None]


SETS = {"letters": letters, "patches": patches}
