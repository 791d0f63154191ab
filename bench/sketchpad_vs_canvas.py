"""Why the demo's pad is hand-built: Gradio's own `gr.Sketchpad` against the project's plain canvas
(demo/pad.js), side by side in headless Chromium, each in a tiny Gradio app whose function only
sleeps (100 ms by default), so the difference is what the pad itself costs.

    python -m bench.sketchpad_vs_canvas [--runs 20] [--warmup 3] [--pause 1] [--work-ms 100]

Three apps, served from this process on free loopback ports: the Sketchpad with Gradio's defaults,
the Sketchpad with a 280-px canvas (the pad's size), and the project's pad. For each it prints
  - whether the first stroke after the page loads draws (no tool chosen first);
  - click -> result shown, p50 / p95 (ms), timed in the page as bench.demo_click does, and the
    ratio to the plain canvas within this run;
  - the uploads per call (requests to Gradio's upload route): between the click and the result,
    and after it (the next click waits until no upload has started for 0.5 s, then `--pause` s).
"""
from __future__ import annotations

import argparse
import base64
import io
import os
import sys
import time

import numpy as np

from demo.testing import CHROMIUM, CHROMIUM_ARGS, draw_seven, free_port

# Every resource the page fetches (fetch and XHR alike), with its start time on the page's clock.
RESOURCES = "performance.setResourceTimingBufferSize(100000);"
CLICK = """async ([selector]) => {
  const out = document.querySelector('#out');
  const before = out ? out.innerText : '';
  const t0 = performance.now();
  document.querySelector(selector).click();
  const t1 = await new Promise((resolve, reject) => {
    const tick = () => {
      const now = document.querySelector('#out')?.innerText || '';
      if (now !== before && now.startsWith('call')) { resolve(performance.now()); }
      else if (performance.now() > t0 + 60000) { reject('timeout'); }
      else { requestAnimationFrame(tick); }
    };
    requestAnimationFrame(tick);
  });
  return [t0, t1];
}"""
UPLOADS = "performance.getEntriesByType('resource').filter(e => e.name.includes('/upload')).map(e => e.startTime)"


def _result(ink: bool, calls: list) -> str:
    calls.append(1)
    return f"call {len(calls)}: ink {'yes' if ink else 'no'}"


def sketchpad_app(canvas_size, work: float):
    import gradio as gr

    calls: list = []

    def fn(value):
        time.sleep(work)
        layers = [v for v in (value or {}).get("layers") or [] if v is not None]
        return _result(any(np.asarray(v)[..., -1].max() > 0 for v in layers), calls)

    with gr.Blocks() as app:
        pad = gr.Sketchpad(elem_id="pad", **({"canvas_size": canvas_size} if canvas_size else {}))
        go = gr.Button("Go", elem_id="go")
        out = gr.HTML(elem_id="out")
        go.click(fn, pad, out)
    return app, ""


def canvas_app(work: float):
    """The project's pad (demo/page.py's markup, demo/pad.js), its canvas exported at click time."""
    from pathlib import Path

    import gradio as gr
    from PIL import Image

    from demo import page

    calls: list = []

    def fn(drawing):
        time.sleep(work)
        ink = bool(drawing) and np.asarray(Image.open(io.BytesIO(base64.b64decode(drawing.split(",", 1)[1]))).convert("RGBA"))[..., 3].max() > 0
        return _result(ink, calls)

    with gr.Blocks() as app:
        gr.HTML(page.pad_html([[255] * 784] * 10), js_on_load=(Path(page.__file__).parent / "pad.js").read_text(),
                elem_id="pad")
        drawing = gr.Textbox("", visible=False)
        go = gr.Button("Go", elem_id="go")
        out = gr.HTML(elem_id="out")
        go.click(fn, drawing, out, js="(d) => window.aelabPad ? window.aelabPad.export().drawing : d")
    return app, page.CSS


