"""The user's image -> the 28x28 the models see, without any UI: data URLs and uploaded bytes decoded
and size-checked, the ink of a drawing or a Sketchpad value, an upload's polarity, then MNIST's own
recipe (crop, scale to 20 px, centre of mass at the centre).

A drawing is ink on an empty (transparent) pad, like a Sketchpad layer, and is never inverted. Only
an opaque picture (an upload, a test digit) may be white on black, MNIST's way, and is then inverted.

Every problem with the user's input raises `InputError` (a ValueError) whose message is written to be
shown as is; the app turns it into gr.Error. Nothing here imports Gradio.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from core.data import DIGIT_BOX


class InputError(ValueError):
    """Bad user input; the message says what is wrong and how to fix it."""


MIN_SIDE, MAX_SIDE = 16, 2048   # px per side of an accepted drawing / upload
INK_THRESHOLD = 0.1             # ink level that counts as drawn (for the bounding box and checks)
MAX_INK_FRACTION = 0.5          # more ink than this is a filled canvas, not a digit (MNIST: 13%)
MIN_BOX_FRACTION = 0.12         # a drawing whose longer side is under 12% of the canvas is a dot
BLOB_BOX_FRACTION = 0.3         # ... and so is a small, round, solid blob (a wide brush's dot)
BLOB_FILL = 0.6                 # (a disc fills 79% of its box; a digit's strokes far less)
COM_TARGET = 14.0               # MNIST test set: mean centre of mass at (13.99, 14.01), index units
SOLID_GROUND = 0.95             # share of the border that must be dark for an inverted upload
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


MAX_DATA_URL_CHARS = 4_000_000  # a PNG data URL of a 2048-px drawing is far below this


def decode_data_url(url: str, what: str = "drawing") -> bytes:
    """The bytes of a `data:image/...;base64,` URL (what the canvas sends). Never echoes the string:
    it may be megabytes long."""
    if not isinstance(url, str) or not url.startswith("data:"):
        raise InputError(f"The {what} must be an image sent as a data:image/png;base64 URL.")
    if len(url) > MAX_DATA_URL_CHARS:
        raise InputError(f"The {what} is {len(url) / 1e6:.1f} MB; at most {MAX_DATA_URL_CHARS / 1e6:.0f} MB.")
    head, _, body = url.partition(",")
    if not head.endswith(";base64") or not body:
        raise InputError(f"The {what} must be an image sent as a data:image/png;base64 URL.")
    import base64
    import binascii

    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"The {what} is not an image: its base64 data is damaged.") from None


def _open_image(source: bytes, what: str):
    """A PIL image from bytes the client sent, size-checked before decoding (a huge image costs
    gigabytes). Never a file name: whoever reaches the API could otherwise read or probe server files."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(source)) as im:
            _check_size(*im.size, what)
            return im.convert("RGBA") if im.mode not in ("L", "LA", "RGB", "RGBA") else im.copy()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's own limit (the app sets it to MAX_SIDE² and makes its warning an error) fires
        # before the header's size reaches _check_size: still "too large", never "not an image".
        raise InputError(f"The {what} is too large: images must be {MIN_SIDE} to {MAX_SIDE} px on each "
                         f"side (at most {MAX_SIDE}x{MAX_SIDE}).") from None
    except (UnidentifiedImageError, SyntaxError):
        raise InputError(f"The {what} is not an image (PNG, JPEG, GIF, BMP or WebP expected).") from None
    except OSError:  # e.g. a truncated PNG: the header reads, the pixels do not
        raise InputError(f"The {what} is not an image (the file is damaged or truncated).") from None


def _as_array(image, what: str) -> np.ndarray:
    """An image (numpy array, PIL image, encoded bytes or data URL) as float32 in [0, 1], [H,W] or [H,W,C].

    A string is only ever a data URL: any other string (a file name, a URL) is refused with one
    message that does not depend on what it names, so the API cannot tell which files exist."""
    if isinstance(image, (str, Path)):
        if not (isinstance(image, str) and image.startswith("data:")):
            raise InputError(f"The {what} must be sent as image data (a data:image/png;base64 URL or the "
                             "image's bytes), not as a file name or link.")
        image = _open_image(decode_data_url(image, what), what)
    elif isinstance(image, (bytes, bytearray)):
        image = _open_image(bytes(image), what)
    if type(image).__module__.startswith("PIL."):
        _check_size(*image.size, what)
        if image.mode not in ("1", "L", "LA", "RGB", "RGBA"):
            image = image.convert("RGBA")  # palette, CMYK, 16-bit...: one colour model for all
        image = np.asarray(image)
    if not isinstance(image, np.ndarray):
        raise InputError(f"The {what} must be an image, not {type(image).__name__}.")
    a = image
    _check_shape(a, what)  # before any float copy
    if a.dtype == np.bool_:
        return a.astype(np.float32)
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255
    if a.dtype == np.uint16:
        return a.astype(np.float32) / 65535
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise InputError(f"The {what} has pixel type {a.dtype}; expected 8-bit or float pixels.")
    a = a.astype(np.float32)
    if a.size and not np.isfinite(a).all():
        raise InputError(f"The {what} contains NaN or infinite pixels.")
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if lo < 0 or hi > 255:
        raise InputError(f"The {what}'s pixels range over [{lo:g}, {hi:g}]; expected [0, 1] or [0, 255].")
    return a / 255 if hi > 1 else a


