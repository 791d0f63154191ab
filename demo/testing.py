"""Helpers shared by the demo's tests and benchmarks: synthetic drawings like the Sketchpad sends,
mouse strokes on the pad, and starting the app in a subprocess on a free loopback port."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
SEVEN = [[(-0.5, -0.6), (0.5, -0.6), (-0.15, 0.7)], [(-0.3, 0.05), (0.3, 0.05)]]  # pad-relative strokes

# Polylines in a unit square (x right, y down), roughly MNIST-shaped.
STROKES = {
    "seven": [[(0.25, 0.2), (0.75, 0.2), (0.42, 0.85)]],
    "one": [[(0.55, 0.15), (0.45, 0.85)]],
    "zero": [[(0.5 + 0.22 * np.cos(t), 0.5 + 0.32 * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 40)]],
    "four": [[(0.6, 0.85), (0.6, 0.15), (0.25, 0.6), (0.75, 0.6)]],
}


def drawing(kind: str = "seven", size: int = 400, width: int = 28, offset=(0.0, 0.0), scale: float = 1.0,
            background: str = "transparent") -> np.ndarray:
    """A canvas as the Sketchpad's composite/layer: black strokes, uint8 RGBA [size, size, 4] on a
    transparent (or "white") ground. `offset`/`scale` move and resize the digit on the canvas."""
    from PIL import Image, ImageDraw

    ground = (255, 255, 255, 255) if background == "white" else (0, 0, 0, 0)
    img = Image.new("RGBA", (size, size), ground)
    draw = ImageDraw.Draw(img)
    for line in STROKES[kind]:
        pts = [(size * (0.5 + scale * (x - 0.5) + offset[0]), size * (0.5 + scale * (y - 0.5) + offset[1]))
               for x, y in line]
        draw.line(pts, fill=(0, 0, 0, 255), width=width, joint="curve")
        for x, y in (pts[0], pts[-1]):  # round caps, like a brush
            r = width / 2
            draw.ellipse((x - r, y - r, x + r, y + r), fill=(0, 0, 0, 255))
    return np.asarray(img).copy()


def draw_seven(page, selector: str = "#pad canvas.region", last: bool = False, strokes=SEVEN,
               size: float = 0.4) -> None:
    """Drag the mouse over the element `selector` (a Playwright page) to draw a 7 in its middle."""
    loc = page.locator(selector)
    box = (loc.last if last else loc.first).bounding_box()
    cx, cy, s = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, size * min(box["width"], box["height"])
    for line in strokes:
        page.mouse.move(cx + s * line[0][0], cy + s * line[0][1])
        page.mouse.down()
        for u, v in line[1:]:
            page.mouse.move(cx + s * u, cy + s * v, steps=4)
        page.mouse.up()


def drag(page, strokes, selector: str = "#pad canvas.region", steps: int = 4) -> None:
    """Drag the mouse along each polyline of `strokes`, given in [0, 1] coordinates of the element
    `selector` (x right, y down), one press per polyline: what a user's strokes do."""
    box = page.locator(selector).first.bounding_box()
    for line in strokes:
        page.mouse.move(box["x"] + box["width"] * line[0][0], box["y"] + box["height"] * line[0][1])
        page.mouse.down()
        for u, v in line[1:]:
            page.mouse.move(box["x"] + box["width"] * u, box["y"] + box["height"] * v, steps=steps)
        page.mouse.up()


# The ink on the pad (sum of the ink canvas's alpha, in pixels) and its transparent share.
INK_ON_PAD = """(() => { const c = document.querySelector('#pad canvas.ink');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let ink = 0, clear = 0;
  for (let i = 3; i < d.length; i += 4) { ink += d[i] / 255; clear += d[i] === 0; }
  return [ink, clear / (d.length / 4)]; })()"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppProcess:
    """`python -m demo.app` on 127.0.0.1:`port` (a free one by default), started at once; `url()`
    waits until it serves. Starting early lets the app boot while other work goes on."""

    def __init__(self, port: int | None = None, env: dict | None = None):
        self.port = port or free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "demo.app", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, **(env or {})})
        self.lines: list[str] = []
        self._url: str | None = None
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):  # keep draining the pipe so a chatty app never blocks on a full buffer
        for line in self.proc.stdout:
            self.lines.append(line)
            if "demo running on" in line and self._url is None:
                self._url = line.strip().split()[-1]

    def url(self, timeout: float = 180) -> str:
        deadline = time.monotonic() + timeout
        while self._url is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the demo did not start (exit code {self.proc.poll()}):\n"
                                   + "".join(self.lines[-40:]))
            time.sleep(0.2)
        return self._url

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@contextlib.contextmanager
def running_app(port: int | None = None, timeout: float = 180, env: dict | None = None):
    """Start the app, yield its URL once it serves, stop it."""
    app = AppProcess(port, env)
    try:
        yield app.url(timeout)
    finally:
        app.stop()
