"""The report without Quarto: every chapter's cells execute, and the .qmd files are well-formed."""
import re

import chapter_runner as qmd
import nbformat
import pytest
import yaml

from core import plots

CHAPTERS = qmd.chapters()
# The exercise IDs of EXERCISES.md (stable by its own rule); re-read from it when it is beside us.
EXERCISE_IDS = [f"{part}{i}" for part, n in zip("ABCD", (8, 6, 4, 2)) for i in range(1, n + 1)]
SPEC = qmd.PROJECT_ROOT.parent / "shared" / "spec" / "EXERCISES.md"
LABEL = re.compile(r"#\|\s*label:\s*(\S+)|\{#((?:sec|fig|tbl)-[\w-]+)")
REF = re.compile(r"(?<![\w{#])@((?:sec|fig|tbl)-[\w-]*\w)")


def test_there_are_chapters():
    assert any(p.name == "index.qmd" for p in CHAPTERS) and len(CHAPTERS) >= 2


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_front_matter_is_valid_yaml_with_a_title(chapter):
    text = chapter.read_text()
    assert text.startswith("---\n"), "no YAML front matter"
    meta = yaml.safe_load(text.split("---\n", 2)[1])
    assert isinstance(meta, dict) and meta.get("title")


def test_summary_table_shows_every_reference_value_of_the_spec_as_written():
    from core.analysis import reference
    from core.report import summary

    rows = summary.comparison_rows({})
    assert [r["reference"] for r in rows] == [f"{v[2]:g}" for v in reference.REFERENCE.values()]
    if SPEC.exists():  # the spec lives beside the checkout, not in it
        sentences = re.findall(r"Reference[^:\n]*:([^\n]*)", SPEC.read_text())
        text = re.sub(r"\([^)]*\)|\w+-\d+", "", " ".join(sentences))  # drop "(digits 0..9)", "PCA-30"
        numbers = [f"{float(n):g}" for n in re.findall(r"\d+(?:\.\d+)?", text)]
        assert len(numbers) >= 24 and sorted(numbers) == sorted(r["reference"] for r in rows)


def test_markdown_tables_size_columns_by_their_longest_entry():
    from core import report

    lines = report.table([{"model": "a", "command": "`python -m core.training something --threads 1`"}]).data.splitlines()
    assert lines[1] == "|" + "-" * len("model") + "|" + "-" * len("`python -m core.training something --threads 1`") + "|"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_cross_references_resolve_and_labels_are_unique(chapter):
    text = chapter.read_text()
    labels = [a or b for a, b in LABEL.findall(text)]
    assert len(labels) == len(set(labels)), f"duplicate labels: {sorted(l for l in labels if labels.count(l) > 1)}"
    # A reference to another page's section is written as a link (page.qmd#sec-x), not @sec-x.
    missing = sorted(set(REF.findall(text)) - set(labels))
    assert not missing, f"unresolved references: {missing}"


def test_labels_are_unique_across_the_site():
    seen = {}
    for chapter in CHAPTERS:
        for a, b in LABEL.findall(chapter.read_text()):
            label = a or b
            assert label not in seen, f"{label} in both {seen.get(label)} and {chapter.name}"
            seen[label] = chapter.name


def _exercise_homes() -> dict[str, str]:
    """Exercise ID (e.g. "A7") -> the page holding its section {#sec-a7}."""
    return {m.group(1).upper(): chapter.name for chapter in CHAPTERS
            for m in re.finditer(r"\{#sec-([a-d]\d)\b", chapter.read_text())}


