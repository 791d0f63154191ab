"""Autoencoder Lab demo: draw a digit, add noise, compare the AE, VAE-bottleneck and MAP denoisers
(beside the best classical filter and a learned denoiser), each output read by two judge classifiers.

    python -m demo.app [--host HOST] [--port PORT]        (what `make demo` runs)

Binds 127.0.0.1:7860 unless --host/--port or GRADIO_SERVER_NAME/GRADIO_SERVER_PORT say otherwise,
and prints the URL. The models are loaded once, at start; all the computing is in demo/inputs.py,
noise.py and engine.py.
The drawing pad is a plain canvas (demo/pad.js); results come back as one HTML panel with the images
inline (demo/panels.py), kept small (the latent map's image is in the stylesheet, loaded once; a
result only marks positions on it). The page's snippets are in demo/page.py.

Every number the user types (noise level, seed, MAP's beta and steps) arrives as typed, in a text box:
a number box in the browser turns typos into other numbers ("0,3" into 3, then 1) before any check
could quote them.
"""
from __future__ import annotations

import argparse
import html
import inspect
import os
import sys
import time
import traceback
import warnings
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline machine: no phoning home
os.environ.setdefault("MPLBACKEND", "Agg")

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from core.data import DEFAULT_NOISE_LEVEL  # noqa: E402
from core.denoising import judge  # noqa: E402
from demo import engine, inputs, noise, page, panels  # noqa: E402

# Two cores: two requests at a time, each with one intra-op thread, beats one request on two
# threads for these tiny 28x28 batches (see bench/demo_latency.py).
CONCURRENCY = int(os.environ.get("AELAB_DEMO_CONCURRENCY", "2"))
torch.set_num_threads(int(os.environ.get("AELAB_DEMO_THREADS", "1")))
# No image larger than the app accepts is ever decoded. The size check reads the header first
# (demo/inputs.py); Pillow's own limit is a second guard, its warning made an error so that it
# too ends in the "too large" message instead of a log line.
Image.MAX_IMAGE_PIXELS = inputs.MAX_SIDE ** 2
warnings.simplefilter("error", Image.DecompressionBombWarning)
MAX_UPLOAD = "2mb"                            # Gradio's own uploads (API callers); the pad sends data URLs
MAX_LOG_LINE = 300                            # characters per log line: a client's input never floods the log
REFUSED = "Cannot use this input"


def log(message: str) -> None:
    """One line per event, cut to MAX_LOG_LINE characters (a server error's traceback aside)."""
    line = " ".join(message.split())
    print(f"demo: {line[:MAX_LOG_LINE]}{'…' if len(line) > MAX_LOG_LINE else ''}", file=sys.stderr, flush=True)


def refuse(text: str) -> gr.Error:
    """The user's or client's mistake: one log line, their message (HTML-escaped: the page renders
    messages as HTML), no traceback."""
    log(f"input refused: {text}")
    return gr.Error(html.escape(text, quote=False), title=REFUSED, print_exception=False)


def example_pixels() -> list[list[int]]:
    """The examples (first test image of each digit) as 784 grey levels each, black on white."""
    from core.data import examples

    return [(255 - engine.to_uint8(img[None])).ravel().tolist() for img in examples()[0]]


try:
    # AELAB_DEMO_POSTERIOR=0 leaves the posterior out (bench.demo_click measures what it costs).
    ENGINE = engine.Engine.load(posterior=os.environ.get("AELAB_DEMO_POSTERIOR", "1") != "0")
    EXAMPLES = example_pixels()
    # One request's work at start (torch and oneDNN set up lazily): the first visitor sees the
    # same latencies as every later one.
    ENGINE.latent(ENGINE.compare(np.array(EXAMPLES[7], dtype=np.uint8).reshape(28, 28)))
    LATENT_URL = ENGINE.latent_map.background_url() if ENGINE.latent_map is not None else None
except Exception as exc:  # e.g. a checkpoint not trained yet: say which and how, not a traceback
    sys.exit(f"The demo cannot start: {type(exc).__name__}: {exc}\n"
             "`make demo` fetches MNIST and trains any missing shipped model first.")
if ENGINE.judging is not None:
    log("a digit is named where every judge names it: " + ", ".join(
        f"the {judge.SHORT.get(name, name)} judge from confidence {t:.2f} up" for name, t in ENGINE.judging.unsure_below.items())
        + " (from there its validation readings are right at least half the time: python -m demo.judging)")


