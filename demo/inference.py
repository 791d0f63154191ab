"""What the demo computes, without any UI: a sketch -> the 28x28 the models see -> noise -> the three
denoisers (PSNR against the clean input, latency) -> the drawing's place on the 2-D latent map.

Every problem with the user's input raises `InputError` (a ValueError) whose message is written to be
shown as is; the app turns it into gr.Error. Nothing here imports Gradio.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from core import metrics
from core.data import DEFAULT_NOISE_LEVEL, DIGIT_BOX, add_noise, erased_block, salt_and_pepper
from core.denoise import METHODS, Denoisers

from . import references
from .latent_map import LatentMap
from .references import REFERENCE_NOISES


class InputError(ValueError):
    """Bad user input; the message says what is wrong and how to fix it."""


# --- sketch -> the 28x28 the models see --------------------------------------------------------

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
    except (UnidentifiedImageError, Image.DecompressionBombError, SyntaxError):
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
    a = _as_array(image, what)
    if a.ndim == 2:
        return 1 - a
    c = a.shape[2]
    grey = a[..., 0] if c <= 2 else a[..., :3] @ LUMA
    alpha = a[..., -1] if c in (2, 4) else 1.0
    return np.clip(1 - (grey * alpha + (1 - alpha)), 0, 1)


def layer_ink(image, what: str = "layer") -> np.ndarray:
    """Ink of a Sketchpad layer: its alpha (strokes on a transparent layer), else as `image_ink`."""
    a = _as_array(image, what)
    if a.ndim == 3 and a.shape[2] in (2, 4):
        return a[..., -1]
    return image_ink(a, what)


def sketch_ink(value) -> np.ndarray:
    """Ink [H,W] of a Sketchpad value {background, layers, composite} or of a bare image.

    `composite` (strokes flattened on the background) is used when present; through the API it may
    be None, and then the layers' alpha (and any background) is combined instead.
    """
    if value is None:
        raise InputError("No drawing received: draw a digit on the canvas (or pick a test digit).")
    if not isinstance(value, dict):
        return image_ink(value, "image")
    unknown = set(value) - {"background", "layers", "composite", "id"}
    if unknown:
        raise InputError(f"Unexpected drawing fields {sorted(unknown)}; expected background, layers, composite.")
    if value.get("composite") is not None:
        return image_ink(value["composite"], "drawing")
    layers = value.get("layers") or []
    if not isinstance(layers, (list, tuple)):
        raise InputError("The drawing's `layers` must be a list of images.")
    inks = [layer_ink(layer, f"layer {i + 1}") for i, layer in enumerate(layers) if layer is not None]
    if value.get("background") is not None:
        inks.append(image_ink(value["background"], "background"))
    if not inks:
        raise InputError("The canvas is empty: draw a digit (or pick a test digit).")
    if len({ink.shape for ink in inks}) > 1:
        raise InputError(f"The drawing's layers have different sizes {sorted({i.shape for i in inks})}.")
    return np.maximum.reduce(inks)


def polarity(ink: np.ndarray) -> np.ndarray:
    """Light strokes on a dark ground (an MNIST-style upload) turned into dark on light.

    Only a solid dark ground counts: nearly all of the border dark. A canvas scribbled edge to edge
    has a dark border too, but a mixed one; inverting it would hand the models the gaps between
    the strokes as a "digit", so it is left as is and reported as too much ink. A canvas dark
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
    ink = polarity(sketch_ink(value))
    painted = None
    if region is not None:
        painted = layer_ink(region, "painted region")
        if painted.shape != ink.shape:
            raise InputError(f"The painted region is {painted.shape[1]}x{painted.shape[0]} px but the drawing "
                             f"is {ink.shape[1]}x{ink.shape[0]} px.")
    return mnistify(ink, painted)


# --- noise ---------------------------------------------------------------------------------------

NOISE_TYPES = {"Gaussian": "gaussian", "Salt and pepper": "salt_pepper", "Erased block": "block",
               "Painted region": "region"}
MAX_SEED = 2**31 - 1
MIN_KEPT_INK = 0.05   # below this share of the digit's ink left visible, nothing can be recovered
IMPOSSIBLE = ("the whole digit is gone, so no denoiser can tell which digit it was: the task is "
              "impossible. {fix}")


