"""The demo's 2-D latent map: the test set's scatter (A2/A7), rendered ONCE with matplotlib, then
per request the drawing, its noisy version, the three outputs and MAP's path are drawn over a copy
with PIL (about a millisecond instead of ~100 ms for re-plotting 10,000 points).

MAP searches a 16-D latent space; its path is shown on the 2-D map by decoding each step's z with
the 16-D decoder and encoding the decoded image with the 2-D model.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from core import checkpoints
from core.analysis import encode, latent_bounds
from core.cache import cached

MAP_MODELS = ("vae2", "spec_ae")   # the A7 VAE's means if shipped, else the A1 AE's codes
MAX_PATH_POINTS = 40
STYLE = {  # key: (label, RGB, marker)
    "clean": ("your digit", (0, 0, 0), "star"),
    "noisy": ("noisy", (120, 120, 120), "cross"),
    "ae": ("AE", (214, 39, 40), "circle"),
    "vae": ("VAE", (31, 119, 180), "diamond"),
    "map": ("MAP", (44, 160, 44), "square"),
}
PATH_RGB = (255, 127, 14)


class LatentMap:
    def __init__(self, model, name: str, z: torch.Tensor, labels: torch.Tensor, path_decoder=None):
        self.model, self.name, self.path_decoder = model, name, path_decoder
        self.z, self.labels = z, labels
        self._bases: dict[bool, Image.Image] = {}
        self._render_background()

    @classmethod
    def load(cls, directory=None, path_decoder=None, names=MAP_MODELS) -> "LatentMap":
        from core.data import load_mnist

        for name in names:
            if checkpoints.path(name, directory).exists():
                break
        else:
            raise checkpoints.CheckpointError(f"none of {', '.join(names)} is trained; "
                                              f"run `python -m core.train {names[-1]}`")
        model = checkpoints.load(name, directory)

        def codes():
            x, y = load_mnist("test")
            return {"z": encode(model, x), "labels": y}

        # The test set's codes depend only on the weights: cached per checkpoint hash (a hit also
        # spares loading MNIST at start-up; a damaged cache file is recomputed).
        saved = cached(f"demo-latent-{name}", codes, depends_on=[name], checkpoint_dir=directory)
        return cls(model, name, saved["z"], saved["labels"], path_decoder)

    def _render_background(self) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        from core.plots import latent_scatter

        x0, x1, y0, y1 = latent_bounds(self.z, 0.99)
        px, py = 0.06 * (x1 - x0), 0.06 * (y1 - y0)
        self.limits = (x0 - px, x1 + px, y0 - py, y1 + py)
        fig = Figure(figsize=(6.6, 4.6), dpi=100)  # pyplot-free: safe to build in any thread
        FigureCanvasAgg(fig)
        ax = fig.add_axes((0.09, 0.11, 0.63, 0.82))
        latent_scatter(self.z, self.labels, ax=ax, s=1.5, alpha=0.35)
        ax.legend(title="digit (test set)", markerscale=4, ncol=2, loc="upper left",
                  bbox_to_anchor=(1.02, 1.0), fontsize=9, title_fontsize=9)
        ax.set_xlim(self.limits[:2]), ax.set_ylim(self.limits[2:])
        ax.set_title(f"Where your digit lies on the 2-D latent map of the test set ({self.name})", fontsize=10, loc="left")
        fig.canvas.draw()
        self.background = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
        height = self.background.shape[0]
        # Linear axes: data -> pixel is an affine map per axis (display y grows upwards).
        (ax0, ay0), (ax1, ay1) = ax.transData.transform([self.limits[::2], self.limits[1::2]])
        self._sx, self._bx = (ax1 - ax0) / (self.limits[1] - self.limits[0]), ax0 - self.limits[0] * (ax1 - ax0) / (self.limits[1] - self.limits[0])
        sy = (ay1 - ay0) / (self.limits[3] - self.limits[2])
        self._sy, self._by = -sy, height - (ay0 - self.limits[2] * sy)
        self._box = (min(ax0, ax1), height - max(ay0, ay1), max(ax0, ax1), height - min(ay0, ay1))

    def pixel(self, z2: np.ndarray) -> np.ndarray:
        """[K,2] latent points -> [K,2] pixel (column, row), clipped to the axes' box."""
        px = np.stack([z2[:, 0] * self._sx + self._bx, z2[:, 1] * self._sy + self._by], 1)
        l, t, r, b = self._box
        return np.stack([px[:, 0].clip(l, r), px[:, 1].clip(t, b)], 1)

    @torch.inference_mode()
    def project(self, images: torch.Tensor) -> np.ndarray:
        """[N,1,28,28] -> [N,2] positions on this map."""
        return self.model.encode(images.float()).float().numpy()

    @torch.inference_mode()
    def path_images(self, z_path: torch.Tensor) -> torch.Tensor:
        """MAP's latent path [steps+1, d] -> decoded images of at most MAX_PATH_POINTS of its steps."""
        idx = np.unique(np.linspace(0, len(z_path) - 1, min(len(z_path), MAX_PATH_POINTS)).round().astype(int))
        return self.path_decoder(z_path[idx].float()).float().clamp(0, 1)

    def positions(self, comparison) -> tuple[dict, np.ndarray | None]:
        images = {"clean": comparison.clean, "noisy": comparison.noisy,
                  **{m: r.x_hat for m, r in comparison.results.items() if m in STYLE}}
        batch = [v for v in images.values()]
        n_path = 0
        if comparison.z_path is not None and self.path_decoder is not None:
            path = self.path_images(comparison.z_path)
            batch.append(path)
            n_path = len(path)
        z = self.project(torch.cat(batch))
        points = {k: z[i] for i, k in enumerate(images)}
        return points, (z[len(images):] if n_path else None)

    def _base(self, with_path: bool) -> Image.Image:
        """The background with its legend, drawn once per kind (text rendering is most of a request's
        drawing time)."""
        if with_path not in self._bases:
            img = Image.fromarray(self.background)
            self._legend(ImageDraw.Draw(img), with_path)
            self._bases[with_path] = img
        return self._bases[with_path].copy()

    def render(self, comparison) -> np.ndarray:
        points, path = self.positions(comparison)
        img = self._base(path is not None)
        draw = ImageDraw.Draw(img)
        if path is not None and len(path) > 1:
            px = self.pixel(path)
            draw.line([tuple(p) for p in px], fill=PATH_RGB, width=2, joint="curve")
            for p in px:
                _marker(draw, p, "dot", PATH_RGB, 2)
            _marker(draw, px[0], "ring", PATH_RGB, 5)
        for key in ("noisy", "ae", "vae", "map", "clean"):
            if key in points:
                label, rgb, shape = STYLE[key]
                _marker(draw, self.pixel(points[key][None])[0], shape, rgb, 7 if key == "clean" else 5)
        return np.asarray(img)

    def _legend(self, draw: ImageDraw.ImageDraw, with_path: bool) -> None:
        font = ImageFont.load_default(size=11)
        entries = [(STYLE[k][0], STYLE[k][1], STYLE[k][2]) for k in STYLE]
        if with_path:
            entries.append(("MAP path (start: ring)", PATH_RGB, "line"))
        l, t = self._box[2] + 14, self.background.shape[0] * 0.42  # right margin, under the digits
        width = 14 + max(draw.textlength(e[0], font=font) for e in entries) + 8
        draw.rectangle((l, t, l + width, t + 15 * len(entries) + 4), fill=(255, 255, 255), outline=(200, 200, 200))
        for i, (label, rgb, shape) in enumerate(entries):
            y = t + 10 + 15 * i
            if shape == "line":
                draw.line((l + 3, y, l + 15, y), fill=rgb, width=2)
            else:
                _marker(draw, (l + 9, y), shape, rgb, 4)
            draw.text((l + 19, y), label, fill=(0, 0, 0), font=font, anchor="lm")