def compare(drawing, noise_type="Gaussian", level=str(DEFAULT_NOISE_LEVEL), seed="0", beta=None, steps=None,
            auto_beta=True, region=""):
    """drawing: a PNG data URL: ink on a transparent ground (the pad's strokes: never inverted) or an
    opaque picture (an upload: white on black is inverted, as MNIST's digits are). level, seed, beta,
    steps: numbers or their text as typed. region: a PNG data URL whose paint marks the pixels to
    erase ("Painted region" noise only). auto_beta (the default, also through the API): MAP uses the
    beta validated for this noise; False: the given beta.

    Two updates: every card but the posterior's as soon as they are ready, then the posterior (its
    sampling, started at MAP's restarts, is the slowest part). An API call gets the last."""
    start = time.perf_counter()
    try:
        if not drawing:
            raise inputs.InputError("The canvas is empty: draw a digit (or pick a test digit).")
        if not isinstance(drawing, str) or not drawing.startswith("data:"):
            raise inputs.InputError("The drawing must be a PNG image sent as a data:image/png;base64 URL.")
        if not isinstance(auto_beta, bool):
            raise inputs.InputError("auto_beta must be true or false.")
        c = ENGINE.compare(drawing, noise_type, level, seed, None if auto_beta else beta, steps,
                           region=region or None, posterior=False)
        latent = ENGINE.latent(c)
    except inputs.InputError as exc:  # the user's mistake: one log line, their message, nothing internal
        raise refuse(str(exc)) from None
    except Exception:  # never a dead app: log it, tell the user, keep serving
        print("demo: unexpected error\n" + traceback.format_exc(), file=sys.stderr, flush=True)
        raise gr.Error("Something went wrong on the server (logged); please try again.", title="Error",
                       print_exception=False) from None
    for warning in c.warnings:
        gr.Warning(warning)
    shown = len(c.warnings)
    details = panels.details_html(c, latent[0] if latent else None)
    first_ms = 1000 * (time.perf_counter() - start)
    if c.pending is not None:
        yield outputs(c, details, latent, first_ms)
        try:
            ENGINE.finish_posterior(c)
        except Exception:  # the other cards stand: say the posterior failed, log why
            print("demo: the posterior failed\n" + traceback.format_exc(), file=sys.stderr, flush=True)
            c.pending = None
            c.warnings.append("The posterior could not be computed for this input (logged); the other results stand.")
        for warning in c.warnings[shown:]:
            gr.Warning(warning)
    yield outputs(c, details, latent, first_ms, 1000 * (time.perf_counter() - start))


def outputs(c: engine.Comparison, details: str, latent, first_ms: float, total_ms: float | None = None):
    """The four outputs of one update: the cards, the details, the posterior's digits, the numbers.
    first_ms: the app's own work until the first update; total_ms: until the last (None: pending)."""
    urls = panels.image_urls(c)
    numbers = {**c.numbers(), "server_ms": round(first_ms, 1), "images": urls,
               "latent_map": latent[1] if latent else None}
    if total_ms is not None:
        numbers["server_total_ms"] = round(total_ms, 1)
    label = c.posterior.label_probs if c.posterior is not None else None
    return panels.results_html(c, urls, first_ms, total_ms), details, label, numbers


def quiet_checks(component, name: str):
    """Gradio's own input checks (a radio value not offered) as one log line and a short message:
    theirs prints a traceback and echoes the value, however long."""
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
            raise refuse(text) from None

    component.preprocess = preprocess
    return component


def exact_arguments(blocks: gr.Blocks) -> None:
    """A call with the wrong number of arguments, or to an event that only runs in the browser,
    gets a message naming what to call, and one log line. Gradio's own check answers too few with
    {"error": null} and logs a traceback, the components' reprs and every argument, however long;
    too many it silently drops."""
    original = blocks.validate_inputs

    def validate_inputs(block_fn, inputs_):
        if block_fn.fn is None:
            raise refuse("This event runs in the browser only; the API's function is /compare.")
        if len(inputs_) != len(block_fn.inputs):
            names = list(inspect.signature(block_fn.fn).parameters)[:len(block_fn.inputs)]
            raise refuse(f"/{block_fn.api_name} takes {len(block_fn.inputs)} arguments ({', '.join(names)}), "
                         f"not {len(inputs_)}.")
        return original(block_fn, inputs_)

    blocks.validate_inputs = validate_inputs


def unknown_event(request, exc: KeyError):
    """A KeyError while joining the queue is a client naming an event (fn_index) that does not
    exist: a 404 and one log line, not a 500 and a traceback. Anywhere else it is a server bug."""
    from fastapi.responses import JSONResponse, PlainTextResponse

    if request.url.path.endswith("/queue/join"):
        log(f"request refused: no event {str(exc)[:40]} to join")
        return JSONResponse({"detail": "No such event (fn_index); the API's function is /compare."}, status_code=404)
    print("demo: unexpected error\n" + "".join(traceback.format_exception(exc)), file=sys.stderr, flush=True)
    return PlainTextResponse("Internal Server Error", status_code=500)


def number_box(value, label: str, elem_id: str, info: str | None = None, scale: int = 1) -> gr.Textbox:
    """A text box for a number: what the user types reaches the app's check as typed."""
    return gr.Textbox(str(value), label=label, elem_id=elem_id, info=info, max_lines=1, scale=scale,
                      min_width=90, elem_classes="numbox")


CSS = page.CSS
if LATENT_URL:  # the latent map's image, in the stylesheet the page loads once
    CSS += page.latent_css(LATENT_URL, *ENGINE.latent_map.base.shape[1::-1])
BETA_JS = page.beta_js(ENGINE.beta_table(), ENGINE.default_beta)

