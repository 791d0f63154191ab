"""The downloadable notebooks (core.report.notebook), built from synthetic executed notebooks: no
kernel here. `test_report.py` executes every real chapter's notebook (slow)."""
import json

import nbformat
import pytest

from core.report import notebook as nb

PAGE = """---
title: "A9 · A page"
subtitle: "with a subtitle"
---

```{python}
#| include: false
from core import report; report.setup()
```

## First {#sec-first}

Value `{python} n`; see @fig-a, @tbl-b and @sec-first, [A1](01-a1-spec-ae.qmd#sec-a1) and
[Reproduce](reproduce.qmd). ![The demo](demo.png){fig-alt="alt"}

```{python}
#| label: fig-a
#| fig-cap: "A figure."
make_figure()
```

```{python}
#| label: tbl-b
#| tbl-cap: "A table."
make_table()
```

```{python}
plotly_figure()
```

Closing `{python} n`.
"""
PNG = "iVBORw0KGgo="
PLOTLY = {"data": [], "layout": {}}


def _executed(page=PAGE):
    """The skeleton as the chapter runner (or Quarto) leaves it: outputs, and inline values."""
    book = nb.skeleton(page)
    outputs = [[], [{"output_type": "display_data", "data": {"image/png": PNG, "text/plain": "<Figure>"}, "metadata": {}}],
               [{"output_type": "display_data", "data": {"text/markdown": "| a |\n|---|\n| 1 |", "text/plain": "<Markdown>"},
                 "metadata": {}}],
               [{"output_type": "display_data", "metadata": {},
                 "data": {"text/markdown": "```{=html}\n<div>plotly.js</div>\n```", nb.PLOTLY: PLOTLY}}]]
    code = [c for c in book.cells if c.cell_type == "code"]
    for cell, outs in zip(code, outputs):
        cell.outputs = [nbformat.from_dict(o) for o in outs]
    for cell in book.cells:
        if cell.cell_type == "markdown":
            cell.metadata["user_expressions"] = [{"expression": e, "result": {"status": "ok", "data": {"text/plain": "42"}}}
                                                 for e in nb.expressions(cell.source)]
    return book


def test_the_skeleton_is_the_pages_cells_in_order_with_their_lines():
    book = nb.skeleton(PAGE)
    kinds = [c.cell_type for c in book.cells]
    assert kinds == ["raw", "code", "markdown", "code", "code", "code", "markdown"]
    assert [c.metadata["line"] for c in book.cells] == [1, 6, 11, 16, 22, 28, 32]
    assert book.cells[2].source.startswith("## First") and book.cells[-1].source == "Closing `{python} n`."


def test_the_download_reads_and_runs_without_quarto(tmp_path):
    (tmp_path / "demo.png").write_bytes(b"\x89PNG fake")
    out = nb.download(_executed(), "09-page", tmp_path)
    nbformat.validate(out)
    cells = [(c.cell_type, c.source) for c in out.cells]
    intro = cells[0][1]
    assert intro.startswith("# A9 · A page\n\n*with a subtitle*") and "09-page.html" in intro
    # The set-up cell the page hides is kept (the next cells need it), without Quarto's options.
    assert cells[1] == ("code", "# (hidden on the web page)\nfrom core import report; report.setup()")
    text = cells[2][1]
    assert '<a id="sec-first"></a>' in text and "## First\n" in text and "{#" not in text
    assert "Value 42;" in text and "{python}" not in text
    assert "[Figure 1](#fig-a)" in text and "[Table 1](#tbl-b)" in text and "[First](#sec-first)" in text
    assert "(01-a1-spec-ae.ipynb#sec-a1)" in text and "(reproduce.ipynb)" in text and ".qmd" not in text
    assert "![The demo](attachment:demo.png)" in text and "fig-alt" not in text
    assert out.cells[2].attachments["demo.png"]["image/png"]
    assert cells[3] == ("code", "make_figure()") and cells[4][1] == '<a id="fig-a"></a>\n\n*Figure 1: A figure.*'
    assert cells[6][1] == '<a id="tbl-b"></a>\n\n*Table 1: A table.*'
    assert out.cells[3].outputs[0]["data"]["image/png"] == PNG
    # Plotly: its JSON (JupyterLab draws it), not the Markdown that carries plotly.js into the page.
    plotly = out.cells[7].outputs[0]["data"]
    assert plotly[nb.PLOTLY] == PLOTLY and "text/markdown" not in plotly
    assert out.metadata["kernelspec"]["name"] == "python3"