def _number(value, name: str, lo: float, hi: float, integer: bool = False) -> float:
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
    level = _number(level, "Noise level", 0, 1)
    seed = _number(seed, "Seed", 0, MAX_SEED, integer=True)
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


# --- the denoisers, timed, and what the judge reads in each output ------------------------------

# Why the assignment's AE and VAE bottleneck fail on noise, shown under their outputs.
NOTES = {"ae": "Trained on clean digits only: noise pushes its 2-D code off the digits it knows.",
         "vae": "Trained on clean digits only: it encodes the noise too, so its mean lands between digits."}
MAX_ALTERNATIVES = 3   # MAP's answer and at most two restarts that read as other digits


@dataclass
class MethodResult:
    x_hat: torch.Tensor   # [1,1,28,28]
    psnr: float           # dB against the clean input
    ms: float             # wall time of the denoiser call
    reading: tuple[int, float] | None = None   # the judge's (digit, confidence) for x_hat
    what: str = ""        # for a reference: which filter / net it was


@dataclass
class Comparison:
    clean: torch.Tensor                  # [1,1,28,28]
    noisy: torch.Tensor                  # [1,1,28,28]
    mask: torch.Tensor | None
    noisy_psnr: float
    results: dict[str, MethodResult]     # method -> result: the three denoisers, then references
    loss_history: np.ndarray | None      # MAP objective per step [steps+1]
    z_path: torch.Tensor | None          # MAP latent path [steps+1, d]
    warnings: list[str]
    settings: dict
    clean_reading: tuple[int, float] | None = None
    alternatives: list[MethodResult] = field(default_factory=list)  # other MAP restarts, other digits

    def differs(self, key: str) -> bool:
        """Does the judge read output `key` as another digit than the clean drawing?"""
        r = self.results[key].reading
        return bool(r and self.clean_reading and r[0] != self.clean_reading[0])

    def numbers(self) -> dict:
        """Plain numbers for the API / JSON output."""
        def reading(r):
            return None if r is None else {"digit": r[0], "confidence": round(r[1], 3)}

        out = {"noisy_psnr": round(self.noisy_psnr, 3), "clean_reading": reading(self.clean_reading)}
        for m, r in self.results.items():
            out[m] = {"psnr": round(r.psnr, 3), "ms": round(r.ms, 2), "reading": reading(r.reading),
                      "differs": self.differs(m)}
        out["map_alternatives"] = [{"psnr": round(a.psnr, 3), "reading": reading(a.reading)} for a in self.alternatives]
        out["total_ms"] = round(sum(self.results[m].ms for m in ("ae", "vae", "map") if m in self.results), 2)
        return {**out, **self.settings}


def _psnr(estimate: torch.Tensor, clean: torch.Tensor) -> float:
    # Capped so an exact copy prints as a number, not 120 dB from the epsilon.
    return min(float(metrics.psnr(estimate, clean)[0]), 99.0)


def impulse_mask(noisy: torch.Tensor) -> torch.Tensor:
    """Salt-and-pepper's robust likelihood: a pixel at exactly 0 or 1 that its 3x3 median disagrees
    with by more than half the range is an impulse, and is treated as missing (mask 0); MAP then
    fits only the pixels the noise left alone instead of bending the digit towards the impulses."""
    med = F.pad(noisy, (1, 1, 1, 1)).unfold(2, 3, 1).unfold(3, 3, 1).flatten(-2).median(-1).values
    extreme = (noisy == 0) | (noisy == 1)
    return (~(extreme & ((noisy - med).abs() > 0.5))).to(noisy.dtype)


