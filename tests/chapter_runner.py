"""Execute a Quarto chapter the way `quarto render` does, without Quarto.

Test tooling, not part of `core`. CI has no Quarto, so the tests (and `python -m bench.report_time`)
use this to prove every chapter runs and shows what it should. Like Quarto's Jupyter engine it
starts a fresh kernel per page with the inline matplotlib backend, runs the ```{python} cells in
order, and evaluates each text block's `{python} expr` through the kernel's user_expressions, in
page order; the values go into the text by Quarto's own rules (`core.report.notebook`), so an
expression the real render would leave as raw code fails here. What each cell put on the page is
recorded: a figure shown twice, a stray print or an inline value that renders as `True` or
`np.float64(...)` is visible here.

The same execution is the downloadable notebook's test: the runner executes the chapter's notebook
(`notebook.skeleton`) with nbclient in a fresh kernel whose working directory is an empty temporary
folder, as a reader's would be, and returns the notebook a reader downloads (`notebook.download`).
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.paths import PROJECT_ROOT, REPORT_DIR
from core.report import notebook

CELL = notebook.CELL
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
    text_pt: float | None = None    # a returned matplotlib figure's smallest text on the page (pt)


@dataclass
class InlineValue:
    expr: str
    type: str                       # the value's type, e.g. "str", "float", "numpy.float64"
    text: str                       # what Quarto writes into the text (text/plain, quotes stripped)


class ChapterError(RuntimeError):
    pass


def cells(text: str) -> list[Cell]:
    return [Cell(i, text[: m.start()].count("\n") + 1, m.group(1)) for i, m in enumerate(CELL.finditer(text))]


def chapters() -> list[Path]:
    return sorted(REPORT_DIR.glob("*.qmd"))


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


def _evaluate(client, exprs: list[str], where: str) -> tuple[list[dict], list[InlineValue]]:
    """Evaluate `exprs` as Quarto does (user_expressions of an empty execute request), plus their
    types. Returns the results as Quarto's notebook.py stores them, and what the page shows."""
    asked = {f"v{i}": e for i, e in enumerate(exprs)}
    asked.update({f"t{i}": f"(lambda v: type(v).__module__ + '.' + type(v).__qualname__)({e})"
                  for i, e in enumerate(exprs)})
    reply = client.wait_for_reply(client.kc.execute("", user_expressions=asked))
    results = reply["content"].get("user_expressions", {})
    stored, values = [], []
    for i, expr in enumerate(exprs):
        value, kind = results.get(f"v{i}", {}), results.get(f"t{i}", {})
        if value.get("status") != "ok":
            raise ChapterError(f"{where}: inline `{{python}} {expr.strip()}` failed: "
                               f"{value.get('ename')}: {value.get('evalue')}")
        stored.append({"expression": expr, "result": value})
        text = value["data"].get("text/plain", "")
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
            text = text[1:-1]  # Quarto strips a string's quotes
        values.append(InlineValue(expr.strip(), kind["data"]["text/plain"].strip("'").replace("builtins.", ""), text))
    return stored, values


def _text_on_page(client) -> float | None:
    """The smallest text of the matplotlib figure the cell returned (IPython's `_`), on the page."""
    probe = ("(lambda f: __import__('core.plots', fromlist=['text_on_page']).text_on_page(f) "
             "if type(f).__name__ == 'Figure' and hasattr(f, 'canvas') else None)(_)")
    reply = client.wait_for_reply(client.kc.execute("", user_expressions={"pt": probe}))
    value = reply["content"].get("user_expressions", {}).get("pt", {})
    text = value.get("data", {}).get("text/plain", "None") if value.get("status") == "ok" else "None"
    return None if text == "None" else float(text)


def shown(book) -> tuple[int, int]:
    """(figures, tables) that the code cells of an executed notebook show."""
    run = CellRun(Cell(0, 0, ""), 0.0)
    for cell in book.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            _record(run, output)
    return run.figures, run.tables


