"""Report support: what every chapter's hidden first cell runs (one figure style, fixed seeds) and
the Markdown formatting of numbers and tables. `core.report.tables`: the Reproduce page's tables
from the manifest; `core.report.summary`: the index's reference-vs-ours table."""
from __future__ import annotations

import torch

from .. import plots


def setup() -> None:
    plots.style()
    torch.manual_seed(0)
    torch.set_flush_denormal(True)
    _show_each_figure_once()


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
