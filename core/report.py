"""What every report chapter's hidden first cell runs: one figure style, fixed seeds, short names."""
from __future__ import annotations

import torch

from . import plots


def setup() -> None:
    plots.style()
    torch.manual_seed(0)
    torch.set_flush_denormal(True)


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
    lines = ["| " + " | ".join(map(str, columns)) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return Markdown("\n".join(lines))