def _check_shape(a: np.ndarray, what: str) -> None:
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 2, 3, 4)):
        raise InputError(f"The {what} has shape {a.shape}; expected a grey HxW or an HxWx3/4 colour image.")
    _check_size(a.shape[1], a.shape[0], what)


def _check_size(w: int, h: int, what: str) -> None:
    if not (MIN_SIDE <= h <= MAX_SIDE and MIN_SIDE <= w <= MAX_SIDE):
        raise InputError(f"The {what} is {w}x{h} px; drawings must be {MIN_SIDE} to {MAX_SIDE} px on each side.")


def image_ink(image, what: str = "image") -> np.ndarray:
    """Ink [H,W] in [0,1] (1 = black stroke) of a picture of dark strokes on a light or transparent
    background: transparent pixels count as white, whatever colour they store."""
    return _ink(_as_array(image, what))


def _ink(a: np.ndarray) -> np.ndarray:
    if a.ndim == 2:
        return 1 - a
    c = a.shape[2]
    grey = a[..., 0] if c <= 2 else a[..., :3] @ LUMA
    alpha = a[..., -1] if c in (2, 4) else 1.0
    return np.clip(1 - (grey * alpha + (1 - alpha)), 0, 1)


def _opaque(a: np.ndarray) -> bool:
    """No transparent pixel: a picture (an upload), not strokes on an empty pad."""
    return a.ndim == 2 or a.shape[2] in (1, 3) or bool(a[..., -1].min() >= 1)


def layer_ink(image, what: str = "layer") -> np.ndarray:
    """Ink of a Sketchpad layer: its alpha (strokes on a transparent layer), else as `image_ink`."""
    a = _as_array(image, what)
    if a.ndim == 3 and a.shape[2] in (2, 4):
        return a[..., -1]
    return _ink(a)


def sketch_ink(value) -> tuple[np.ndarray, bool]:
    """(ink [H,W], picture) of a Sketchpad value {background, layers, composite} or of a bare image.
    `picture`: the image is opaque (an upload), so it may be white on black; strokes on a
    transparent pad (or on Sketchpad layers) are a drawing, never inverted.

    `composite` (strokes flattened on the background) is used when present; through the API it may
    be None, and then the layers' alpha (and any background) is combined instead.
    """
    if value is None:
        raise InputError("No drawing received: draw a digit on the canvas (or pick a test digit).")
    if not isinstance(value, dict):
        a = _as_array(value, "image")
        return _ink(a), _opaque(a)
    unknown = set(value) - {"background", "layers", "composite", "id"}
    if unknown:
        raise InputError(f"Unexpected drawing fields {sorted(unknown)}; expected background, layers, composite.")
    if value.get("composite") is not None:
        a = _as_array(value["composite"], "drawing")
        return _ink(a), _opaque(a)
    layers = value.get("layers") or []
    if not isinstance(layers, (list, tuple)):
        raise InputError("The drawing's `layers` must be a list of images.")
    inks = [layer_ink(layer, f"layer {i + 1}") for i, layer in enumerate(layers) if layer is not None]
    picture = False
    if value.get("background") is not None:
        background = _as_array(value["background"], "background")
        picture = not inks and _opaque(background)   # an upload with nothing drawn over it
        inks.append(_ink(background))
    if not inks:
        raise InputError("The canvas is empty: draw a digit (or pick a test digit).")
    if len({ink.shape for ink in inks}) > 1:
        raise InputError(f"The drawing's layers have different sizes {sorted({i.shape for i in inks})}.")
    return np.maximum.reduce(inks), picture


def polarity(ink: np.ndarray) -> np.ndarray:
    """Light strokes on a dark ground (an MNIST-style upload: only ever called on opaque pictures)
    turned into dark on light.

    Only a solid dark ground counts: nearly all of the border dark. A picture scribbled edge to edge
    has a dark border too, but a mixed one; inverting it would hand the models the gaps between
    the strokes as a "digit", so it is left as is and reported as too much ink. A picture dark
    everywhere is left as is as well (a filled canvas, not an empty one)."""
    border = np.concatenate([ink[0], ink[-1], ink[:, 0], ink[:, -1]])
    solid = float((border > 1 - INK_THRESHOLD).mean()) >= SOLID_GROUND
    if solid and (ink < 1 - INK_THRESHOLD).any():
        return 1 - ink
    return ink


