"""The results as HTML: one card per image (the clean drawing, the noisy input, each denoiser and
reference column) with its PSNR, time and the judges' reading, then MAP's objective curve and the
marks on the 2-D latent map. Images go inline as tiny 28x28 PNG data URLs, so no response shares
a file with another. Nothing here computes: demo/engine.py does.
"""
from __future__ import annotations

import base64
import html
import io
import itertools

import numpy as np
from PIL import Image

from core.denoising import judge
from demo import engine

# Card labels short enough for one line on a phone; the full name shows on hover.
LABELS = {"clean": "Your digit, 28x28", "noisy": "Noisy input", "ae": "AE (2-D code)", "vae": "VAE (16-D)",
          "map": "MAP (VAE decoder)", "posterior": "Posterior mean", "filter": "Best filter",
          "dncnn": "DnCNN (learned)"}
TITLES = {"clean": "What the models see: your drawing cropped, scaled and centred as MNIST was",
          "noisy": "The noisy input every denoiser gets", "ae": "The A1 autoencoder (2-D ReLU code)",
          "vae": "The 16-D VAE as a bottleneck: decode(encoder mean)",
          "map": "MAP: the latent code whose decoding best explains the noisy input (16-D VAE decoder)",
          "posterior": "The mean of the posterior through the VAE prior (MALA chains started at MAP's restarts)",
          "filter": "The classical filter with the best validation PSNR at this noise (scoreboard)",
          "dncnn": "The scoreboard's learned denoising network (DnCNN), trained on Gaussian noise"}
REFERENCE_KEYS = ("filter", "dncnn")
ERASED_RGB = np.array([150, 30, 30], dtype=np.uint8)  # erased pixels, so a black-on-black hole shows
UNSURE = "the judges are unsure what digit this is"
DISAGREE = "the judges disagree"
# The posterior's digit probabilities are the first judge's softmax on its draws
# (core.denoising.posterior.claims.digit_probabilities): the page says whose.
POSTERIOR_JUDGE = judge.SHORT.get(judge.NAME, judge.NAME)
_RUNS = itertools.count(1)   # each panel is new HTML, so the page never keeps an old "stale" mark


