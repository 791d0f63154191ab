"""Execute a Quarto chapter's Python without Quarto: every ```{python} cell in order, one namespace.

Quarto itself cannot be installed on our machines, so the tests (and bench/report_time.py) use this
to prove every chapter runs: cells execute with the working directory at the project root (as
`execute-dir: project` does), and inline `{python} expr` values are evaluated too.
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from .data import PROJECT_ROOT

CELL = re.compile(r"^```\{python\}[^\n]*\n(.*?)^```\s*$", re.S | re.M)
INLINE = re.compile(r"`\{python\}\s+([^`]+)`")
REPORT_DIR = PROJECT_ROOT / "report"


@dataclass
class Cell:
    index: int
    line: int
    source: str


class ChapterError(RuntimeError):
    pass


def cells(text: str) -> list[Cell]:
    return [Cell(i, text[: m.start()].count("\n") + 1, m.group(1)) for i, m in enumerate(CELL.finditer(text))]


def inline_expressions(text: str) -> list[str]:
    without_cells = CELL.sub("", text)
    return [m.group(1).strip() for m in INLINE.finditer(without_cells)]


def chapters() -> list[Path]:
    return sorted(REPORT_DIR.glob("*.qmd"))


def run_chapter(qmd: Path | str) -> dict:
    """Run all cells then all inline expressions of `qmd`; returns seconds per cell and the namespace."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    qmd = Path(qmd)
    text = qmd.read_text()
    namespace = {"__name__": "__main__"}
    timings = []
    cwd = os.getcwd()
    os.chdir(PROJECT_ROOT)
    try:
        for cell in cells(text):
            t0 = time.perf_counter()
            try:
                exec(compile(cell.source, f"{qmd.name}:cell{cell.index}(line {cell.line})", "exec"), namespace)
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
    return {"seconds": timings, "namespace": namespace}