def run_chapter(qmd: Path | str, timeout: int = 900) -> dict:
    """Execute `qmd` in a fresh Jupyter kernel as Quarto would. Returns {"cells": [CellRun],
    "inline": [InlineValue], "seconds": total, "notebook": the downloadable notebook}; a failing
    cell, or text that the page would show as raw `{python}` code, raises ChapterError naming it."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    qmd = Path(qmd)
    nb = notebook.skeleton(qmd.read_text())
    code = cells(qmd.read_text())
    # The kernel picks its own matplotlib backend (inline), as under Quarto, whatever ours is; it
    # imports this checkout's `core` (what a clone's editable install points at) from any folder.
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    runs, inline, start = [], [], time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="aelab-chapter-") as workdir:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": workdir}})
        # The kernel's own log (e.g. a warning that it talks over local TCP) is not the page's.
        with client.setup_kernel(env=env, stderr=subprocess.DEVNULL):
            for index, cell in enumerate(nb.cells):
                if cell.cell_type == "markdown" and (exprs := notebook.expressions(cell.source)):
                    stored, values = _evaluate(client, exprs, f"{qmd.name}, text from line {cell.metadata['line']}")
                    cell.metadata["user_expressions"] = stored
                    inline += values
                if cell.cell_type != "code":
                    continue
                source = code[len(runs)]
                t0 = time.perf_counter()
                try:
                    client.execute_cell(cell, index)
                except CellExecutionError as exc:
                    last = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines()[-1]  # no colours
                    raise ChapterError(f"{qmd.name}, cell {source.index} (line {source.line}) failed: {last}") from exc
                run = CellRun(source, time.perf_counter() - t0)
                for output in cell.outputs:
                    _record(run, output)
                if run.figures and any(o.get("output_type") == "execute_result" for o in cell.outputs):
                    run.text_pt = _text_on_page(client)
                runs.append(run)
    try:
        download = notebook.download(nb, qmd.stem, qmd.parent)
    except ValueError as exc:
        raise ChapterError(f"{qmd.name}: {exc}") from exc
    return {"cells": runs, "inline": inline, "seconds": time.perf_counter() - start, "notebook": download}


# Numbers typed into a page's prose ----------------------------------------------------------------

# A number in the text that no code computed can go stale when the weights or `core` change, so
# every number a page states comes from an inline expression. What the text may still carry:
NUMERAL = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")
ALLOWED_BEFORE = [
    re.compile(r"[^\W\d]-?$"),                  # part of a name: fc64, PCA-30, stride-2, exercise IDs A1-D2
    re.compile(r"\dx$"),                        # the second side of a size written as a name: 28x28
    re.compile(r"(?:et al\.|[A-Z][\w&]*[,*]?|\*,?)\s+$"),  # with a year: a citation ("Zhang et al. 2017")
    re.compile(r"(?:[Ss]ection|§)\s*$"),        # a section number
]
ALLOWED_AFTER = re.compile(r"-D\b|-NN\b|x\d")   # names: 2-D, 1-NN, 28x28
# Notation: a Gaussian N(0, I), the pixel range [0, 1], and 0, 1 and 2 in a formula ($z_1 = 0$).
NOTATION = re.compile(r"N\(0, I\)|\[0, 1\]|\$[^$\n]*\$")
DIGIT_NAMES = re.compile(r"\bdigits?\s+(?:\d\s*(?:,|and|or)\s*)*$")  # MNIST's classes: "the digits 4, 9 and 7"
YEAR = re.compile(r"(?:19|20)\d\d$")
# A ratio spelled out ("ten times worse") is a measured number too; other spelled-out counts are
# left to the reader's judgement ("one of", "the two models", "ten digits").
SPELLED_RATIO = re.compile(r"\b(?:three|four|five|six|seven|eight|nine|ten|eleven|twelve|[a-z]+teen|twenty|thirty|"
                           r"forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|million)\s+times\b", re.I)


def prose(text: str) -> str:
    """What a reader reads as text: the page without its code cells, code blocks and code spans
    (which include inline expressions), link targets, attributes, cross-references and front
    matter other than the title and subtitle. Blanked rather than removed, so lines keep their numbers."""
    blank = lambda m: re.sub(r"[^\n]", " ", m.group(0))
    front = notebook.FRONT_MATTER.match(text)
    if front:
        kept = "\n".join(line if re.match(r"(?:title|subtitle):", line) else "" for line in front.group(0).split("\n"))
        text = kept + text[front.end():]
    # Captions are prose too (Quarto computes nothing in them): they stay, the rest of a cell goes.
    text = CELL.sub(lambda m: "\n".join(line if re.match(r"#\|\s*(?:fig|tbl)-cap:", line) else ""
                                          for line in m.group(0).split("\n")), text)
    for pattern in (r"^```.*?^```[ \t]*$", r"`[^`]*`", r"<!--.*?-->", r"\]\([^)]*\)",
                    r"\{[#.][^}]*\}|\{\w[\w-]*=[^}]*\}", r"@(?:fig|tbl|sec)-[\w-]*\w"):
        text = re.sub(pattern, blank, text, flags=re.S | re.M)
    return text


def _expression_text(text: str) -> str:
    """The text that inline expressions spell out literally (their string literals, an f-string's
    replacement fields left out), each on the line of its expression: prose typed inside code."""
    import io
    import tokenize

    lines = [""] * (text.count("\n") + 1)
    body = CELL.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    for m in notebook.EXPRESSION.finditer(body):
        line = body.count("\n", 0, m.start(1))
        try:
            tokens = list(tokenize.generate_tokens(io.StringIO(m.group(1).strip()).readline))
        except (tokenize.TokenError, SyntaxError):
            continue
        for i, token in enumerate(tokens):
            key = 0 < i < len(tokens) - 1 and tokens[i - 1].string == "[" and tokens[i + 1].string == "]"
            if token.type == tokenize.STRING and not key:  # a subscript's key is not shown
                literal = re.sub(r"^[rRbBuUfF]*(['\"]{1,3})|(['\"]{1,3})$", "", token.string)
                if re.match(r"^[rRbBuU]*[fF]", token.string):
                    literal = re.sub(r"\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}", " ", literal)
                lines[line] += " " + literal
    return "\n".join(lines)


def typed_numbers(text: str) -> list[str]:
    """Each number typed into the page's prose, as "line N: ...context...", outside the allow-list:
    names (2-D, 28x28, fc64, PCA-30), exercise IDs, years in citations and section numbers. The
    text an inline expression spells out in its string literals counts as prose."""
    found = []
    lines = (f"{a}  {b}" for a, b in zip(prose(text).split("\n"), _expression_text(text).split("\n")))
    for number, line in enumerate(lines, 1):
        line = NOTATION.sub(lambda m: re.sub(r"(?<![\d.])[012](?![\d.])", "_", m.group(0)), line)
        for m in NUMERAL.finditer(line):
            before, after = line[: m.start()], line[m.end():]
            if re.match(r"\s*$", before) and re.match(r"[.)] ", after):
                continue  # a numbered list's marker
            if (ALLOWED_AFTER.match(after) or DIGIT_NAMES.search(before) and len(m.group(0)) == 1
                    or any(p.search(before) for p in ALLOWED_BEFORE[:2] + ALLOWED_BEFORE[3:])):
                continue
            if YEAR.match(m.group(0)) and ALLOWED_BEFORE[2].search(before):
                continue
            found.append(f"line {number}: {line[max(0, m.start() - 40): m.end() + 30].strip()}")
        found += [f"line {number}: {line[max(0, m.start() - 40): m.end() + 30].strip()}"
                  for m in SPELLED_RATIO.finditer(line)]
    return found
