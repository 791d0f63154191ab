"""The demo's 2-D latent map: the test set's scatter (A2/A7) with its legend, rendered ONCE with
matplotlib and sent to the browser once (`background_url`); per request only an SVG overlay in the
same pixel coordinates marks the drawing, its noisy version, the three outputs and MAP's path
(`overlay`): a few hundred bytes instead of re-sending an 80 kB image, which Gradio's HTML output
took about 0.4 s per result to take in on this machine (timed with bench.demo_click's machinery).

MAP searches a 16-D latent space; its path is shown on the 2-D map by decoding each step's z with
the 16-D decoder and encoding the decoded image with the 2-D model.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from core.analysis import encode, latent_bounds
from core.cache import cached
from core.models import checkpoints

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
        self._base: np.ndarray | None = None
        self._render_background()

    @classmethod
    def load(cls, directory=None, path_decoder=None, names=MAP_MODELS) -> "LatentMap":
        from core.data import load_mnist

        for name in names:
            if checkpoints.path(name, directory).exists():
                break
        else:
            raise checkpoints.CheckpointError(f"none of {', '.join(names)} is trained; "
                                              f"run `python -m core.training {names[-1]}`")
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

    @property
    def base(self) -> np.ndarray:
        """The background with its legend (text rendering is the slow part: drawn once)."""
        if self._base is None:
            img = Image.fromarray(self.background)
            self._legend(ImageDraw.Draw(img), with_path=True)
            self._base = np.asarray(img)
        return self._base

    def background_url(self) -> str:
        """`base` as a JPEG data URL: what the page loads once."""
        import base64
        import io

        buf = io.BytesIO()
        Image.fromarray(self.base).save(buf, format="JPEG", quality=85)
        return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()

    def overlay(self, points: dict, path: np.ndarray | None) -> str:
        """An SVG over `base` (same pixel coordinates, scales with it) of `positions`' output: MAP's
        path, then the markers."""
        height, width = self.base.shape[:2]
        parts = []
        if path is not None and len(path) > 1:
            px = self.pixel(path)
            rgb = _css(PATH_RGB)
            parts.append(f'<polyline points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in px)}" fill="none" '
                         f'stroke="{rgb}" stroke-width="2" stroke-linejoin="round"/>')
            parts += [_svg_marker(p, "dot", PATH_RGB, 2) for p in px]
            parts.append(_svg_marker(px[0], "ring", PATH_RGB, 5))
        for key in ("noisy", "ae", "vae", "map", "clean"):
            if key in points:
                label, rgb, shape = STYLE[key]
                parts.append(_svg_marker(self.pixel(points[key][None])[0], shape, rgb, 7 if key == "clean" else 5,
                                         key))
        return (f'<svg class="latent-overlay" viewBox="0 0 {width} {height}" role="img" '
                f'aria-label="positions on the 2-D latent map">{"".join(parts)}</svg>')

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


def _css(rgb) -> str:
    return "#%02x%02x%02x" % tuple(rgb)


def _svg_marker(p, shape: str, rgb, r: float, key: str | None = None) -> str:
    """The SVG twin of `_marker` (the legend's markers are drawn with PIL, the overlay's with SVG)."""
    x, y = float(p[0]), float(p[1])
    fill, edge = _css(rgb), 'stroke="#fff" stroke-width="1"'
    data = f' data-key="{key}" data-x="{x:.1f}" data-y="{y:.1f}"' if key else ""
    if shape == "dot":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{fill}"/>'
    if shape == "ring":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="none" stroke="{fill}" stroke-width="2"/>'
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{fill}" {edge}{data}/>'
    if shape == "square":
        return f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r}" height="{2 * r}" fill="{fill}" {edge}{data}/>'
    if shape == "diamond":
        q = r + 1
        return (f'<polygon points="{x:.1f},{y - q:.1f} {x + q:.1f},{y:.1f} {x:.1f},{y + q:.1f} {x - q:.1f},{y:.1f}" '
                f'fill="{fill}" {edge}{data}/>')
    if shape == "cross":
        return (f'<path d="M{x - r:.1f},{y - r:.1f}L{x + r:.1f},{y + r:.1f}M{x - r:.1f},{y + r:.1f}L{x + r:.1f},{y - r:.1f}" '
                f'stroke="{fill}" stroke-width="3"{data}/>')
    if shape == "star":
        angles = np.pi / 2 + np.arange(10) * np.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, r * 1.5, r * 0.6)
        pts = " ".join(f"{x + q * np.cos(a):.1f},{y - q * np.sin(a):.1f}" for a, q in zip(angles, radii))
        return f'<polygon points="{pts}" fill="{fill}" {edge}{data}/>'
    raise ValueError(f"unknown marker shape {shape!r}")
