"""The report without Quarto: every chapter's cells execute, and the .qmd files are well-formed."""
import re

import pytest
import yaml

from core import qmd

CHAPTERS = qmd.chapters()
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


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_chapter_executes(chapter, mnist):
    result = qmd.run_chapter(chapter)
    assert len(result["seconds"]) == len(qmd.cells(chapter.read_text()))
