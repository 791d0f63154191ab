"""Each chapter as a Jupyter notebook a reader can download, run and read: the page's cells, its
text with every inline value filled in, its figures and tables with their captions.

A chapter executes once per render: Quarto runs it for the HTML page and keeps that executed
notebook (`keep-ipynb` in _quarto.yml); after the render, `python -m core.report.notebook` (the
project's post-render step) turns each kept notebook into `_site/report/NAME.ipynb`, the file the
page's *Other Formats › Jupyter* link downloads. `make test` builds the same notebook from the same
functions when tests/chapter_runner.py executes a chapter.

Quarto's inline-expression rules are reproduced here from its sources (quarto-cli 1.10:
`src/resources/jupyter/notebook.py` finds the expressions a kernel evaluates,
`src/core/execute-inline.ts` and `src/core/jupyter/jupyter-inline.ts` put the values into the
text), so that a page which would show raw `{python} ...` code fails the tests instead.
"""
from __future__ import annotations

import base64
import mimetypes
import os
import re
import sys
from pathlib import Path

import yaml

CELL = re.compile(r"^```\{python\}[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
FRONT_MATTER = re.compile(r"\A---\n(.*?\n)---[ \t]*\n", re.S)
OPTION = re.compile(r"#\|\s*([\w-]+):\s*(.*)")
# The kernel side (notebook.py): every match in a markdown cell's whole text is evaluated.
EXPRESSION = re.compile(r"(?:^|[^`])`\{python\}[ \t]([^`]+)`", re.M)
# The page side (execute-inline.ts): the same pattern, applied to each line of the cell on its own;
# a match whose value is missing or renders as an empty string is left in the text as it is.
LINE_EXPRESSION = re.compile(r"(^|[^`])`\{python\}[ \t]([^`]+)`")
# jupyter-inline.ts escapes these in a string's value (JavaScript's `+-.` is the range "+,-.").
ESCAPED = re.compile(r"([\\`*_{}\[\]()>#+,\-.!])")
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
PLOTLY = "application/vnd.plotly.v1+json"


def options(source: str) -> dict[str, str]:
    """A code cell's `#| key: value` options, values as YAML reads them."""
    found = {}
    for line in source.splitlines():
        if m := OPTION.match(line):
            try:
                found[m.group(1)] = yaml.safe_load(m.group(2))
            except yaml.YAMLError:
                found[m.group(1)] = m.group(2).strip()
    return found


def skeleton(text: str):
    """The chapter as Quarto's engine sees it: the front matter, then its text and code cells in
    page order (blank text between two code cells makes no cell). Each cell's metadata records
    the line of the .qmd it starts on."""
    import nbformat

    cells, front = [], FRONT_MATTER.match(text)
    if front:
        cells.append(nbformat.v4.new_raw_cell(front.group(1), metadata={"line": 1, "front_matter": True}))
    pos = front.end() if front else 0
    for m in list(CELL.finditer(text)) + [None]:
        block = text[pos: m.start() if m else len(text)]
        if block.strip():
            line = text.count("\n", 0, pos) + 1 + (len(block) - len(block.lstrip("\n")))
            cells.append(nbformat.v4.new_markdown_cell(block.strip("\n"), metadata={"line": line}))
        if m:
            cells.append(nbformat.v4.new_code_cell(m.group(1).rstrip("\n"),
                                                   metadata={"line": text.count("\n", 0, m.start()) + 1}))
            pos = m.end()
    return nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": dict(KERNELSPEC)})


def expressions(markdown: str) -> list[str]:
    """The inline expressions Quarto's kernel evaluates in this text, as it captures them."""
    return EXPRESSION.findall(markdown)


def _escaped(text: str) -> str:
    """jupyter-inline.ts: a quoted string loses its quotes and has Markdown's characters escaped;
    anything else is written as it is."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return ESCAPED.sub(r"\\\1", text[1:-1].replace("\\", "\\\\"))
    return text


def inline_text(result: dict) -> str:
    """What Quarto writes into an HTML page for one user-expression result ("" keeps the code)."""
    data = result.get("data", {})
    for mime in ("text/html", "text/markdown", "image/svg+xml", "image/png", "image/jpeg", "text/plain"):
        if mime in data:
            value = "".join(data[mime]) if isinstance(data[mime], list) else str(data[mime])
            return {"text/html": f"`{value}`{{=html}}", "text/markdown": value}.get(mime, _escaped(value))
    return ""


def resolve(markdown: str, results: dict[str, dict]) -> tuple[str, list[str]]:
    """The text with each inline expression replaced by its value, as Quarto does it, and why each
    `{python}` that Quarto would leave as raw code stays raw. `results`: expression as the kernel
    side captured it -> its user-expression result."""
    trimmed = {k.strip(): v for k, v in results.items()}
    lines, raw = [], []
    for line in markdown.split("\n"):
        filled = set()

        def value(m):
            text = inline_text(results.get(m.group(2).strip(), {}))
            if not text:
                return m.group(0)
            filled.add(m.start() + len(m.group(1)))
            return m.group(1) + text

        lines.append(LINE_EXPRESSION.sub(value, line))
        for start in (m.start() for m in re.finditer(r"`\{python\}", line)):
            if start in filled:
                continue
            rest = line[start + len("`{python}"):]
            expr = rest.split("`")[0].strip()
            if start and line[start - 1] == "`":
                why = "it starts right after another inline expression's closing backtick, so Quarto never evaluates it"
            elif not re.match(r"[ \t]", rest):
                why = "`{python}` is not followed by a space or tab, so it is no expression for Quarto"
            elif "`" not in rest:
                why = "it spans a line break, and Quarto fills in expressions line by line"
            elif expr in trimmed and not inline_text(trimmed[expr]):
                why = "its value is an empty string, which Quarto leaves as the code"
            else:
                why = "Quarto found no value for it"
            raw.append(f"`{{python}} {expr}`: {why}")
    return "\n".join(lines), raw


def user_expressions(cell) -> dict[str, dict]:
    """A markdown cell's evaluated expressions, as Quarto's notebook.py stores them."""
    return {e["expression"]: e["result"] for e in cell.get("metadata", {}).get("user_expressions", [])}


# The downloadable notebook ----------------------------------------------------------------------

def _captioned(nb) -> dict[str, tuple[str, int, str]]:
    """label -> (kind, number, caption) for every figure and table, numbered per page as Quarto does."""
    found, counts = {}, {"fig": 0, "tbl": 0}
    for cell in nb.cells:
        if cell.cell_type == "code":
            opts = options(cell.source)
            kind = str(opts.get("label", "")).split("-")[0]
            if kind in counts and opts.get(f"{kind}-cap"):
                counts[kind] += 1
                found[opts["label"]] = (kind, counts[kind], str(opts[f"{kind}-cap"]))
    return found


def _sections(nb) -> dict[str, str]:
    heading = re.compile(r"^#{1,6}\s+(.*?)\s*\{#(sec-[\w-]+)[^}]*\}\s*$", re.M)
    return {m.group(2): m.group(1) for c in nb.cells if c.cell_type == "markdown"
            for m in heading.finditer(c.source)}


def _markdown(text: str, captioned: dict, sections: dict, page_dir: Path, attachments: dict) -> str:
    """Pandoc/Quarto Markdown -> what Jupyter renders: anchors for the page's sections, cross
    references as links, links to other chapters as links to their notebooks, images embedded."""
    def anchor(m):
        return f'<a id="{m.group(2)}"></a>\n\n{m.group(1)}'

    def reference(m):
        label = m.group(1)
        if label in captioned:
            kind, number, _ = captioned[label]
            return f"[{'Figure' if kind == 'fig' else 'Table'} {number}](#{label})"
        return f"[{sections.get(label, label)}](#{label})"

    def image(m):
        path = (page_dir / m.group(2)).resolve()
        if not path.is_file():
            raise ValueError(f"the image {m.group(2)} is not in {page_dir}")
        name = path.name
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        attachments[name] = {kind: base64.b64encode(path.read_bytes()).decode()}
        return f"![{m.group(1)}](attachment:{name})"

    text = re.sub(r"^(#{1,6}\s+.*?)\s*\{#((?:sec)-[\w-]+)[^}]*\}\s*$", anchor, text, flags=re.M)
    text = re.sub(r"(?<![\w{#@/])@((?:fig|tbl|sec)-[\w-]*\w)", reference, text)
    text = re.sub(r"!\[([^\]]*)\]\(([^)\s]+)\)(\{[^}]*\})?", image, text)
    return re.sub(r"\]\(([\w.-]+)\.qmd(#[\w-]+)?\)", r"](\1.ipynb\2)", text)


def _output(output: dict) -> dict:
    """An output as the notebook keeps it: a Plotly figure as Plotly's JSON, which JupyterLab
    draws itself, without the Markdown that carries it (plotly.js inlined) into the HTML page."""
    data = output.get("data", {})
    if PLOTLY in data:
        output = dict(output, data={PLOTLY: data[PLOTLY],
                                    "text/plain": "An interactive Plotly figure: JupyterLab draws it."})
    return output


def intro(title: str, subtitle: str | None, page: str) -> str:
    lines = [f"# {title}", ""] + ([f"*{subtitle}*", ""] if subtitle else [])
    return "\n".join(lines + [
        f"This notebook is the report page `{page}.html` of Autoencoder Lab, with the outputs of the run "
        "that rendered the site. To run it again: in a clone of the repository, after `make test` or "
        "`make demo` has set up `.venv` and fetched MNIST, open it with that environment (for instance "
        "`.venv/bin/jupyter lab`) and run all cells. It can sit anywhere: the `core` package reads the "
        "shipped weights from its own clone. Links to other chapters open their notebooks, which the site "
        "keeps beside this one."])


def download(executed, page: str, page_dir: Path):
    """The notebook a reader downloads, from a skeleton executed in page order whose markdown cells
    hold their `user_expressions` (Quarto's kept notebook, or the chapter runner's). Raises
    ValueError naming each inline expression that the page would show as raw code."""
    import nbformat

    captioned, sections = _captioned(executed), _sections(executed)
    cells, problems = [], []
    for cell in executed.cells:
        line = cell.get("metadata", {}).get("line", "?")
        if cell.cell_type == "raw" and cell.metadata.get("front_matter"):
            meta = yaml.safe_load(cell.source) or {}
            cells.append(nbformat.v4.new_markdown_cell(intro(meta.get("title", page), meta.get("subtitle"), page)))
        elif cell.cell_type == "markdown":
            text, raw = resolve(cell.source, user_expressions(cell))
            problems += [f"{page}.qmd, text from line {line}: {r}" for r in raw]
            attachments = {}
            new = nbformat.v4.new_markdown_cell(_markdown(text, captioned, sections, page_dir, attachments))
            if attachments:
                new.attachments = attachments
            cells.append(new)
        elif cell.cell_type == "code":
            opts = options(cell.source)
            code = "\n".join(line for line in cell.source.splitlines() if not line.startswith("#|")).strip("\n")
            if opts.get("include") is False:
                code = "# (hidden on the web page)\n" + code
            new = nbformat.v4.new_code_cell(code, execution_count=cell.get("execution_count"))
            new.outputs = [nbformat.from_dict(_output(o)) for o in cell.get("outputs", [])]
            cells.append(new)
            if opts.get("label") in captioned:
                kind, number, caption = captioned[opts["label"]]
                name = "Figure" if kind == "fig" else "Table"
                cells.append(nbformat.v4.new_markdown_cell(
                    f'<a id="{opts["label"]}"></a>\n\n*{name} {number}: {caption}*'))
    if problems:
        raise ValueError("Quarto would show raw code:\n" + "\n".join(problems))
    metadata = {"kernelspec": dict(KERNELSPEC)}
    if "language_info" in executed.metadata:
        metadata["language_info"] = executed.metadata["language_info"]
    nb = nbformat.v4.new_notebook(cells=cells, metadata=metadata)
    nbformat.validate(nb)
    return nb


def merge_executed(text: str, kept) -> object:
    """The chapter's skeleton with the outputs and inline values of Quarto's executed notebook
    (its cells are the same code cells, in the same order; markdown cells are matched by the code
    cell they follow, since Quarto may split text differently)."""
    nb = skeleton(text)
    ours = [c for c in nb.cells if c.cell_type == "code"]
    theirs = [c for c in kept.cells if c.cell_type == "code"]
    strip = lambda src: [line for line in src.splitlines() if not line.startswith("#|")]
    if len(ours) != len(theirs) or any(strip(a.source) != strip(b.source) for a, b in zip(ours, theirs)):
        raise ValueError("the executed notebook's code cells differ from the chapter's: render it again")
    values: dict[int, list] = {}
    seen = 0
    for cell in kept.cells:
        seen += cell.cell_type == "code"
        values.setdefault(seen, []).extend(cell.get("metadata", {}).get("user_expressions", []))
    seen = 0
    for cell in nb.cells:
        if cell.cell_type == "code":
            mine = theirs[seen]
            cell.outputs, cell.execution_count = mine.get("outputs", []), mine.get("execution_count")
            seen += 1
        elif cell.cell_type == "markdown":
            cell.metadata["user_expressions"] = values.get(seen, [])
    nb.metadata.update({k: v for k, v in kept.metadata.items() if k == "language_info"})
    return nb


def write(nb, target: Path) -> None:
    """Atomically (temp + rename), so a reader never downloads half a notebook."""
    import nbformat

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(nbformat.writes(nb))
    os.replace(tmp, target)


def post_render(project: Path, output_dir: Path, rendered: list[str]) -> list[Path]:
    """Quarto's post-render step: each kept executed notebook of report/ becomes the downloadable
    `_site/report/NAME.ipynb`, then the kept files are removed (a stale one would make Quarto
    number the next one NAME.quarto_ipynb_1). Every page rendered now must have one."""
    import nbformat

    report = project / "report"
    kept: dict[str, list[Path]] = {}
    for path in report.glob("*.quarto_ipynb*"):
        kept.setdefault(path.name.split(".quarto_ipynb")[0], []).append(path)
    # Pages with code cells go through Jupyter (and leave a notebook); a text-only page would not.
    sources = {Path(p).stem: report / f"{Path(p).stem}.qmd" for p in rendered
               if p.endswith(".html") and Path(p).parent.name == "report"}
    pages = {page for page, qmd in sources.items() if qmd.exists() and CELL.search(qmd.read_text())}
    missing = sorted(pages - set(kept))
    if missing:
        raise SystemExit(f"no executed notebook was kept for {', '.join(missing)}: is `keep-ipynb: true` "
                         "set for the html format in _quarto.yml?")
    written = []
    for page, paths in sorted(kept.items()):
        newest = max(paths, key=lambda p: p.stat().st_mtime)
        qmd = report / f"{page}.qmd"
        if page in pages or not rendered:
            nb = download(merge_executed(qmd.read_text(), nbformat.read(newest, as_version=4)), page, report)
            write(nb, output_dir / "report" / f"{page}.ipynb")
            written.append(output_dir / "report" / f"{page}.ipynb")
        for path in paths:
            path.unlink()
    return written


def main() -> None:
    project = Path(os.environ.get("QUARTO_PROJECT_DIR", ".")).resolve()
    output_dir = Path(os.environ.get("QUARTO_PROJECT_OUTPUT_DIR", project / "_site"))
    rendered = [f for f in os.environ.get("QUARTO_PROJECT_OUTPUT_FILES", "").splitlines() if f]
    try:
        written = post_render(project, output_dir, rendered)
    except ValueError as exc:
        sys.exit(f"core.report.notebook: {exc}")
    print(f"Wrote {len(written)} notebook(s): {', '.join(p.name for p in written)}")


if __name__ == "__main__":
    main()