def settle(page, quiet: float = 0.5, limit: float = 20.0) -> None:
    """Wait until no upload has started for `quiet` seconds (at most `limit`), so each call's
    uploads are counted in its own window, not the next call's."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        latest = page.evaluate(f"Math.max(-1, ...{UPLOADS})")
        if latest < 0 or page.evaluate("performance.now()") - latest > 1000 * quiet:
            return
        page.wait_for_timeout(100)


def measure(browser, url: str, sketchpad: bool, runs: int, warmup: int, pause: float) -> dict:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.add_init_script(RESOURCES)
    page.goto(url)
    page.wait_for_selector("#pad canvas", timeout=60_000)
    page.wait_for_timeout(1000)
    draw_seven(page, "#pad canvas", last=sketchpad)   # no tool chosen: the first stroke of a visitor
    page.evaluate(CLICK, ["#go"])
    first_draws = "ink yes" in page.inner_text("#out")
    if sketchpad:
        page.click("#pad button[aria-label='Brush']")
        draw_seven(page, "#pad canvas", last=True)
    else:
        draw_seven(page, "#pad canvas.region")
    windows = []
    for _ in range(warmup + runs):
        settle(page)
        page.wait_for_timeout(1000 * pause)
        windows.append(page.evaluate(CLICK, ["#go"]))
    settle(page)
    drawn = "ink yes" in page.inner_text("#out")
    uploads = np.array(page.evaluate(UPLOADS))
    page.close()
    if not drawn:
        raise RuntimeError(f"{url}: the drawing made with the brush did not reach the app")
    windows = windows[warmup:]
    before = [int(((uploads >= t0) & (uploads <= t1)).sum()) for t0, t1 in windows]
    after = [int(((uploads > t1) & (uploads < (windows[i + 1][0] if i + 1 < len(windows) else np.inf))).sum())
             for i, (t0, t1) in enumerate(windows)]
    return {"first stroke draws": first_draws, "ms": np.array([t1 - t0 for t0, t1 in windows]),
            "uploads before": np.array(before), "uploads after": np.array(after)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between clicks")
    parser.add_argument("--work-ms", type=float, default=100.0, help="what the app function sleeps")
    args = parser.parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from playwright.sync_api import sync_playwright

    work = args.work_ms / 1000
    apps = {"gr.Sketchpad, Gradio's defaults": (*sketchpad_app(None, work), True),
            "gr.Sketchpad, 280-px canvas": (*sketchpad_app((280, 280), work), True),
            "plain canvas (demo/pad.js)": (*canvas_app(work), False)}
    load0 = os.getloadavg()[0]
    results = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for name, (app, css, sketchpad) in apps.items():
                app.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True,
                           quiet=True, css=css or None, ssr_mode=False)
                try:
                    results[name] = measure(browser, app.local_url, sketchpad, args.runs, args.warmup, args.pause)
                finally:
                    app.close()
        finally:
            browser.close()
    import gradio

    base = np.median(results["plain canvas (demo/pad.js)"]["ms"])
    print(f"click -> result, headless Chromium, Gradio {gradio.__version__}, an app function of "
          f"{args.work_ms:g} ms, {args.runs} clicks {args.pause:g} s apart after {args.warmup} warm-up "
          f"(load average {load0:.1f} before, {os.getloadavg()[0]:.1f} after)")
    print(f"{'':34s} {'first stroke':>12s} {'p50 ms':>7s} {'p95 ms':>7s} {'p50 ratio':>9s} "
          f"{'uploads before / after a call (median, max)':>44s}")
    for name, r in results.items():
        b, a = r["uploads before"], r["uploads after"]
        print(f"{name:34s} {'draws' if r['first stroke draws'] else 'no ink':>12s} "
              f"{np.percentile(r['ms'], 50):7.0f} {np.percentile(r['ms'], 95):7.0f} "
              f"{np.percentile(r['ms'], 50) / base:8.2f}x "
              f"{f'{np.median(b):g} ({b.max()}) / {np.median(a):g} ({a.max()})':>44s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
