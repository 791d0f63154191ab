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

from .latent_map import LatentMap


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
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _as_array(image, what: str) -> np.ndarray:
    """An image (numpy array, PIL image or file path) as a float32 array in [0, 1], [H,W] or [H,W,C]."""
    if isinstance(image, (str, Path)):
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(image) as im:
                _check_size(*im.size, what)  # before decoding: a huge image would cost gigabytes
                image = im.convert("RGBA") if im.mode not in ("L", "LA", "RGB", "RGBA") else im.copy()
        except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
            raise InputError(f"The {what} could not be read as an image ({type(exc).__name__}).") from exc
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
    """Light strokes on a dark ground (an MNIST-style upload) turned into dark on light: decided by
    the border, which is background in any drawing. A canvas that is dark everywhere is left as is
    (it is a filled canvas, reported as such, not an empty one)."""
    border = np.concatenate([ink[0], ink[-1], ink[:, 0], ink[:, -1]])
    if np.median(border) > 0.5 and (ink < 1 - INK_THRESHOLD).any():
        return 1 - ink
    return ink


@dataclass
class Prepared:
    x: torch.Tensor                     # [1,1,28,28] in [0,1]: what the models see
    warnings: list[str] = field(default_factory=list)


def mnistify(ink: np.ndarray) -> Prepared:
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
    return Prepared(x, warnings)


def preprocess(value) -> Prepared:
    """A Sketchpad value (or an image) -> the MNIST-like [1,1,28,28] input, with any warnings."""
    return mnistify(polarity(sketch_ink(value)))


# --- noise ---------------------------------------------------------------------------------------

NOISE_TYPES = {"Gaussian": "gaussian", "Salt and pepper": "salt_pepper", "Erased block": "block"}
MAX_SEED = 2**31 - 1


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


