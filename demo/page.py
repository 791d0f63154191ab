"""The page's own HTML, CSS and JavaScript snippets (the Gradio layout is in demo/app.py; the pad's
code in demo/pad.js)."""
from __future__ import annotations

import html
import json

CSS = """
.gradio-container { max-width: 1400px !important; }
#title h1 { font-size: 1.35rem; margin: 0; } #title p { margin: 0.2rem 0 0; font-size: 0.9rem; }
.pad { width: 100%; max-width: 300px; margin: 0 auto; }
.pad .stack { position: relative; width: 100%; aspect-ratio: 1; border: 2px solid #bbb; border-radius: 6px; background: #fff; }
.pad canvas { position: absolute; inset: 0; width: 100%; height: 100%; }
.pad canvas.region { opacity: 0.45; touch-action: none; cursor: crosshair; }
.pad .stack.erasing canvas.region { cursor: cell; }
.pad .tools, .pad .examples { display: flex; flex-wrap: wrap; gap: 4px; margin-top: 6px; align-items: center; }
.pad button, .pad label.upload { font-size: 0.78rem !important; font-weight: 500 !important; line-height: 1.3; padding: 2px 6px; border: 1px solid #bbb; border-radius: 5px; background: #f6f6f6; cursor: pointer; }
.pad button.on { background: #ffe3c2; border-color: #f08c00; }
.pad button:disabled { opacity: 0.45; cursor: default; }
.pad button { margin: 0 !important; }   /* Gradio's prose styles give all but the last a bottom margin */
.pad label.size { font-size: 0.8rem; display: flex; align-items: center; gap: 3px; }
.pad label.size input { width: 64px; }
.pad .examples { gap: 3px; font-size: 0.78rem; } .pad .examples button { padding: 1px 5px; }
.pad input[type=file] { display: none; }
.pad-status { font-size: 0.8rem; min-height: 1.2em; margin-top: 4px; color: #555; }
.pad-status.bad { color: #b00020; font-weight: 600; }
.numbox input { font-variant-numeric: tabular-nums; }
#controls { gap: 10px; }
#noise-type label { padding: 3px 8px !important; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(118px, 1fr)); gap: 8px; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 4px; font-size: 0.78rem; line-height: 1.25; }
.card .label { font-weight: 600; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.card img { width: 100%; aspect-ratio: 1; image-rendering: pixelated; display: block; background: #000; }
.card .note { color: #666; font-size: 0.72rem; }
.card .placeholder { width: 100%; aspect-ratio: 1; background: #eee; }
.reading.unsure { color: #8a5300; }
.differs { color: #fff; background: #b00020; padding: 0 3px; border-radius: 3px; }
.alts { display: flex; gap: 4px; align-items: center; flex-wrap: wrap; font-size: 0.72rem; }
.alts figure { margin: 0; width: 40px; text-align: center; } .alts img { width: 40px; }
#posterior-draws figure, #posterior-draws img { width: 26px; } #posterior-draws > span { flex-basis: 100%; }
.no-refs .card.ref { display: none; }
.warning { color: #8a5300; font-size: 0.85rem; }
.timing { color: #777; font-size: 0.75rem; margin-top: 4px; }
.panel.stale .cards, .panel.stale .timing, .details.stale { opacity: 0.3; filter: grayscale(1); }
.stale-note { color: #b00020; font-weight: 600; font-size: 0.9rem; margin-bottom: 4px; }
/* The refusal is in the message and the stale note: no "Error" badge over the old results. */
#results [data-testid=status-tracker] :is(span.error, .clear-status),
#details [data-testid=status-tracker] :is(span.error, .clear-status) { display: none; }
.details { display: flex; flex-wrap: wrap; gap: 12px; margin-top: 10px; } .details figure { margin: 0; }
.details .curve svg { width: 300px; }
.details .latent { width: 520px; max-width: 100%; }
.latent-map svg { width: 100%; height: 100%; display: block; }
.details figcaption { font-size: 0.8rem; color: #555; }
@media (max-width: 700px) {   /* a phone: the pad, the noise and Compare on the first screen */
  #title h1 { font-size: 1.05rem; } #title p { display: none; }
  .gradio-container { padding-top: 4px !important; }
}
"""


def latent_css(url: str, width: int, height: int) -> str:
    """The latent map's image, in the stylesheet the page loads once (a result only marks positions)."""
    return (f'.latent-map {{ width: 100%; aspect-ratio: {width} / {height}; '
            f'background: url("{url}") 0 0 / 100% 100% no-repeat; }}\n')


def pad_html(examples: list[list[int]]) -> str:
    """The pad's markup (demo/pad.js brings it to life); `examples`: 784 grey levels per test digit."""
    return """<div class="pad" data-examples='{examples}'>
<div class="stack"><canvas class="ink" width="280" height="280"></canvas>
<canvas class="region" width="280" height="280"></canvas></div>
<div class="tools"><button data-mode="draw" title="Draw your digit">Brush</button>
<button data-mode="erase" title="Erase ink and painted region">Eraser</button>
<button data-mode="region" title="Paint over part of your digit to erase it (the noise becomes Painted region)">Paint region</button>
<button data-act="undo" title="Undo the last stroke (Ctrl+Z)" disabled>Undo</button>
<button data-act="clear" title="Clear the pad">Clear</button>
<label class="upload">Upload image<input type="file" accept="image/*"></label>
<label class="size" title="Brush, eraser and paint size">Size <input type="range" min="0.5" max="2" step="0.25" value="1"></label></div>
<div class="pad-status" role="status"></div>
<div class="examples"><span>Test digits:</span>{buttons}</div></div>""".format(
        examples=html.escape(json.dumps(examples)),
        buttons="".join(f'<button data-example="{d}">{d}</button>' for d in range(10)))


# At click time: the pad's canvases as data URLs in place of the hidden inputs (read synchronously,
# so a run uses exactly what is on screen), the panel scrolled into view on a narrow screen.
CAPTURE_JS = """(drawing, kind, level, seed, beta, steps, auto, region) => {
  const v = window.aelabPad ? window.aelabPad.export() : {drawing, region};
  if (window.innerWidth < 700) { document.getElementById('results')?.scrollIntoView({block: 'start'}); }
  return [v.drawing, kind, level, seed, beta, steps, auto, v.region];
}"""

# After a refused input: the results on screen belong to an earlier one, so they are greyed out
# under a line that says so (the next results replace the whole panel, mark included).
STALE_JS = """() => {
  const panel = document.querySelector('#results .panel');
  if (!panel || panel.classList.contains('stale')) { return; }
  panel.classList.add('stale');
  document.querySelector('#details .details')?.classList.add('stale');
  const note = document.createElement('div');
  note.className = 'stale-note'; note.id = 'stale-note';
  note.textContent = 'These results are for your previous input: the last one was refused (see the message).';
  panel.prepend(note);
}"""


def beta_js(table: dict[str, float], default: float) -> str:
    """MAP's beta follows the noise in the browser (no request, so no server error for a half-typed
    level): the validated beta per Gaussian level in `table`, else `default`."""
    return """(kind, level, auto, beta) => {
  const table = %s;
  const box = document.getElementById('auto-beta');
  if (box) { box.style.display = kind === 'Gaussian' ? '' : 'none'; }
  const text = String(level ?? '').trim();
  const l = /^[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d+)?$/.test(text) ? Number(text) : NaN;
  if (!auto || !Number.isFinite(l) || l < 0 || l > 1) { return beta; }
  return String(kind === 'Gaussian' ? table[(Math.round(l * 20) / 20).toFixed(2)] : %s);
}""" % (json.dumps(table), json.dumps(default))