def png_url(img: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def noisy_view(c: engine.Comparison) -> np.ndarray:
    img = np.repeat(engine.to_uint8(c.noisy)[..., None], 3, axis=2)
    if c.mask is not None:
        img[c.mask[0, 0].numpy() == 0] = ERASED_RGB
    return img


def short(name: str) -> str:
    return judge.SHORT.get(name, name)


def confidences(reading) -> str:
    """Each judge's confidence, by its short name: "convnet 98 %, MLP 95 %"."""
    return ", ".join(f"{short(j.name)} {100 * j.confidence:.0f} %" for j in reading.judges)


def thresholds_title(c: engine.Comparison) -> str:
    """The hover text of a reading: where each judge's reading counts as sure."""
    if not c.unsure_below:
        return ""
    each = ", ".join(f"{short(n)} from {100 * t:.0f} %" for n, t in c.unsure_below.items())
    return f' title="a digit is named only where every judge names it, each sure enough: {each}"'


def reading_line(c: engine.Comparison, key: str | None, reading) -> str:
    """The judges' reading of one image: the digit they all name with each one's confidence; or that
    they disagree (each one's digit), or agree but are unsure (a best guess). Then no digit is named
    for the clean drawing, and no output is marked as differing from it or from an unsure drawing."""
    if reading is None:
        return ""
    title = thresholds_title(c)
    if reading.verdict == "disagree":
        named = ", ".join(f"{short(j.name)} {j.digit}" for j in reading.judges)
        return f'<div class="reading unsure disagree"{title}>{DISAGREE}: {named} ({confidences(reading)})</div>'
    if reading.verdict == "unsure":
        text = (f"{UNSURE} (best guess {reading.digit}: {confidences(reading)})" if key is None
                else f"unsure (best guess <b>{reading.digit}</b>: {confidences(reading)})")
        return f'<div class="reading unsure"{title}>{text}</div>'
    text = f"reads <b>{reading.digit}</b> ({confidences(reading)})"
    if key is not None and c.differs(key):
        text += f' <span class="differs">≠ your {c.clean_reading.digit}</span>'
    return f'<div class="reading"{title}>{text}</div>'


def image_urls(c: engine.Comparison) -> dict[str, str]:
    """Every image of the panel as a PNG data URL, encoded once (the panel and the JSON share them)."""
    return {"clean": png_url(engine.to_uint8(c.clean)), "noisy": png_url(noisy_view(c)),
            **{k: png_url(engine.to_uint8(r.x_hat)) for k, r in c.results.items()}}


def posterior_lines(p) -> str:
    """Under the posterior mean: its sd map (white = the largest sd shown, written beside it), a few
    posterior draws, the most likely digits, and the misfit warning when it fires."""
    sd = p.std[None] / max(float(p.std.max()), 1e-6)
    draws = "".join(f'<figure><img src="{png_url(engine.to_uint8(d[None]))}" alt="a posterior draw"></figure>'
                    for d in p.draws)
    top = sorted(p.label_probs.items(), key=lambda kv: -kv[1])[:3]
    digits = ", ".join(f"<b>{d}</b> {100 * v:.0f} %" for d, v in top)
    whose = f"the {POSTERIOR_JUDGE} judge on the draws"
    out = (f'<div class="alts" id="posterior-sd"><span>uncertainty (sd, white {float(p.std.max()):.2f}):</span>'
           f'<figure><img src="{png_url(engine.to_uint8(sd))}" alt="posterior standard deviation"></figure></div>'
           f'<div class="alts" id="posterior-draws"><span>draws:</span>{draws}</div>'
           f'<div class="reading" id="posterior-digits" title="{whose}">could be {digits} ({whose})</div>')
    if p.flagged:
        out += f'<div class="warning" id="posterior-warning">{html.escape(p.warning)}</div>'
    return out


def card(key: str, url: str, lines: str) -> str:
    cls = "card ref" if key in REFERENCE_KEYS else "card"
    return (f'<div class="{cls}" id="card-{key}" title="{html.escape(TITLES[key])}">'
            f'<div class="label">{html.escape(LABELS[key])}</div>'
            f'<img src="{url}" alt="{html.escape(LABELS[key])}">{lines}</div>')


def pending_card(key: str, what: str) -> str:
    """A card whose result is on its way (the posterior): its place kept, so nothing moves when it comes."""
    return (f'<div class="card pending" id="card-{key}" title="{html.escape(TITLES[key])}">'
            f'<div class="label">{html.escape(LABELS[key])}</div><div class="placeholder"></div>'
            f'<div class="note">{html.escape(what)}</div></div>')


def results_html(c: engine.Comparison, urls: dict[str, str], server_ms: float, total_ms: float | None = None) -> str:
    """The cards. server_ms: the app's own work until these cards; total_ms: until the last update
    (None while the posterior is pending, whose card then says so)."""
    clean_lines = '<div class="psnr">the clean reference</div>' + reading_line(c, None, c.clean_reading)
    cards = [card("clean", urls["clean"], clean_lines),
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
                # Every judge names each restart's digit, sure of it (engine._alternatives); the
                # caption gives the least confident judge's confidence, the hover text each one's.
                alts = "".join(f'<figure title="{confidences(a.reading)}"><img src="{png_url(engine.to_uint8(a.x_hat))}" '
                               f'alt="another MAP restart"><figcaption>{a.reading.digit} '
                               f'({100 * a.reading.confidence:.0f} %)</figcaption></figure>' for a in c.alternatives)
                lines += f'<div class="alts" id="map-alternatives"><span>other restarts read:</span>{alts}</div>'
        if key == "posterior" and c.posterior is not None:
            lines += posterior_lines(c.posterior)
        cards.append(card(key, urls[key], lines))
        if key == "map" and c.pending is not None:
            cards.append(pending_card("posterior", "sampling the posterior…"))
    warn = "".join(f'<div class="warning">{html.escape(w)}</div>' for w in c.warnings)
    total = "" if total_ms is None or "posterior" not in c.results else f"; with the posterior: {total_ms:.0f} ms"
    timing = (f'<div class="timing" id="server-ms" data-ms="{server_ms:.1f}">computed in {server_ms:.0f} ms '
              f'on the server (the three denoisers: {c.numbers()["total_ms"]:.0f} ms{total})</div>')
    return (f'<div class="panel" data-run="{next(_RUNS)}">' + warn + '<div class="cards">' + "".join(cards)
            + "</div>" + timing + "</div>")


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
    return f'<div class="details" data-run="{next(_RUNS)}">' + "".join(parts) + "</div>"