def test_the_download_refuses_text_that_the_page_shows_as_raw_code(tmp_path):
    (tmp_path / "demo.png").write_bytes(b"\x89PNG fake")
    page = PAGE.replace("Closing `{python} n`.", "Closing`{python} n``{python} n`.")
    with pytest.raises(ValueError, match=r"09-page.qmd, text from line 32: `\{python\} n`: it starts right after"):
        nb.download(_executed(page), "09-page", tmp_path)


def _kept(page=PAGE):
    """Quarto's kept notebook of the page: the front matter as a markdown cell, code cells with
    their options rewritten, the text after the last code cell split in two cells."""
    executed = _executed(page)
    cells = []
    for cell in executed.cells:
        if cell.cell_type == "raw":
            cells.append(nbformat.v4.new_markdown_cell("---\n" + cell.source + "---"))
        elif cell.cell_type == "code":
            new = nbformat.v4.new_code_cell(cell.source.replace('"A figure."', "A figure."), execution_count=1)
            new.outputs = cell.outputs
            cells.append(new)
        else:
            for part in cell.source.split("\n\n") if cell is executed.cells[-1] else [cell.source]:
                cells.append(nbformat.v4.new_markdown_cell(part, metadata=dict(cell.metadata)))
    kept = nbformat.v4.new_notebook(cells=cells, metadata={"language_info": {"name": "python"}})
    return kept


def test_the_executed_notebook_quarto_keeps_is_merged_by_code_cell():
    merged = nb.merge_executed(PAGE, _kept())
    assert [c.cell_type for c in merged.cells] == [c.cell_type for c in nb.skeleton(PAGE).cells]
    assert merged.cells[3].outputs[0]["data"]["image/png"] == PNG
    assert nb.user_expressions(merged.cells[-1]) == {"n": {"status": "ok", "data": {"text/plain": "42"}}}
    assert merged.metadata["language_info"] == {"name": "python"}
    with pytest.raises(ValueError, match="differ from the chapter's"):
        nb.merge_executed(PAGE.replace("make_table()", "other_table()"), _kept())


def test_post_render_writes_each_kept_notebook_into_the_site_and_removes_it(tmp_path):
    report = tmp_path / "report"
    report.mkdir()
    (report / "09-page.qmd").write_text(PAGE)
    (report / "demo.png").write_bytes(b"\x89PNG fake")
    stale = report / "09-page.quarto_ipynb"
    stale.write_text(nbformat.writes(_kept(PAGE.replace("Value", "Old value"))))
    nbformat.write(_kept(), report / "09-page.quarto_ipynb_1")
    import os
    os.utime(stale, (0, 0))  # older: the newest kept notebook is the one that counts
    site = tmp_path / "_site"
    written = nb.post_render(tmp_path, site, ["_site/report/09-page.html", "_site/report/09-page.ipynb"])
    assert written == [site / "report" / "09-page.ipynb"] and not list(report.glob("*.quarto_ipynb*"))
    out = json.loads((site / "report" / "09-page.ipynb").read_text())
    assert "Value 42;" in "".join(out["cells"][2]["source"])


def test_post_render_says_which_page_has_no_executed_notebook(tmp_path):
    report = tmp_path / "report"
    report.mkdir()
    (report / "09-page.qmd").write_text(PAGE)
    with pytest.raises(SystemExit, match="no executed notebook was kept for 09-page.*keep-ipynb"):
        nb.post_render(tmp_path, tmp_path / "_site", ["_site/report/09-page.html"])