class Engine:
    """The loaded models plus everything the demo needs per request. Loaded once, shared by requests.
    MAP's settings are the denoiser's single-image policy (`denoisers.defaults`)."""

    def __init__(self, denoisers, latent_map=None, *, max_beta=None, max_steps=None, judge=None,
                 references=None):
        self.denoisers = denoisers
        self.latent_map = latent_map
        self.methods = METHODS
        self.defaults = denoisers.defaults
        policy = self.defaults.settings(single_image=True)
        self.default_beta, self.default_steps, self.default_restarts = policy.beta, policy.steps, policy.restarts
        self.judge = judge              # core.judge's model (.read(images) -> labels, confidences), or None
        self.references = references or {}   # name -> fn(noisy, kind, level) -> (x_hat, what)
        # Generous ranges around the defaults; beyond them the sliders would only burn CPU.
        self.max_beta = max_beta if max_beta is not None else self.default_beta * 100
        self.max_steps = max_steps if max_steps is not None else max(200, 4 * self.default_steps)

    @classmethod
    def load(cls, directory=None, with_map: bool = True) -> "Engine":
        denoisers = Denoisers.load(directory)
        latent_map = LatentMap.load(directory, path_decoder=denoisers.vae.decode) if with_map else None
        return cls(denoisers, latent_map, judge=references.load_judge(directory),
                   references=references.load_references(directory))

    def beta_for(self, noise_type="Gaussian", level=None) -> float:
        """MAP's default beta: for Gaussian noise the one validated per level for the clipping-aware
        objective (the demo's MAP for Gaussian noise), else the overall default."""
        try:
            gaussian = noise_kind(noise_type) == "gaussian"
            level = _number(level, "Noise level", 0, 1) if level is not None else None
        except InputError:
            gaussian = False
        return self.defaults.settings(level if gaussian else None, clip_aware=gaussian,
                                      single_image=True).beta

    def beta_table(self) -> dict[str, float]:
        """beta per Gaussian level on a 0.05 grid (the UI's slider steps), for the browser to show."""
        return {f"{v:.2f}": self.beta_for("Gaussian", v) for v in np.round(np.arange(0, 1.0001, 0.05), 2)}

    def check_map_settings(self, beta, steps, noise_type="Gaussian", level=None) -> tuple[float, int]:
        if beta is None:
            beta = self.beta_for(noise_type, level)
        else:
            beta = _number(beta, "MAP beta", 0, self.max_beta)
        steps = self.default_steps if steps is None else _number(steps, "MAP steps", 1, self.max_steps, integer=True)
        return beta, steps

    def read(self, x: torch.Tensor) -> list[tuple[int, float]] | None:
        """The judge's (digit, confidence) per image."""
        if self.judge is None:
            return None
        with torch.inference_mode():
            digit, conf = self.judge.read(x.float())
        return [(int(d), float(c)) for d, c in zip(digit, conf)]

    def _map(self, noisy, kind, level, mask, beta, steps, seed):
        """MAP with the likelihood that fits the noise: clipping-aware for Gaussian, impulses as
        missing pixels for salt and pepper, the erasure's mask for the erasures. Every restart is
        kept (for the alternatives)."""
        from core import denoise

        noise_std = float(level) if kind == "gaussian" and level > 0 else None
        if kind == "salt_pepper":
            mask = impulse_mask(noisy)
        vae = self.denoisers.vae
        with torch.inference_mode():
            init = vae.encode(noisy).float().clone()
        return denoise.map_estimate(vae.decode, noisy, beta=beta, steps=steps, restarts=self.default_restarts,
                                    mask=mask, seed=seed, init=init, noise_std=noise_std, all_restarts=True)

    def _restart_images(self, out) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Every MAP restart's final objective [R] and decoded image [R,1,28,28]."""
        restart_z = getattr(out, "restart_z", None)
        if restart_z is None or self.judge is None:
            return None
        with torch.inference_mode():
            images = self.denoisers.vae.decode(restart_z[-1, :, 0].float()).float().clamp(0, 1)
        return out.restart_losses[-1, :, 0], images

    def _alternatives(self, out, best: MethodResult, clean, restarts=None, readings=None) -> list[MethodResult]:
        """The best restarts (lowest objective) that the judge reads as other digits than MAP's answer.
        `restarts`, `readings`: the restarts' (objectives, images) and the judge's reading of each
        image, if already made."""
        restarts = restarts or self._restart_images(out)
        if restarts is None or best.reading is None:
            return []
        losses, images = restarts
        readings = readings or self.read(images)
        seen, alternatives = {best.reading[0]}, []
        for i in losses.argsort().tolist():
            if readings[i][0] not in seen and len(alternatives) < MAX_ALTERNATIVES - 1:
                seen.add(readings[i][0])
                alternatives.append(MethodResult(images[i:i + 1], _psnr(images[i:i + 1], clean), 0.0, readings[i]))
        return alternatives

    def compare(self, sketch, noise_type="Gaussian", level=DEFAULT_NOISE_LEVEL, seed=0, beta=None, steps=None,
                region=None, with_references: bool = True) -> Comparison:
        """Everything for one drawing: preprocess, corrupt, run the denoisers (timed), read the outputs."""
        kind = noise_kind(noise_type)
        beta, steps = self.check_map_settings(beta, steps, noise_type, level)
        prepared = preprocess(sketch, region if kind == "region" else None)
        clean = prepared.x
        noisy, mask = corrupt(clean, kind, level, seed, prepared.region)
        level = float(level)
        results, loss_history, z_path, map_out = {}, None, None, None
        for method in self.methods:
            start = time.perf_counter()
            if method == "map":  # needs autograd through the decoder
                out = map_out = self._map(noisy, kind, level, mask, beta, steps, int(seed))
            else:
                with torch.inference_mode():
                    out = self.denoisers(method, noisy)
            ms = 1000 * (time.perf_counter() - start)
            x_hat = out.x_hat.detach().float().clamp(0, 1)
            results[method] = MethodResult(x_hat, _psnr(x_hat, clean), ms)
            if out.loss_history is not None:
                loss_history = out.loss_history.detach().float()[:, 0].numpy()
            if out.z_path is not None:
                z_path = out.z_path.detach().float()[:, 0]
        if with_references:
            for name, fn in self.references.items():
                if kind not in REFERENCE_NOISES[name]:
                    continue
                start = time.perf_counter()
                with torch.inference_mode():
                    x_hat, what = fn(noisy, kind, level)
                x_hat = x_hat.float().clamp(0, 1)
                results[name] = MethodResult(x_hat, _psnr(x_hat, clean), 1000 * (time.perf_counter() - start),
                                             what=what)
        # One judge call for everything it reads: the clean input, each output, each MAP restart.
        restarts = self._restart_images(map_out) if map_out is not None else None
        batch = [clean] + [r.x_hat for r in results.values()] + ([restarts[1]] if restarts else [])
        readings = self.read(torch.cat(batch))
        clean_reading, alternatives = None, []
        if readings:
            clean_reading = readings[0]
            for r, reading in zip(results.values(), readings[1:]):
                r.reading = reading
            if restarts is not None:
                alternatives = self._alternatives(map_out, results["map"], clean, restarts,
                                                  readings[1 + len(results):])
        settings = {"noise": kind, "level": level, "seed": int(seed),
                    "beta": float(beta) if beta is not None else None, "steps": steps,
                    "restarts": self.default_restarts,
                    "map_likelihood": {"gaussian": "clipping-aware" if level > 0 else "plain",
                                       "salt_pepper": "robust (impulses as missing pixels)"}.get(kind, "masked")}
        return Comparison(clean, noisy, mask, _psnr(noisy, clean), results, loss_history, z_path,
                          prepared.warnings, settings, clean_reading, alternatives)

    def latent(self, comparison: Comparison) -> tuple[str, dict] | None:
        """Where this drawing, its noisy version, the outputs and MAP's path land on the test set's 2-D
        latent map: (SVG overlay for `latent_map.background_url()`, the positions as plain numbers)."""
        if self.latent_map is None:
            return None
        points, path = self.latent_map.positions(comparison)
        numbers = {"model": self.latent_map.name, **{k: np.round(v, 4).tolist() for k, v in points.items()},
                   "map_path": None if path is None else np.round(path, 4).tolist()}
        return self.latent_map.overlay(points, path), numbers


def to_uint8(x: torch.Tensor, factor: int = 1) -> np.ndarray:
    """[1,1,28,28] in [0,1] -> uint8 [28f, 28f] white on black, each pixel a f x f block."""
    img = (x.detach().float()[0, 0].clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    return np.kron(img, np.ones((factor, factor), dtype=np.uint8)) if factor > 1 else img