def _prose(text: str) -> str:
    """The chapter's text outside code cells, inline code and headings."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    text = re.sub(r"`[^`]*`", "", text)
    return re.sub(r"^#.*$", "", text, flags=re.M)


def test_every_exercise_has_one_section():
    assert sorted(_exercise_homes()) == EXERCISE_IDS
    if SPEC.exists():
        assert sorted(set(re.findall(r"^- \*\*([A-D]\d) ", SPEC.read_text(), flags=re.M))) == EXERCISE_IDS


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_mentions_of_another_pages_exercise_link_to_its_section(chapter):
    homes, text = _exercise_homes(), _prose(chapter.read_text())
    for page, label in re.findall(r"\]\(([\w-]+\.qmd)#([\w-]+)\)", text):
        target = chapter.parent / page
        assert target.exists(), f"link to missing page {page}"
        assert f"{{#{label}" in target.read_text(), f"{page} has no section {{#{label}}}"
    bare = [m.group(1) for m in re.finditer(r"(?<![\w\[/-])([A-D]\d)(?![\w\]])", text)
            if homes.get(m.group(1), chapter.name) != chapter.name]
    assert not bare, f"mentions of other pages' exercises without a link: {bare}"


RUNNER_PAGE = """---
title: t
---

```{python}
#| include: false
from core import report
SETUP
import matplotlib.pyplot as plt
```

```{python}
#| label: fig-x
#| fig-cap: "a figure"
plt.subplots()[0]
```

```{python}
print("stray")
report.table([{"a": 1.5}])
```

Inline: `{python} 2 + 2`, `{python} "a string"`, `{python} 1 > 0`.
"""


def test_runner_sees_what_quarto_would_put_on_the_page(tmp_path):
    page = tmp_path / "page.qmd"
    page.write_text(RUNNER_PAGE.replace("SETUP", "report.setup()"))
    result = qmd.run_chapter(page)
    assert [(r.figures, r.tables) for r in result["cells"]] == [(0, 0), (1, 0), (0, 1)]
    assert result["cells"][2].stdout == "stray\n"
    assert [(v.type, v.text) for v in result["inline"]] == [("int", "4"), ("str", "a string"), ("bool", "True")]
    assert [c.options for c in qmd.cells(page.read_text())][1] == {"label": "fig-x", "fig-cap": '"a figure"'}


def test_runner_sees_a_figure_shown_twice_without_the_report_setup(tmp_path):
    """What report.setup() prevents: Jupyter's inline backend shows a returned pyplot figure again."""
    page = tmp_path / "page.qmd"
    page.write_text(RUNNER_PAGE.replace("SETUP", ""))
    assert qmd.run_chapter(page)["cells"][1].figures == 2


def test_a_failing_cell_is_named(tmp_path):
    page = tmp_path / "page.qmd"
    page.write_text("---\ntitle: t\n---\n\n```{python}\nx = 1\n```\n\n```{python}\n1 / 0\n```\n")
    with pytest.raises(qmd.ChapterError, match=r"cell 1 \(line 9\) failed: ZeroDivisionError"):
        qmd.run_chapter(page)


# Quarto's inline rules (quarto-cli 1.10: notebook.py finds the expressions, execute-inline.ts and
# jupyter-inline.ts fill them in line by line) -------------------------------------------------

def _values(**exprs):
    """user-expression results as Quarto's notebook.py stores them, from {expression: repr}."""
    return {e.replace("_", " "): {"status": "ok", "data": {"text/plain": r}} for e, r in exprs.items()}


def test_inline_values_go_into_the_text_as_quarto_writes_them():
    from core.report import notebook as nb

    text = "a `{python} n` b `{python} s`, c `{python}  n` d\n`{python} s` at a line's start"
    assert nb.expressions(text) == ["n", "s", " n", "s"]
    out, raw = nb.resolve(text, {"n": {"data": {"text/plain": "42"}}, "s": {"data": {"text/plain": "'1,000.5'"}},
                                 " n": {"data": {"text/plain": "42"}}})
    # A string loses its quotes and has Markdown's characters escaped (the comma and point too).
    assert out == "a 42 b 1\\,000\\.5, c 42 d\n1\\,000\\.5 at a line's start" and raw == []


def test_an_expression_right_after_another_is_left_as_raw_code():
    """Quarto's pattern needs a character other than a backtick before `{python}`: the second of
    two adjacent expressions is never evaluated, and the page shows its code."""
    from core.report import notebook as nb

    text = "epochs`{python} a``{python} b`."
    assert nb.expressions(text) == ["a"]  # the kernel is never asked for b
    out, raw = nb.resolve(text, {"a": {"data": {"text/plain": "', as asked'"}}})
    assert out == "epochs\\, as asked`{python} b`." and len(raw) == 1
    assert "right after another inline expression's closing backtick" in raw[0]


