"""Autoencoder Lab demo: draw a digit, add noise, compare the AE, VAE-bottleneck and MAP denoisers
(beside the best classical filter and a learned denoiser), each output read by a judge classifier.

    python -m demo.app [--host HOST] [--port PORT]        (what `make demo` runs)

Binds 127.0.0.1:7860 unless --host/--port or GRADIO_SERVER_NAME/GRADIO_SERVER_PORT say otherwise,
and prints the URL. The models are loaded once, at start; all the computing is in demo/inputs.py,
noise.py and engine.py.
The drawing pad is a plain canvas (demo/pad.js); results come back as one HTML panel with the images
inline (tiny 28x28 PNGs), so no response shares a file with another, and kept small (the latent map's
image is in the stylesheet, loaded once; a result only marks positions on it).
"""
from __future__ import annotations

import argparse
import base64
import html
import io
import json
import os
import sys
import time
import traceback
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline machine: no phoning home
os.environ.setdefault("MPLBACKEND", "Agg")

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from core.data import DEFAULT_NOISE_LEVEL  # noqa: E402
from demo import engine, inputs, noise  # noqa: E402

# Two cores: two requests at a time, each with one intra-op thread, beats one request on two
# threads for these tiny 28x28 batches (see bench/demo_latency.py).
CONCURRENCY = int(os.environ.get("AELAB_DEMO_CONCURRENCY", "2"))
torch.set_num_threads(int(os.environ.get("AELAB_DEMO_THREADS", "1")))
Image.MAX_IMAGE_PIXELS = inputs.MAX_SIDE ** 2   # refuse decompression bombs in any upload
MAX_UPLOAD = "2mb"                            # Gradio's own uploads (API callers); the pad sends data URLs
# Card labels short enough for one line on a phone; the full name shows on hover.
LABELS = {"clean": "Your digit, 28x28", "noisy": "Noisy input", "ae": "AE (2-D code)", "vae": "VAE (16-D)",
          "map": "MAP (VAE decoder)", "filter": "Best filter", "dncnn": "DnCNN (learned)"}
TITLES = {"clean": "What the models see: your drawing cropped, scaled and centred as MNIST was",
          "noisy": "The noisy input every denoiser gets", "ae": "The A1 autoencoder (2-D ReLU code)",
          "vae": "The 16-D VAE as a bottleneck: decode(encoder mean)",
          "map": "MAP: the latent code whose decoding best explains the noisy input (16-D VAE decoder)",
          "filter": "The classical filter with the best validation PSNR at this noise (scoreboard)",
          "dncnn": "The scoreboard's learned denoising network (DnCNN), trained on Gaussian noise"}
REFERENCE_KEYS = ("filter", "dncnn")
ERASED_RGB = np.array([150, 30, 30], dtype=np.uint8)  # erased pixels, so a black-on-black hole shows


def log(message: str) -> None:
    print(f"demo: {message}", file=sys.stderr, flush=True)


