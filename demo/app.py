"""Autoencoder Lab demo: draw a digit, add noise, compare the AE, VAE-bottleneck and MAP denoisers.

    python -m demo.app [--host HOST] [--port PORT]        (what `make demo` runs)

Binds 127.0.0.1:7860 unless --host/--port or GRADIO_SERVER_NAME/GRADIO_SERVER_PORT say otherwise,
and prints the URL. The models are loaded once, at start; all the computing is in demo/inference.py.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline machine: no phoning home
os.environ.setdefault("MPLBACKEND", "Agg")

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from core import denoise  # noqa: E402
from core.data import DEFAULT_NOISE_LEVEL  # noqa: E402
from demo import inference as inf  # noqa: E402

# Two cores: two requests at a time, each with one intra-op thread, beats one request on two
# threads for these tiny 28x28 batches (see bench/demo_latency.py).
CONCURRENCY = int(os.environ.get("AELAB_DEMO_CONCURRENCY", "2"))
torch.set_num_threads(int(os.environ.get("AELAB_DEMO_THREADS", "1")))
# Gradio decodes an upload before our checks see it: refuse decompression bombs (a 12000x12000
# PNG of a few kB would cost gigabytes) beyond twice the largest drawing we accept.
Image.MAX_IMAGE_PIXELS = inf.MAX_SIDE ** 2


def example_drawings() -> list[str]:
    """The examples (first test image of each digit) as 280x280 black-on-white PNGs, like a drawing."""
    from core import paths
    from core.data import examples

    folder = paths.CACHE_DIR / "demo" / "examples"
    paths = [folder / f"test-digit-{d}.png" for d in range(10)]
    if not all(p.exists() for p in paths):
        folder.mkdir(parents=True, exist_ok=True)
        for img, path in zip(examples()[0], paths):
            tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.png")
            Image.fromarray(255 - inf.to_uint8(img[None], 10)).save(tmp)
            os.replace(tmp, path)
    return [str(p) for p in paths]


try:
    ENGINE = inf.Engine.load()
    EXAMPLES = example_drawings()
    # One request's work at start (torch and oneDNN set up lazily): the first visitor sees the
    # same latencies as every later one.
    ENGINE.latent_image(ENGINE.compare(EXAMPLES[7]))
except Exception as exc:  # e.g. a checkpoint not trained yet: say which and how, not a traceback
    sys.exit(f"The demo cannot start: {type(exc).__name__}: {exc}\n"
             "`make demo` fetches MNIST and trains any missing shipped model first.")
LABELS = denoise.METHOD_TITLES
ERASED_RGB = np.array([150, 30, 30], dtype=np.uint8)  # erased pixels, so a black-on-black hole shows
# Outputs are sent as the models' own 28x28 pixels (tiny PNGs); the browser enlarges them unblurred.
CSS = ".digit img { width: 100% !important; height: 100% !important; object-fit: contain; image-rendering: pixelated; }"


def noisy_view(c: inf.Comparison) -> np.ndarray:
    img = np.repeat(inf.to_uint8(c.noisy)[..., None], 3, axis=2)
    if c.mask is not None:
        img[c.mask[0, 0].numpy() == 0] = ERASED_RGB
    return img


def caption(psnr: float, ms: float | None = None) -> str:
    return f"**PSNR {psnr:.2f} dB**" + ("" if ms is None else f" · {ms:.1f} ms")


def compare(sketch, noise_type, level, seed, beta, steps, auto_beta=True):
    """auto_beta (the default, also through the API): MAP uses the beta validated for this noise;
    False: the given beta."""
    try:
        c = ENGINE.compare(sketch, noise_type, level, seed, None if auto_beta else beta, steps)
        latent = ENGINE.latent_image(c)
    except inf.InputError as exc:
        raise gr.Error(str(exc), title="Cannot use this input") from None
    except Exception as exc:  # never a dead app: log it, tell the user, keep serving
        print("demo: unexpected error\n" + traceback.format_exc(), file=sys.stderr, flush=True)
        raise gr.Error(f"Something went wrong ({type(exc).__name__}: {exc}).", title="Error") from None
    for warning in c.warnings:
        gr.Warning(warning)
    r = c.results
    curve = None
    if c.loss_history is not None:
        curve = pd.DataFrame({"step": np.arange(len(c.loss_history)), "objective": c.loss_history})
    return (inf.to_uint8(c.clean), noisy_view(c), caption(c.noisy_psnr),
            inf.to_uint8(r["ae"].x_hat), caption(r["ae"].psnr, r["ae"].ms),
            inf.to_uint8(r["vae"].x_hat), caption(r["vae"].psnr, r["vae"].ms),
            inf.to_uint8(r["map"].x_hat), caption(r["map"].psnr, r["map"].ms),
            curve, latent, c.numbers())


with gr.Blocks(title="Autoencoder Lab: denoising demo") as demo:
    gr.Markdown("# Autoencoder Lab: draw a digit, add noise, compare three denoisers\n"
                "Draw a digit (brush tool) or pick a test digit, choose the noise, then press "
                "**Compare**. The drawing is cropped, scaled and centred the way MNIST was made; "
                "PSNR is measured against that clean 28x28 input.")
    with gr.Row():
        with gr.Column(scale=3):
            sketch = gr.Sketchpad(label="Your digit", type="numpy", image_mode="RGBA",
                                  canvas_size=(400, 400), fixed_canvas=True, sources=("upload",),
                                  brush=gr.Brush(default_size=16, colors=["#000000"], color_mode="fixed"),
                                  layers=False, elem_id="sketch")
            gr.Examples(EXAMPLES, inputs=sketch, label="Or pick a test digit",
                        examples_per_page=10)
        with gr.Column(scale=2):
            noise_type = gr.Radio(list(inf.NOISE_TYPES), value="Gaussian", label="Noise")
            level = gr.Slider(0, 1, value=DEFAULT_NOISE_LEVEL, step=0.05, label="Noise level",
                              info="Gaussian: std · salt and pepper: fraction of pixels · "
                                   "erased block: side as a fraction of the 20-px digit box")
            seed = gr.Number(0, precision=0, minimum=0, maximum=inf.MAX_SEED, label="Noise seed")
            with gr.Accordion("MAP settings", open=True):
                auto_beta = gr.Checkbox(True, label="beta validated for this noise (A8)",
                                        info="untick, or move the slider, to choose beta yourself")
                beta = gr.Slider(0, ENGINE.max_beta, value=ENGINE.beta_for("Gaussian", DEFAULT_NOISE_LEVEL), step=0.001,
                                 label="beta (prior weight)", info="argmin_z ||x - g(z)||² + beta ||z||²")
                steps = gr.Slider(1, ENGINE.max_steps, value=ENGINE.default_steps, step=1, label="steps",
                                  info=f"optimiser iterations; {ENGINE.default_restarts} restarts, the best kept")
            run = gr.Button("Compare", variant="primary", elem_id="run")
    with gr.Row(equal_height=True):
        outputs = {}
        for key, label in [("clean", "What the models see (28x28)"), ("noisy", "Noisy input"),
                           ("ae", LABELS["ae"]), ("vae", LABELS["vae"]), ("map", LABELS["map"])]:
            with gr.Column(min_width=150):
                image = gr.Image(label=label, type="numpy", format="png", interactive=False,
                                 buttons=[], height=180, elem_id=f"out-{key}", elem_classes="digit")
                text = gr.Markdown(elem_id=f"psnr-{key}") if key != "clean" else gr.Markdown("the clean reference")
                outputs[key] = (image, text)
    with gr.Row():
        loss_plot = gr.LinePlot(x="step", y="objective", title="MAP objective per step (best restart)",
                                label="MAP loss curve", height=300)
        latent_map = gr.Image(label="2-D latent map", show_label=False, type="numpy",
                              format="jpeg", interactive=False, buttons=["fullscreen"])
    with gr.Accordion("All numbers (JSON)", open=False):
        numbers = gr.JSON(label="numbers")

    run.click(compare, [sketch, noise_type, level, seed, beta, steps, auto_beta],
              [outputs["clean"][0], outputs["noisy"][0], outputs["noisy"][1],
               outputs["ae"][0], outputs["ae"][1], outputs["vae"][0], outputs["vae"][1],
               outputs["map"][0], outputs["map"][1], loss_plot, latent_map, numbers],
              api_name="compare", concurrency_limit=CONCURRENCY)
    # The slider shows the beta in use: the validated one while the box is ticked.
    for control in (noise_type, level, auto_beta):
        control.change(lambda kind, lvl, auto: ENGINE.beta_for(kind, lvl) if auto else gr.skip(),
                       [noise_type, level, auto_beta], beta, queue=False, api_visibility="private")
    beta.input(lambda: False, None, auto_beta, queue=False, api_visibility="private")

demo.queue(max_size=64, default_concurrency_limit=CONCURRENCY)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Defaults: GRADIO_SERVER_NAME / GRADIO_SERVER_PORT if set, else 127.0.0.1 and the first free
    # port from 7860 (Gradio's own rules, which apply when these are None).
    parser.add_argument("--host", default=None, help="default 127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="default 7860 or the next free one")
    args = parser.parse_args(argv)
    demo.launch(server_name=args.host, server_port=args.port, prevent_thread_lock=True,
                footer_links=["api"], quiet=True, css=CSS, ssr_mode=False,
                # Gradio's own input checks (e.g. a slider value out of range through the API)
                # then reach the user with their message instead of a generic one.
                show_error=True)
    print(f"Autoencoder Lab demo running on {demo.local_url}", flush=True)
    demo.block_thread()


if __name__ == "__main__":
    main()