def _marker(draw: ImageDraw.ImageDraw, p, shape: str, rgb, r: float) -> None:
    x, y = float(p[0]), float(p[1])
    edge = (255, 255, 255)
    if shape == "dot":
        draw.ellipse((x - r, y - r, x + r, y + r), fill=rgb)
    elif shape == "ring":
        draw.ellipse((x - r, y - r, x + r, y + r), outline=rgb, width=2)
    elif shape == "circle":
        draw.ellipse((x - r, y - r, x + r, y + r), fill=rgb, outline=edge)
    elif shape == "square":
        draw.rectangle((x - r, y - r, x + r, y + r), fill=rgb, outline=edge)
    elif shape == "diamond":
        draw.polygon([(x, y - r - 1), (x + r + 1, y), (x, y + r + 1), (x - r - 1, y)], fill=rgb, outline=edge)
    elif shape == "cross":
        draw.line((x - r, y - r, x + r, y + r), fill=rgb, width=3)
        draw.line((x - r, y + r, x + r, y - r), fill=rgb, width=3)
    elif shape == "star":
        angles = np.pi / 2 + np.arange(10) * np.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, r * 1.5, r * 0.6)
        draw.polygon([(x + q * np.cos(a), y - q * np.sin(a)) for a, q in zip(angles, radii)],
                     fill=rgb, outline=edge)