def corrupt(x: torch.Tensor, kind: str, level, seed) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(noisy [N,1,28,28], mask or None). Level in [0, 1] means: the Gaussian's std (clipped to
    [0, 1], as in the report); the fraction of pixels set to black or white; the erased block's side
    as a fraction of the 20-px digit box. Only the erased block returns a mask (1 = observed), which
    MAP uses for inpainting. The same seed gives the same noise."""
    kind = noise_kind(kind)
    level = _number(level, "Noise level", 0, 1)
    seed = _number(seed, "Seed", 0, MAX_SEED, integer=True)
    if kind == "gaussian":
        return add_noise(x, level, seed), None
    if kind == "salt_pepper":
        return salt_and_pepper(x, level, seed), None
    return erased_block(x, level, seed)


# --- the three denoisers, timed --------------------------------------------------------------------

@dataclass
class MethodResult:
    x_hat: torch.Tensor   # [1,1,28,28]
    psnr: float           # dB against the clean input
    ms: float             # wall time of the denoiser call


@dataclass
class Comparison:
    clean: torch.Tensor                  # [1,1,28,28]
    noisy: torch.Tensor                  # [1,1,28,28]
    mask: torch.Tensor | None
    noisy_psnr: float
    results: dict[str, MethodResult]     # method -> result, in METHODS order
    loss_history: np.ndarray | None      # MAP objective per step [steps+1]
    z_path: torch.Tensor | None          # MAP latent path [steps+1, d]
    warnings: list[str]
    settings: dict

    def numbers(self) -> dict:
        """Plain numbers for the API / JSON output."""
        return {"noisy_psnr": round(self.noisy_psnr, 3),
                **{m: {"psnr": round(r.psnr, 3), "ms": round(r.ms, 2)} for m, r in self.results.items()},
                "total_ms": round(sum(r.ms for r in self.results.values()), 2), **self.settings}


def _psnr(estimate: torch.Tensor, clean: torch.Tensor) -> float:
    # Capped so an exact copy prints as a number, not 120 dB from the epsilon.
    return min(float(metrics.psnr(estimate, clean)[0]), 99.0)


class Engine:
    """The loaded models plus everything the demo needs per request. Loaded once, shared by requests.
    MAP's settings are the denoiser's single-image policy (`denoisers.defaults`)."""

    def __init__(self, denoisers, latent_map=None, *, max_beta=None, max_steps=None):
        self.denoisers = denoisers
        self.latent_map = latent_map
        self.methods = METHODS
        self.defaults = denoisers.defaults
        policy = self.defaults.settings(single_image=True)
        self.default_beta, self.default_steps, self.default_restarts = policy.beta, policy.steps, policy.restarts
        # Generous ranges around the defaults; beyond them the sliders would only burn CPU.
        self.max_beta = max_beta if max_beta is not None else self.default_beta * 100
        self.max_steps = max_steps if max_steps is not None else max(200, 4 * self.default_steps)

    @classmethod
    def load(cls, directory=None, with_map: bool = True) -> "Engine":
        denoisers = Denoisers.load(directory)
        latent_map = LatentMap.load(directory, path_decoder=denoisers.vae.decode) if with_map else None
        return cls(denoisers, latent_map)

    def beta_for(self, noise_type="Gaussian", level=None) -> float:
        """MAP's default beta: validated per level for Gaussian noise, else the overall default."""
        try:
            gaussian = noise_kind(noise_type) == "gaussian"
            level = _number(level, "Noise level", 0, 1) if level is not None else None
        except InputError:
            gaussian = False
        return self.defaults.settings(level if gaussian else None, single_image=True).beta

    def check_map_settings(self, beta, steps, noise_type="Gaussian", level=None) -> tuple[float, int]:
        if beta is None:
            beta = self.beta_for(noise_type, level)
        else:
            beta = _number(beta, "MAP beta", 0, self.max_beta)
        steps = self.default_steps if steps is None else _number(steps, "MAP steps", 1, self.max_steps, integer=True)
        return beta, steps

    def compare(self, sketch, noise_type="Gaussian", level=DEFAULT_NOISE_LEVEL, seed=0, beta=None,
                steps=None) -> Comparison:
        """Everything for one drawing: preprocess, corrupt, run the three denoisers (timed)."""
        beta, steps = self.check_map_settings(beta, steps, noise_type, level)
        prepared = preprocess(sketch)
        clean = prepared.x
        noisy, mask = corrupt(clean, noise_type, level, seed)
        results, loss_history, z_path = {}, None, None
        for method in self.methods:
            kwargs = dict(mask=mask, beta=beta, steps=steps, restarts=self.default_restarts,
                          seed=int(seed)) if method == "map" else {}
            start = time.perf_counter()
            if method == "map":  # needs autograd through the decoder
                out = self.denoisers(method, noisy, **kwargs)
            else:
                with torch.inference_mode():
                    out = self.denoisers(method, noisy, **kwargs)
            ms = 1000 * (time.perf_counter() - start)
            x_hat = out.x_hat.detach().float().clamp(0, 1)
            results[method] = MethodResult(x_hat, _psnr(x_hat, clean), ms)
            if out.loss_history is not None:
                loss_history = out.loss_history.detach().float()[:, 0].numpy()
            if out.z_path is not None:
                z_path = out.z_path.detach().float()[:, 0]
        settings = {"noise": noise_kind(noise_type), "level": float(level), "seed": int(seed),
                    "beta": float(beta) if beta is not None else None, "steps": steps,
                    "restarts": self.default_restarts}
        return Comparison(clean, noisy, mask, _psnr(noisy, clean), results, loss_history, z_path,
                          prepared.warnings, settings)

    def latent_image(self, comparison: Comparison) -> np.ndarray | None:
        """The test set's 2-D latent map with this drawing, its noisy version, the outputs and MAP's path."""
        return None if self.latent_map is None else self.latent_map.render(comparison)


def to_uint8(x: torch.Tensor, factor: int = 1) -> np.ndarray:
    """[1,1,28,28] in [0,1] -> uint8 [28f, 28f] white on black, each pixel a f x f block."""
    img = (x.detach().float()[0, 0].clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    return np.kron(img, np.ones((factor, factor), dtype=np.uint8)) if factor > 1 else img
