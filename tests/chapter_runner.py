"""Execute a Quarto chapter the way `quarto render` does, without Quarto.

Test tooling, not part of `core`. Quarto cannot be installed on our machines, so the tests (and
`python -m bench.report_time`) use this to prove every chapter runs and shows what it should. Like
Quarto's Jupyter engine it starts a fresh kernel per page, in the project root (`execute-dir: project`), with the inline matplotlib backend,
runs the ```{python} cells in order, and evaluates each text block's `{python} expr` through the
kernel's user_expressions, in page order. What each cell put on the page is recorded: a figure shown
twice, a stray print or an inline value that renders as `True` or `np.float64(...)` is visible here.
"""
from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.paths import PROJECT_ROOT, REPORT_DIR

CELL = re.compile(r"^```\{python\}[^\n]*\n(.*?)^```\s*$", re.S | re.M)
INLINE = re.compile(r"`\{python\}\s+([^`]+)`")
OPTION = re.compile(r"#\|\s*([\w-]+):\s*(.*)")


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


@dataclass
class CellRun:
    """What one executed cell put on the page."""
    cell: Cell
    seconds: float
    figures: int = 0                # images (png, svg) and interactive plotly figures
    tables: int = 0                 # Markdown tables (text/markdown starting with "|") or DataFrames
    stdout: str = ""                # printed text, which Quarto shows under the code
    stderr: str = ""                # warnings and logs, which `warning: false` hides
    other: list[str] = field(default_factory=list)  # any other output, as its text/plain
    mimes: set[str] = field(default_factory=set)    # every MIME type the cell's outputs carry


@dataclass
class InlineValue:
    expr: str
    type: str                       # the value's type, e.g. "str", "float", "numpy.float64"
    text: str                       # what Quarto writes into the text (text/plain, quotes stripped)


class ChapterError(RuntimeError):
    pass


def cells(text: str) -> list[Cell]:
    return [Cell(i, text[: m.start()].count("\n") + 1, m.group(1)) for i, m in enumerate(CELL.finditer(text))]


def inline_expressions(text: str) -> list[str]:
    without_cells = CELL.sub("", text)
    return [m.group(1).strip() for m in INLINE.finditer(without_cells)]


def chapters() -> list[Path]:
    return sorted(REPORT_DIR.glob("*.qmd"))


def _text_blocks(text: str) -> list[str]:
    """The text between code cells, in page order (len(cells) + 1 blocks)."""
    return CELL.split(text)[::2]


def _record(run: CellRun, output: dict) -> None:
    kind, data = output["output_type"], output.get("data", {})
    if kind == "stream":
        if output["name"] == "stdout":
            run.stdout += output["text"]
        else:
            run.stderr += output["text"]
    elif kind in ("display_data", "execute_result"):
        run.mimes |= set(data)
        if {"image/png", "image/svg+xml", "application/vnd.plotly.v1+json"} & set(data):
            run.figures += 1
        elif str(data.get("text/markdown", "")).lstrip().startswith("|") or "<table" in str(data.get("text/html", "")):
            run.tables += 1
        else:
            run.other.append(str(data.get("text/plain", sorted(data))))


def _inline(client, exprs: list[str], where: str) -> list[InlineValue]:
    """Evaluate `exprs` as Quarto does (user_expressions of an empty execute request), plus their types."""
    asked = {f"v{i}": e for i, e in enumerate(exprs)}
    asked.update({f"t{i}": f"(lambda v: type(v).__module__ + '.' + type(v).__qualname__)({e})"
                  for i, e in enumerate(exprs)})
    reply = client.wait_for_reply(client.kc.execute("", user_expressions=asked))
    results = reply["content"].get("user_expressions", {})
    values = []
    for i, expr in enumerate(exprs):
        value, kind = results.get(f"v{i}", {}), results.get(f"t{i}", {})
        if value.get("status") != "ok":
            raise ChapterError(f"{where}: inline `{{python}} {expr}` failed: "
                               f"{value.get('ename')}: {value.get('evalue')}")
        text = value["data"].get("text/plain", "")
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
            text = text[1:-1]  # Quarto strips a string's quotes
        values.append(InlineValue(expr, kind["data"]["text/plain"].strip("'").replace("builtins.", ""), text))
    return values


def run_chapter(qmd: Path | str, timeout: int = 900) -> dict:
    """Execute `qmd` in a fresh Jupyter kernel as Quarto would. Returns {"cells": [CellRun],
    "inline": [InlineValue], "seconds": total}; a failing cell raises ChapterError naming it."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    qmd = Path(qmd)
    text = qmd.read_text()
    code, blocks = cells(text), _text_blocks(text)
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(c.source) for c in code],
        metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}})
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(PROJECT_ROOT)}})
    # The kernel picks its own matplotlib backend (inline), as under Quarto, whatever ours is.
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    runs, inline, start = [], [], time.perf_counter()
    # The kernel's own log (e.g. a warning that it talks over local TCP) is not the page's.
    with client.setup_kernel(env=env, stderr=subprocess.DEVNULL):
        for i, cell in enumerate(code):
            inline += _inline(client, inline_expressions(blocks[i]), qmd.name) if INLINE.search(blocks[i]) else []
            t0 = time.perf_counter()
            try:
                client.execute_cell(notebook.cells[i], i)
            except CellExecutionError as exc:
                last = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines()[-1]  # no colours
                raise ChapterError(f"{qmd.name}, cell {i} (line {cell.line}) failed: {last}") from exc
            run = CellRun(cell, time.perf_counter() - t0)
            for output in notebook.cells[i].outputs:
                _record(run, output)
            runs.append(run)
        if INLINE.search(blocks[-1]):
            inline += _inline(client, inline_expressions(blocks[-1]), qmd.name)
    return {"cells": runs, "inline": inline, "seconds": time.perf_counter() - start}
