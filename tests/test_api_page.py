"""The book's API page and the newcomers' page stay true: every module of faiglib has its automodule entry, and
the chapter checklist names exactly the files the chapter tests consult."""
import re

from chapter_lists import ROOT


def test_every_module_is_on_the_api_page():
    modules = {".".join(p.relative_to(ROOT).with_suffix("").parts) for p in (ROOT / "faiglib").rglob("*.py")
               if p.name != "__init__.py"}
    listed = set(re.findall(r"automodule:: ([\w.]+)", (ROOT / "book" / "api.md").read_text()))
    assert modules - listed == set(), "modules missing from book/api.md"
    assert listed - modules == set(), "book/api.md lists modules that do not exist"


def test_the_chapter_checklist_names_the_files_a_chapter_touches():
    page = (ROOT / "book" / "contributing.md").read_text()
    chapter = page.split("## Add a chapter", 1)[1]
    steps = re.findall(r"^\d+\. `([^`]+)`", chapter, re.M)
    # what tests/test_chapters.py reads: the notebooks, the Makefile's lists, the table of contents, the references
    assert steps == ["notebooks/<name>.py", "Makefile", "_toc.yml", "tests/nbval/<name>.ipynb"]
    assert "touches four files" in chapter
    toc = (ROOT / "_toc.yml").read_text()
    assert "file: book/contributing" in toc