def test_an_empty_string_value_is_left_as_raw_code():
    from core.report import notebook as nb

    out, raw = nb.resolve("component`{python} s` here", {"s": {"data": {"text/plain": "''"}}})
    assert out == "component`{python} s` here" and len(raw) == 1 and "empty string" in raw[0]


def test_expressions_across_a_line_break_or_without_a_space_are_raw_code():
    from core.report import notebook as nb

    text = "x `{python} (1 +\n2)` y `{python}\nz` w"
    out, raw = nb.resolve(text, {"(1 +\n2)": {"data": {"text/plain": "3"}}})
    assert out == text and len(raw) == 2
    assert "line break" in raw[0] and "not followed by a space" in raw[1]


RAW_PAGE = """---
title: t
---

```{python}
s = ", as asked"
```

Adjacent: epochs`{python} s``{python} s`. Empty: component`{python} "" if True else "s"`.
"""


def test_runner_fails_on_both_raw_code_patterns(tmp_path):
    page = tmp_path / "page.qmd"
    page.write_text(RAW_PAGE)
    with pytest.raises(qmd.ChapterError) as err:
        qmd.run_chapter(page)
    message = str(err.value)
    assert "page.qmd, text from line 9" in message
    assert "closing backtick" in message and "empty string" in message


# Numbers typed into prose ----------------------------------------------------------------------

TYPED = """---
title: "A7 · a 2-D code"
---

```{python}
#| label: fig-x
#| fig-cap: "The first 2,000 test images."
x = 32  # code may hold numbers
```

## A8 Six layers {#sec-a8}

The DnCNN (Zhang et al. 2017) has six 3x3 conv layers of 32 channels, `{python} depth` in the code.
Names: 2-D, 28x28, 1-NN, fc64, PCA-30, A2–A6, Section 4, digits 4, 9 and 7, $z_1 = 0$, N(0, I), [0, 1].
It is ten times worse: `{python} f"{ratio:.0f} over 55,000 images" if ok else "none"`, `{python} rows["noise 0.5"]`.

1. a numbered list's marker
"""


def test_typed_numbers_are_found_outside_the_allow_list():
    found = qmd.typed_numbers(TYPED)
    lines = [int(f.split(":")[0].split()[1]) for f in found]
    assert lines == [7, 13, 15, 15], found                 # the caption, "32", "55,000" (in code's text), "ten times"
    assert "2,000" in found[0] and "32 channels" in found[1] and "55,000" in found[2] and "ten times" in found[3]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_no_page_types_a_number_into_its_prose(chapter):
    """Every number on a page comes from an inline expression (or is a name such as 2-D or 28x28,
    an exercise ID, a year in a citation or a section number)."""
    found = qmd.typed_numbers(chapter.read_text())
    assert not found, f"{chapter.name}: numbers typed into the prose:\n" + "\n".join(found)


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_chapter_executes_and_shows_each_figure_and_table_once_with_caption(chapter, mnist):
    """Each chapter in a fresh kernel, as Quarto renders it: a cell shows a figure exactly when it
    has a fig- label and caption (once), a table exactly when tbl-; nothing is printed by accident;
    every inline value is plain text (str, int or float: not a bool or a numpy scalar's repr)."""
    result = qmd.run_chapter(chapter)
    assert len(result["cells"]) == len(qmd.cells(chapter.read_text()))
    for run in result["cells"]:
        label, where = run.cell.options.get("label", ""), f"{chapter.name} cell {run.cell.index} (line {run.cell.line})"
        figure, table = label.startswith("fig-"), label.startswith("tbl-")
        assert run.figures == int(figure), f"{where}: shows {run.figures} figure(s) (label {label!r})"
        assert run.tables == int(table), f"{where}: shows {run.tables} table(s) (label {label!r})"
        assert not figure or run.cell.options.get("fig-cap"), f"{where}: figure without caption"
        assert not table or run.cell.options.get("tbl-cap"), f"{where}: table without caption"
        # Text results are shown on purpose (a model's layers); a default repr or a figure's is an accident.
        accidents = [o for o in run.other if re.search(r"<.* at 0x|<Figure size|^\(<", o)]
        assert not run.stdout and not accidents, f"{where}: stray output {run.stdout!r} {accidents}"
        # Any text/html or JavaScript output makes Quarto load require.js and jQuery from CDNs:
        # the page would need the network (offline reading).
        web = run.mimes & {"text/html", "application/javascript"}
        assert not web, f"{where}: {sorted(web)} output (Quarto then adds CDN scripts to the page)"
        # Shrunk to the page's column, a figure's smallest text must still read.
        assert run.text_pt is None or run.text_pt >= plots.MIN_TEXT_PT, \
            f"{where}: its smallest text is {run.text_pt:.1f} pt on the page (at least {plots.MIN_TEXT_PT})"
    for value in result["inline"]:
        assert value.type in ("str", "int", "float"), f"{chapter.name}: `{value.expr}` is a {value.type}"
        assert "`" not in value.text and "\\" not in value.text, f"{chapter.name}: `{value.expr}` -> {value.text!r}"
    _check_download(chapter, result)