def png_url(img: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def example_pixels() -> list[list[int]]:
    """The examples (first test image of each digit) as 784 grey levels each, black on white."""
    from core.data import examples

    return [(255 - engine.to_uint8(img[None])).ravel().tolist() for img in examples()[0]]


try:
    ENGINE = engine.Engine.load()
    EXAMPLES = example_pixels()
    # One request's work at start (torch and oneDNN set up lazily): the first visitor sees the
    # same latencies as every later one.
    ENGINE.latent(ENGINE.compare(np.array(EXAMPLES[7], dtype=np.uint8).reshape(28, 28)))
    LATENT_URL = ENGINE.latent_map.background_url() if ENGINE.latent_map is not None else None
except Exception as exc:  # e.g. a checkpoint not trained yet: say which and how, not a traceback
    sys.exit(f"The demo cannot start: {type(exc).__name__}: {exc}\n"
             "`make demo` fetches MNIST and trains any missing shipped model first.")


def noisy_view(c: engine.Comparison) -> np.ndarray:
    img = np.repeat(engine.to_uint8(c.noisy)[..., None], 3, axis=2)
    if c.mask is not None:
        img[c.mask[0, 0].numpy() == 0] = ERASED_RGB
    return img


def reading_line(c: engine.Comparison, key: str | None, reading) -> str:
    if reading is None:
        return ""
    digit, conf = reading
    text = f"reads <b>{digit}</b> ({100 * conf:.0f} %)"
    if key is not None and c.differs(key):
        text += f' <span class="differs">≠ your {c.clean_reading[0]}</span>'
    return f'<div class="reading">{text}</div>'


def image_urls(c: engine.Comparison) -> dict[str, str]:
    """Every image of the panel as a PNG data URL, encoded once (the panel and the JSON share them)."""
    return {"clean": png_url(engine.to_uint8(c.clean)), "noisy": png_url(noisy_view(c)),
            **{k: png_url(engine.to_uint8(r.x_hat)) for k, r in c.results.items()}}


def card(key: str, url: str, lines: str) -> str:
    cls = "card ref" if key in REFERENCE_KEYS else "card"
    return (f'<div class="{cls}" id="card-{key}" title="{html.escape(TITLES[key])}">'
            f'<div class="label">{html.escape(LABELS[key])}</div>'
            f'<img src="{url}" alt="{html.escape(LABELS[key])}">{lines}</div>')


def results_html(c: engine.Comparison, urls: dict[str, str], server_ms: float) -> str:
    cards = [card("clean", urls["clean"], '<div class="psnr">the clean reference</div>'
                  + reading_line(c, None, c.clean_reading)),
             card("noisy", urls["noisy"], f'<div class="psnr"><b>PSNR {c.noisy_psnr:.2f} dB</b></div>')]
    for key, r in c.results.items():
        lines = f'<div class="psnr" id="psnr-{key}"><b>PSNR {r.psnr:.2f} dB</b> · {r.ms:.0f} ms</div>'
        lines += reading_line(c, key, r.reading)
        if key in engine.NOTES:
            lines += f'<div class="note">{html.escape(engine.NOTES[key])}</div>'
        if r.what:
            lines += f'<div class="note">{html.escape(r.what)}</div>'
        if key == "map":
            lines += f'<div class="note">likelihood: {html.escape(c.settings["map_likelihood"])}</div>'
            if c.alternatives:
                alts = "".join(f'<figure><img src="{png_url(engine.to_uint8(a.x_hat))}" alt="another MAP restart">'
                               f'<figcaption>{a.reading[0]} ({100 * a.reading[1]:.0f} %)</figcaption></figure>'
                               for a in c.alternatives)
                lines += f'<div class="alts" id="map-alternatives"><span>other restarts read:</span>{alts}</div>'
        cards.append(card(key, urls[key], lines))
    warn = "".join(f'<div class="warning">{html.escape(w)}</div>' for w in c.warnings)
    timing = (f'<div class="timing" id="server-ms" data-ms="{server_ms:.1f}">computed in {server_ms:.0f} ms '
              f'on the server (the three denoisers: {c.numbers()["total_ms"]:.0f} ms)</div>')
    return warn + '<div class="cards">' + "".join(cards) + "</div>" + timing


def details_html(c: engine.Comparison, overlay: str | None) -> str:
    """MAP's objective per step as an inline SVG polyline, and the marks on the 2-D latent map (its
    image is in the page's CSS, loaded once)."""
    parts = []
    if c.loss_history is not None and len(c.loss_history) > 1:
        y = np.log10(np.maximum(c.loss_history, 1e-9))
        lo, hi = float(y.min()), float(y.max()) if y.max() > y.min() else float(y.min()) + 1
        pts = " ".join(f"{10 + 280 * i / (len(y) - 1):.1f},{10 + 160 * (hi - v) / (hi - lo):.1f}" for i, v in enumerate(y))
        parts.append('<figure class="curve"><svg viewBox="0 0 300 190" role="img" aria-label="MAP objective">'
                     '<rect x="10" y="10" width="280" height="160" fill="none" stroke="#ccc"/>'
                     f'<polyline points="{pts}" fill="none" stroke="#2ca02c" stroke-width="2"/>'
                     f'<text x="12" y="185" font-size="11">step 0 … {len(y) - 1}; objective {c.loss_history[0]:.3g} → '
                     f'{c.loss_history[-1]:.3g} (log scale)</text></svg>'
                     '<figcaption>MAP objective per step (best restart)</figcaption></figure>')
    if overlay is not None:
        parts.append(f'<figure class="latent"><div class="latent-map">{overlay}</div>'
                     '<figcaption>Where the drawing, its noisy version and the outputs land on the '
                     '2-D latent map (MAP\'s path in orange)</figcaption></figure>')
    return '<div class="details">' + "".join(parts) + "</div>"


def compare(drawing, noise_type, level, seed, beta, steps, auto_beta=True, region=""):
    """drawing / region: PNG data URLs (the pad's canvases; region only for "Painted region").
    auto_beta (the default, also through the API): MAP uses the beta validated for this noise;
    False: the given beta."""
    start = time.perf_counter()
    try:
        if not drawing:
            raise inputs.InputError("The canvas is empty: draw a digit (or pick a test digit).")
        if not isinstance(drawing, str) or not drawing.startswith("data:"):
            raise inputs.InputError("The drawing must be a PNG image sent as a data:image/png;base64 URL.")
        c = ENGINE.compare(drawing, noise_type, level, seed, None if auto_beta else beta, steps,
                           region=region or None)
        latent = ENGINE.latent(c)
    except inputs.InputError as exc:  # the user's mistake: one log line, their message, nothing internal
        log(f"input refused: {str(exc)[:200]}")
        raise gr.Error(str(exc), title="Cannot use this input", print_exception=False) from None
    except Exception:  # never a dead app: log it, tell the user, keep serving
        log("unexpected error\n" + traceback.format_exc())
        raise gr.Error("Something went wrong on the server (logged); please try again.", title="Error",
                       print_exception=False) from None
    for warning in c.warnings:
        gr.Warning(warning)
    urls = image_urls(c)
    details = details_html(c, latent[0] if latent else None)
    server_ms = 1000 * (time.perf_counter() - start)
    numbers = {**c.numbers(), "server_ms": round(server_ms, 1), "images": urls,
               "latent_map": latent[1] if latent else None}
    return results_html(c, urls, server_ms), details, numbers


def quiet_checks(component, name: str):
    """Gradio's own input checks (a slider out of range, a radio value not offered) as one log line
    and a short message: theirs prints a traceback and echoes the value, however long."""
    original = component.preprocess

    def preprocess(payload):
        try:
            return original(payload)
        except Exception as exc:
            text = f"{name}: this value is not accepted."
            if isinstance(exc, gr.Error) and len(str(exc)) <= 200:
                text = f"{name}: {exc}"
            if isinstance(component, gr.Radio):
                text = f"{name} must be one of: {', '.join(str(v) for _, v in component.choices)}."
            log(f"input refused: {text}")
            raise gr.Error(text, title="Cannot use this input", print_exception=False) from None

    component.preprocess = preprocess
    return component


CSS = """
.gradio-container { max-width: 1400px !important; }
#title h1 { font-size: 1.35rem; margin: 0; } #title p { margin: 0.2rem 0 0; font-size: 0.9rem; }
.pad { width: 100%; max-width: 300px; margin: 0 auto; }
.pad .stack { position: relative; width: 100%; aspect-ratio: 1; border: 2px solid #bbb; border-radius: 6px; background: #fff; }
.pad canvas { position: absolute; inset: 0; width: 100%; height: 100%; }
.pad canvas.region { opacity: 0.45; touch-action: none; cursor: crosshair; }
.pad .tools, .pad .examples { display: flex; flex-wrap: wrap; gap: 4px; margin-top: 6px; }
.pad button, .pad label.upload { font-size: 0.8rem; padding: 3px 7px; border: 1px solid #bbb; border-radius: 5px; background: #f6f6f6; cursor: pointer; }
.pad button.on { background: #ffe3c2; border-color: #f08c00; }
.pad .examples button { padding: 1px 6px; }
.pad input[type=file] { display: none; }
.pad-status { font-size: 0.8rem; min-height: 1.2em; margin-top: 4px; color: #555; }
.pad-status.bad { color: #b00020; font-weight: 600; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(132px, 1fr)); gap: 8px; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 4px; font-size: 0.78rem; line-height: 1.25; }
.card .label { font-weight: 600; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.card img { width: 100%; aspect-ratio: 1; image-rendering: pixelated; display: block; background: #000; }
.card .note { color: #666; font-size: 0.72rem; }
.differs { color: #fff; background: #b00020; padding: 0 3px; border-radius: 3px; }
.alts { display: flex; gap: 4px; align-items: center; flex-wrap: wrap; font-size: 0.72rem; }
.alts figure { margin: 0; width: 40px; text-align: center; } .alts img { width: 40px; }
.no-refs .card.ref { display: none; }
.warning { color: #8a5300; font-size: 0.85rem; }
.timing { color: #777; font-size: 0.75rem; margin-top: 4px; }
.details { display: flex; flex-wrap: wrap; gap: 12px; } .details figure { margin: 0; }
.details .curve svg { width: 300px; }
.details .latent { width: 520px; max-width: 100%; }
.latent-map svg { width: 100%; height: 100%; display: block; }
.details figcaption { font-size: 0.8rem; color: #555; }
"""
if LATENT_URL:  # the latent map's image, in the stylesheet the page loads once
    _h, _w = ENGINE.latent_map.base.shape[:2]
    CSS += (f'.latent-map {{ width: 100%; aspect-ratio: {_w} / {_h}; '
            f'background: url("{LATENT_URL}") 0 0 / 100% 100% no-repeat; }}\n')
PAD_HTML = """<div class="pad" data-examples='{examples}'>
<div class="stack"><canvas class="ink" width="280" height="280"></canvas>
<canvas class="region" width="280" height="280"></canvas></div>
<div class="tools"><button data-mode="draw">Brush</button><button data-mode="region">Paint region to erase</button>
<button data-act="clear">Clear</button><label class="upload">Upload image<input type="file" accept="image/*"></label></div>
<div class="pad-status" role="status"></div>
<div class="examples"><span>Test digits:</span>{buttons}</div></div>""".format(
    examples=html.escape(json.dumps(EXAMPLES)),
    buttons="".join(f'<button data-example="{d}">{d}</button>' for d in range(10)))
# At click time: the pad's canvases as data URLs in place of the hidden inputs (read synchronously,
# so a run uses exactly what is on screen), the panel scrolled into view on a narrow screen.
CAPTURE_JS = """(drawing, kind, level, seed, beta, steps, auto, region) => {
  const v = window.aelabPad ? window.aelabPad.export() : {drawing, region};
  if (window.innerWidth < 700) { document.getElementById('results')?.scrollIntoView({block: 'start'}); }
  return [v.drawing, kind, level, seed, beta, steps, auto, v.region];
}"""
# MAP's beta follows the noise in the browser (no request, so no server error for a half-typed level).
BETA_JS = """(kind, level, auto, beta) => {
  const table = %s;
  const box = document.getElementById('auto-beta');
  if (box) { box.style.display = kind === 'Gaussian' ? '' : 'none'; }
  const l = Number(level);
  if (!auto || !Number.isFinite(l) || l < 0 || l > 1) { return beta; }
  return kind === 'Gaussian' ? table[(Math.round(l * 20) / 20).toFixed(2)] : %s;
}""" % (json.dumps(ENGINE.beta_table()), json.dumps(ENGINE.default_beta))

with gr.Blocks(title="Autoencoder Lab: denoising demo", delete_cache=(600, 1800)) as demo:
    gr.Markdown("# Autoencoder Lab: draw a digit, add noise, compare the denoisers\n"
                "Draw a digit (or pick a test digit), choose the noise, press **Compare**. The drawing is "
                "cropped, scaled and centred as MNIST was; PSNR is against that clean 28x28 input, and a "
                "classifier reads every output.", elem_id="title")
    with gr.Row(equal_height=False):
        with gr.Column(scale=0, min_width=300):
            gr.HTML(PAD_HTML, js_on_load=(Path(__file__).parent / "pad.js").read_text(), elem_id="pad")
            drawing = gr.Textbox("", visible=False, label="drawing (PNG data URL)")
            region = gr.Textbox("", visible=False, label="painted region (PNG data URL)")
            run = gr.Button("Compare", variant="primary", elem_id="run")
        with gr.Column(scale=1, min_width=300):
            results = gr.HTML('<p class="placeholder">Results appear here.</p>', elem_id="results",
                              padding=False)
        with gr.Column(scale=0, min_width=250):
            noise_type = quiet_checks(gr.Radio(list(noise.NOISE_TYPES), value="Gaussian", label="Noise",
                                               elem_id="noise-type"), "The noise type")
            level = quiet_checks(gr.Slider(0, 1, value=DEFAULT_NOISE_LEVEL, step=0.05, label="Noise level", elem_id="level",
                                           info="Gaussian: std · salt and pepper: fraction of pixels · "
                                                "erased block: side as a fraction of the digit's 20-px box"),
                                 "The noise level")
            seed = quiet_checks(gr.Number(0, precision=0, minimum=0, maximum=noise.MAX_SEED, label="Noise seed"),
                                "The noise seed")
            show_refs = gr.Checkbox(True, label="Show the reference columns (classical filter, learned net)",
                                    elem_id="show-refs")
            with gr.Accordion("MAP settings", open=False):
                auto_beta = gr.Checkbox(True, label="beta validated for this noise level (A8)", elem_id="auto-beta",
                                        info="untick, or move the slider, to choose beta yourself")
                beta = quiet_checks(gr.Slider(0, ENGINE.max_beta, value=ENGINE.beta_for("Gaussian", DEFAULT_NOISE_LEVEL),
                                              step=0.001, label="beta (prior weight)", elem_id="beta",
                                              info="argmin_z ||x - g(z)||² + beta ||z||² (Gaussian noise: g(z) as the "
                                                   "noise's clipping would leave it)"), "MAP beta")
                steps = quiet_checks(gr.Slider(1, ENGINE.max_steps, value=ENGINE.default_steps, step=1,
                                               label="steps", info=f"optimiser iterations; {ENGINE.default_restarts} "
                                               "restarts, the best kept"), "MAP steps")
    details = gr.HTML(elem_id="details", padding=False)
    # Every number and image as JSON, for API callers: the page shows them in the cards, and a
    # rendered JSON tree of the images slowed every result in the browser (timed as bench.demo_click does).
    numbers = gr.JSON(label="numbers", visible=False)

    run.click(compare, [drawing, noise_type, level, seed, beta, steps, auto_beta, region],
              [results, details, numbers], js=CAPTURE_JS, api_name="compare",
              concurrency_limit=CONCURRENCY, trigger_mode="always_last")
    for control in (noise_type, level, auto_beta):
        control.change(None, [noise_type, level, auto_beta, beta], beta, js=BETA_JS, queue=False,
                       api_visibility="private")
    beta.input(None, None, auto_beta, js="() => false", queue=False, api_visibility="private")
    show_refs.change(None, show_refs, None, queue=False, api_visibility="private",
                     js="(show) => { document.getElementById('results')?.classList.toggle('no-refs', !show); }")

demo.queue(max_size=64, default_concurrency_limit=CONCURRENCY)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Defaults: GRADIO_SERVER_NAME / GRADIO_SERVER_PORT if set, else 127.0.0.1 and the first free
    # port from 7860 (Gradio's own rules, which apply when these are None).
    parser.add_argument("--host", default=None, help="default 127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="default 7860 or the next free one")
    args = parser.parse_args(argv)
    demo.launch(server_name=args.host, server_port=args.port, prevent_thread_lock=True,
                footer_links=["api"], quiet=True, css=CSS, ssr_mode=False, max_file_size=MAX_UPLOAD,
                # Only the app's own messages (gr.Error) reach the user; anything else is logged and
                # shown as a plain "Error", never with server paths or object reprs.
                show_error=False)
    print(f"Autoencoder Lab demo running on {demo.local_url}", flush=True)
    demo.block_thread()


if __name__ == "__main__":
    main()