@dataclass
class Prepared:
    x: torch.Tensor                     # [1,1,28,28] in [0,1]: what the models see
    warnings: list[str] = field(default_factory=list)
    region: torch.Tensor | None = None  # [1,1,28,28] painted coverage in [0,1], if a region was given


def mnistify(ink: np.ndarray, region: np.ndarray | None = None) -> Prepared:
    """MNIST's recipe: crop to the ink's bounding box, scale its longer side to 20 px (anti-aliased,
    aspect kept), then place it in 28x28 so its centre of mass sits at the centre."""
    h, w = ink.shape
    drawn = ink > INK_THRESHOLD
    if not drawn.any():
        raise InputError("The canvas is empty: draw a digit (or pick a test digit).")
    fraction = float(drawn.mean())
    if fraction > MAX_INK_FRACTION:
        raise InputError(f"{100 * fraction:.0f}% of the canvas is inked: clear it and draw one digit "
                         "in dark strokes on the white background.")
    rows, cols = np.flatnonzero(drawn.any(1)), np.flatnonzero(drawn.any(0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    bh, bw = bottom - top, right - left
    side = max(bh, bw)
    blob = (side < BLOB_BOX_FRACTION * min(h, w) and side <= 1.5 * min(bh, bw)
            and float(drawn[top:bottom, left:right].mean()) > BLOB_FILL)
    if side < max(3, MIN_BOX_FRACTION * min(h, w)) or blob:
        raise InputError(f"The drawing is only a dot ({bw}x{bh} px on a {w}x{h} canvas): "
                         "draw a whole digit, filling most of the canvas's height.")
    warnings = []
    if top == 0 or left == 0 or bottom == h or right == w:
        warnings.append("The drawing touches the edge of the canvas, so part of it may be cut off.")
    box = torch.from_numpy(np.ascontiguousarray(ink[top:bottom, left:right]))[None, None]
    scale = DIGIT_BOX / max(bh, bw)
    size = (max(1, round(bh * scale)), max(1, round(bw * scale)))
    small = F.interpolate(box, size=size, mode="bilinear", antialias=True, align_corners=False)[0, 0]
    small = small.clamp(0, 1)
    sh, sw = small.shape
    mass = small.sum()
    r = torch.arange(max(sh, sw), dtype=torch.float32)
    com_y = float((small.sum(1) * r[:sh]).sum() / mass)
    com_x = float((small.sum(0) * r[:sw]).sum() / mass)
    # The shift puts the centre of mass on the centre but never pushes the box out of the frame.
    oy = int(np.clip(round(COM_TARGET - com_y), 0, 28 - sh))
    ox = int(np.clip(round(COM_TARGET - com_x), 0, 28 - sw))
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, oy:oy + sh, ox:ox + sw] = small
    if region is None:
        return Prepared(x, warnings)
    # The painted region goes through the same crop, scale and shift as the ink: canvas pixel
    # (r, c) lands at 28x28 position (oy + (r - top) * sy, ox + (c - left) * sx).
    sy, sx = sh / bh, sw / bw
    full = F.interpolate(torch.from_numpy(np.ascontiguousarray(region, dtype=np.float32))[None, None],
                         size=(max(1, round(h * sy)), max(1, round(w * sx))), mode="bilinear",
                         antialias=True, align_corners=False)[0, 0].clamp(0, 1)
    y0, x0 = oy - round(top * sy), ox - round(left * sx)
    cover = torch.zeros(28, 28)
    fy, fx = full.shape
    r0, r1, c0, c1 = max(0, y0), min(28, y0 + fy), max(0, x0), min(28, x0 + fx)
    if r1 > r0 and c1 > c0:
        cover[r0:r1, c0:c1] = full[r0 - y0:r1 - y0, c0 - x0:c1 - x0]
    return Prepared(x, warnings, cover[None, None])


def preprocess(value, region=None) -> Prepared:
    """A drawing (canvas data URL, Sketchpad value or image) -> the MNIST-like [1,1,28,28] input,
    with any warnings. `region`: an image of the same size whose ink (or alpha) marks pixels to
    erase; it comes back as `Prepared.region`, coverage per 28x28 pixel."""
    ink, picture = sketch_ink(value)
    if picture:
        ink = polarity(ink)
    painted = None
    if region is not None:
        painted = layer_ink(region, "painted region")
        if painted.shape != ink.shape:
            raise InputError(f"The painted region is {painted.shape[1]}x{painted.shape[0]} px but the drawing "
                             f"is {ink.shape[1]}x{ink.shape[0]} px.")
    return mnistify(ink, painted)