def _check_download(chapter, result):
    """The same execution is the downloadable notebook's: it ran top to bottom with nbclient in a
    fresh kernel, outside the project root; it must show the page's figures and tables, with their
    captions, and its links must lead to the other chapters' notebooks and their sections."""
    book = result["notebook"]
    nbformat.validate(book)
    page = {"fig": 0, "tbl": 0}
    for cell in qmd.cells(chapter.read_text()):
        kind = cell.options.get("label", "").split("-")[0]
        page[kind] = page.get(kind, 0) + 1
    assert qmd.shown(book) == (page["fig"], page["tbl"]), f"{chapter.name}: the notebook's figures/tables differ from the page's"
    text = "\n".join(c.source for c in book.cells if c.cell_type == "markdown")
    assert len(re.findall(r"^\*(?:Figure|Table) \d+: ", text, flags=re.M)) == page["fig"] + page["tbl"]
    assert "{python}" not in text and not re.search(r"\{#[\w-]+\}|\]\([\w-]+\.qmd", text)
    ids = set(re.findall(r'<a id="([\w-]+)"></a>', text))
    for target, anchor in re.findall(r"\]\(([\w-]*\.ipynb)?#([\w-]+)\)", text):
        home = (qmd.REPORT_DIR / target).with_suffix(".qmd") if target else None
        assert anchor in ids if not target else home.exists() and f"{{#{anchor}" in home.read_text(), (chapter.name, target, anchor)


def test_facts_read_a_models_numbers_from_the_model():
    import torch
    from torch import nn

    from core.report import facts

    class Net(nn.Module):  # convolutions, then a Linear head returning two vectors (as a VAE encoder)
        def __init__(self):
            super().__init__()
            self.conv = nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3, padding=1))
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * 14 * 14, 32), nn.ReLU(), nn.Linear(32, 2))

        def forward(self, x):
            h = self.head(self.conv(x))
            return h, h

    net = Net()
    assert facts.sizes(net, torch.zeros(1, 1, 28, 28)) == ["28x28", "14x14"]  # only feature maps count
    convs = facts.convolutions(net)
    assert len(convs) == 2 and facts.kernel(convs) == "3x3" and facts.hidden_widths(net) == [32]
    with pytest.raises(ValueError, match="several kernel sizes"):
        facts.kernel([nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 5)])
    assert facts.parameters(nn.Linear(3, 2)) == 8
    assert (facts.spelled(4), facts.spelled(25), facts.thousands(60000)) == ("four", "25", "60,000")
    assert facts.listed([64, 128, 256]) == "64, 128 and 256" and facts.listed(["a"]) == "a"