with gr.Blocks(title="Autoencoder Lab: denoising demo", delete_cache=(600, 1800)) as demo:
    gr.Markdown("# Autoencoder Lab: draw a digit, add noise, compare the denoisers\n"
                "Draw a digit (or pick a test digit), choose the noise, press **Compare**. The drawing is "
                "cropped, scaled and centred as MNIST was; PSNR is against that clean 28x28 input, and two "
                "classifiers read every output: a digit is named only where both do.", elem_id="title")
    with gr.Row(equal_height=False):
        # The input and its settings, top to bottom in the order the user chooses them, Compare last:
        # on a phone this column comes first, the results below it.
        with gr.Column(scale=0, min_width=300, elem_id="controls"):
            gr.HTML(page.pad_html(EXAMPLES), js_on_load=(Path(__file__).parent / "pad.js").read_text(), elem_id="pad")
            drawing = gr.Textbox("", visible=False, label="drawing (PNG data URL)")
            region = gr.Textbox("", visible=False, label="painted region (PNG data URL)")
            noise_type = quiet_checks(gr.Radio(list(noise.NOISE_TYPES), value="Gaussian", label="Noise",
                                               elem_id="noise-type"), "The noise type")
            with gr.Row():
                level = number_box(DEFAULT_NOISE_LEVEL, "Level, 0 to 1", "level", scale=2,
                                   info="std · share of pixels · block side")
                seed = number_box(0, "Seed", "seed", info="whole number")
            run = gr.Button("Compare", variant="primary", elem_id="run")
            show_refs = gr.Checkbox(True, label="Show the reference columns (classical filter, learned net)",
                                    elem_id="show-refs")
            with gr.Accordion("MAP settings", open=False):
                auto_beta = gr.Checkbox(True, label="beta validated for this noise level (A8)", elem_id="auto-beta",
                                        info="untick, or type a beta, to choose it yourself")
                beta = number_box(ENGINE.beta_for("Gaussian", DEFAULT_NOISE_LEVEL), f"beta, 0 to {ENGINE.max_beta:g}",
                                  "beta", info="argmin_z ||x - g(z)||² + beta ||z||² (Gaussian noise: g(z) as the "
                                  "noise's clipping would leave it)")
                steps = number_box(ENGINE.default_steps, f"steps, 1 to {ENGINE.max_steps}", "steps",
                                   info=f"optimiser iterations; {ENGINE.default_restarts} restarts, the best kept")
        with gr.Column(scale=1, min_width=300):
            results = gr.HTML('<p class="placeholder">Results appear here.</p>', elem_id="results",
                              padding=False)
            # The posterior's digit probabilities stay with one judge: a probability per digit is one
            # classifier's softmax, and averaging two judges' would blur a disagreement the cards state.
            digits = gr.Label(num_top_classes=3, label=f"Which digit? (the {panels.POSTERIOR_JUDGE} judge on "
                              "posterior draws)", elem_id="posterior-label")
            details = gr.HTML(elem_id="details", padding=False)
    # Every number and image as JSON, for API callers: the page shows them in the cards, and a
    # rendered JSON tree of the images slowed every result in the browser (timed as bench.demo_click does).
    numbers = gr.JSON(label="numbers", visible=False)

    run.click(compare, [drawing, noise_type, level, seed, beta, steps, auto_beta, region],
              [results, details, digits, numbers], js=page.CAPTURE_JS, api_name="compare",
              concurrency_limit=CONCURRENCY, trigger_mode="always_last"
              ).failure(None, None, None, js=page.STALE_JS, queue=False, api_visibility="private")
    for control in (noise_type, level, auto_beta):
        control.change(None, [noise_type, level, auto_beta, beta], beta, js=BETA_JS, queue=False,
                       api_visibility="private")
    beta.input(None, None, auto_beta, js="() => false", queue=False, api_visibility="private")
    show_refs.change(None, show_refs, None, queue=False, api_visibility="private",
                     js="(show) => { document.getElementById('results')?.classList.toggle('no-refs', !show); }")

demo.queue(max_size=64, default_concurrency_limit=CONCURRENCY)
exact_arguments(demo)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Defaults: GRADIO_SERVER_NAME / GRADIO_SERVER_PORT if set, else 127.0.0.1 and the first free
    # port from 7860 (Gradio's own rules, which apply when these are None).
    parser.add_argument("--host", default=None, help="default 127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="default 7860 or the next free one")
    args = parser.parse_args(argv)
    demo.launch(server_name=args.host, server_port=args.port, prevent_thread_lock=True,
                footer_links=["api"], quiet=True, css=CSS, ssr_mode=False, max_file_size=MAX_UPLOAD,
                app_kwargs={"exception_handlers": {KeyError: unknown_event}},
                # Only the app's own messages (gr.Error) reach the user; anything else is logged and
                # shown as a plain "Error", never with server paths or object reprs.
                show_error=False)
    print(f"Autoencoder Lab demo running on {demo.local_url}", flush=True)
    demo.block_thread()


if __name__ == "__main__":
    main()
