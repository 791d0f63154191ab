"""Report support: what every chapter's hidden first cell runs (one figure style, fixed seeds) and
the Markdown formatting of numbers and tables. `core.report.tables`: the Reproduce page's tables
from the manifest; `core.report.summary`: the index's reference-vs-ours table."""
from __future__ import annotations

import torch

from core import plots


def setup() -> None:
    plots.style()
    torch.manual_seed(0)
    torch.set_flush_denormal(True)
    _show_each_figure_once()
    _plotly_offline()


def _show_each_figure_once() -> None:
    """Under Jupyter (Quarto) a cell's returned Figure is shown as its result, and the inline
    backend would show every pyplot figure again at the end of the cell: with interactive mode off
    it does not, and figures are closed after each cell instead (memory)."""
    import matplotlib.pyplot as plt

    # Load the backend now: Jupyter's inline backend turns interactive mode on when it loads.
    plt.switch_backend(plt.get_backend())
    plt.ioff()
    try:
        shell = get_ipython()  # noqa: F821 - defined only inside IPython
    except NameError:
        return
    if _close_figures not in shell.events.callbacks["post_run_cell"]:
        shell.events.register("post_run_cell", _close_figures)


def _plotly_offline() -> None:
    """Plotly figures carry their own plotly.js, so a page works offline. Quarto's kernel setup
    picks plotly's "notebook_connected" renderer, which loads plotly.js from a CDN, and any
    text/html output makes Quarto add require.js and jQuery from CDNs too. This renderer gives
    `plotly_bundle` instead: no text/html, nothing fetched."""
    try:
        import plotly.io as pio
        from plotly.io.base_renderers import MimetypeRenderer
    except ImportError:  # plotly is optional for the chapters that do not use it
        return

    class SelfContained(MimetypeRenderer):
        def to_mimebundle(self, fig_dict):
            return plotly_bundle(fig_dict)

    pio.renderers["self_contained"] = SelfContained()
    pio.renderers.default = "self_contained"


def plotly_bundle(fig_dict: dict) -> dict:
    """A plotly figure as Markdown holding a Pandoc raw HTML block: the figure with plotly.js
    inlined (about 5 MB, once per figure; the site has one). The notebook download also gets
    plotly's JSON, which Jupyter draws itself."""
    import json
    import re

    from plotly.io import to_html, to_json

    html = to_html(fig_dict, include_plotlyjs=True, include_mathjax=False, full_html=False,
                   default_width="100%", validate=False)
    # Fenced by more backticks than any run inside plotly.js, so nothing in it closes the block.
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", html)), default=0))
    return {"text/markdown": f"{fence}{{=html}}\n{html}\n{fence}\n",
            "application/vnd.plotly.v1+json": json.loads(to_json(fig_dict, validate=False))}


def _close_figures(result=None) -> None:
    import matplotlib.pyplot as plt

    plt.close("all")


def fmt(value: float, digits: int = 4) -> str:
    """A number for inline text: fixed decimals, or scientific below 1e-3."""
    return f"{value:.{digits - 1}e}" if 0 < abs(value) < 1e-3 else f"{value:.{digits}g}"


def table(rows, columns=None, digits: int = 4):
    """A Markdown table (rendered by Quarto and Jupyter) from a DataFrame or a list of dicts.

    Floats are shown with `digits` significant digits via `fmt`; use it in a cell with a
    `#| label: tbl-...` and `#| tbl-cap:` so Quarto numbers and captions it.
    """
    from IPython.display import Markdown

    if hasattr(rows, "to_dict"):  # a pandas DataFrame
        frame = rows.reset_index() if rows.index.name else rows
        rows = frame.to_dict("records")
    columns = columns or list(rows[0])
    cell = lambda v: fmt(v, digits) if isinstance(v, float) else str(v)
    body = [[cell(r.get(c, "")) for c in columns] for r in rows]
    # Pandoc sizes the columns of a wide pipe table by the dashes under each header: as many as
    # the column's longest entry, so a long command column does not squeeze the numbers.
    widths = [max(3, len(str(c)), *(len(line[i]) for line in body)) for i, c in enumerate(columns)]
    lines = ["| " + " | ".join(map(str, columns)) + " |", "|" + "|".join("-" * w for w in widths) + "|"]
    lines += ["| " + " | ".join(line) + " |" for line in body]
    return Markdown("\n".join(lines))


class ClaimError(AssertionError):
    """A sentence of a chapter is false for the shipped weights: the chapter must not render."""


def check(claims: dict[str, bool]) -> None:
    """Hidden guard of a chapter's qualitative sentences: {sentence (as the text says it): is it
    true for these weights?}. Raises ClaimError naming every false one, so a retrained model that
    changes a conclusion fails the chapter instead of leaving the old words in place."""
    false = [claim for claim, ok in claims.items() if not bool(ok)]
    if false:
        raise ClaimError("false for the shipped weights: " + "; ".join(false))
