"""Execute a Quarto chapter's Python without Quarto: every ```{python} cell in order, one namespace.

Quarto itself cannot be installed on our machines, so the tests (and bench/report_time.py) use this
to prove every chapter runs: cells execute with the working directory at the project root (as
`execute-dir: project` does), and inline `{python} expr` values are evaluated too.
"""
from __future__ import annotations

import ast
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from .data import PROJECT_ROOT

CELL = re.compile(r"^```\{python\}[^\n]*\n(.*?)^```\s*$", re.S | re.M)
INLINE = re.compile(r"`\{python\}\s+([^`]+)`")
OPTION = re.compile(r"#\|\s*([\w-]+):\s*(.*)")
REPORT_DIR = PROJECT_ROOT / "report"


@dataclass
class Cell:
    index: int
    line: int
    source: str

    @property
    def options(self) -> dict[str, str]:
        """The cell's `#| key: value` options (label, fig-cap, include, ...), values unparsed."""
        found = (OPTION.match(line) for line in self.source.splitlines())
        return {m.group(1): m.group(2).strip() for m in found if m}


class ChapterError(RuntimeError):
    pass


def cells(text: str) -> list[Cell]:
    return [Cell(i, text[: m.start()].count("\n") + 1, m.group(1)) for i, m in enumerate(CELL.finditer(text))]


def inline_expressions(text: str) -> list[str]:
    without_cells = CELL.sub("", text)
    return [m.group(1).strip() for m in INLINE.finditer(without_cells)]


def chapters() -> list[Path]:
    return sorted(REPORT_DIR.glob("*.qmd"))


def _run_cell(code, filename: str, namespace: dict):
    """exec the cell; like Jupyter, the value of a final bare expression is returned (what Quarto
    would display under the cell), else None."""
    tree = ast.parse(code, filename)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, filename, "exec"), namespace)
    if last is not None:
        return eval(compile(ast.Expression(last.value), filename, "eval"), namespace)


def displayed_kind(value, open_figures: int) -> str | None:
    """"figure" for a matplotlib/plotly figure (or pyplot figures left open), "table" for a
    Markdown table or DataFrame, else None: what a label and caption must accompany."""
    kind = type(value).__module__.split(".")[0], type(value).__name__
    if open_figures or kind in {("matplotlib", "Figure"), ("plotly", "Figure")}:
        return "figure"
    if kind == ("pandas", "DataFrame") or (kind[1] == "Markdown" and str(getattr(value, "data", "")).startswith("|")):
        return "table"
    return None


def run_chapter(qmd: Path | str) -> dict:
    """Run all cells then all inline expressions of `qmd`. Returns seconds per cell, what each cell
    displays (`displayed_kind`, None for nothing to caption), and the namespace."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    qmd = Path(qmd)
    text = qmd.read_text()
    namespace = {"__name__": "__main__"}
    timings, kinds = [], []
    cwd = os.getcwd()
    os.chdir(PROJECT_ROOT)
    try:
        for cell in cells(text):
            t0 = time.perf_counter()
            try:
                value = _run_cell(cell.source, f"{qmd.name}:cell{cell.index}(line {cell.line})", namespace)
                kinds.append(displayed_kind(value, len(plt.get_fignums())))
            except Exception as exc:
                raise ChapterError(f"{qmd.name}, cell {cell.index} (line {cell.line}) failed: "
                                   f"{type(exc).__name__}: {exc}") from exc
            finally:
                plt.close("all")
            timings.append(time.perf_counter() - t0)
        for expr in inline_expressions(text):
            try:
                eval(expr, namespace)
            except Exception as exc:
                raise ChapterError(f"{qmd.name}: inline `{{python}} {expr}` failed: {exc}") from exc
    finally:
        os.chdir(cwd)
    return {"seconds": timings, "displays": kinds, "namespace": namespace}
