"""The report without Quarto: every chapter's cells execute, and the .qmd files are well-formed."""
import re

import pytest
import yaml

from core import qmd

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


def test_cell_runner_reports_what_each_cell_displays(tmp_path):
    page = tmp_path / "page.qmd"
    page.write_text("""---
title: t
---

```{python}
#| label: fig-x
#| fig-cap: "a figure"
import matplotlib.pyplot as plt
plt.subplots()[0]
```

```{python}
from core import report
report.table([{"a": 1.5}])
```

```{python}
n = 2 + 2
```

Inline: `{python} n`.
""")
    result = qmd.run_chapter(page)
    assert result["displays"] == ["figure", "table", None] and result["namespace"]["n"] == 4
    assert [c.options for c in qmd.cells(page.read_text())][0] == {"label": "fig-x", "fig-cap": '"a figure"'}


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_chapter_executes_and_captions_every_figure_and_table(chapter, mnist):
    cells = qmd.cells(chapter.read_text())
    result = qmd.run_chapter(chapter)
    assert len(result["seconds"]) == len(cells) == len(result["displays"])
    for cell, shown in zip(cells, result["displays"]):
        label = cell.options.get("label", "")
        where = f"{chapter.name} cell {cell.index} (line {cell.line})"
        if shown == "figure":
            assert label.startswith("fig-") and cell.options.get("fig-cap"), f"{where}: figure without fig- label/caption"
        if shown == "table":
            assert label.startswith("tbl-") and cell.options.get("tbl-cap"), f"{where}: table without tbl- label/caption"
        if label.startswith(("fig-", "tbl-")):
            assert shown == {"fig": "figure", "tbl": "table"}[label[:3]], f"{where}: {label} displays {shown}"
