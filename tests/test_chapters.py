"""One set of chapters everywhere: the Makefile's SECTIONS, the book's table of contents, the notebooks, their
nbval references and the end-to-end test agree, and the default book and book-full use chapters that exist.
Adding a chapter means a notebook, a line in each of these lists and a reference (`make nbval-refresh`); this
test names the list that was forgotten."""
import re

from chapter_lists import ROOT, make_list


def test_every_list_of_chapters_agrees():
    sections = make_list("SECTIONS")
    toc = re.findall(r"file: book/sections/(\w+)", (ROOT / "_toc.yml").read_text())
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("*.py"))
    references = sorted(p.stem for p in (ROOT / "tests" / "nbval").glob("*.ipynb"))
    from test_notebooks import SECTIONS as TESTED

    assert sorted(sections) == notebooks, "Makefile SECTIONS vs notebooks/*.py"
    assert toc == sections, "_toc.yml vs Makefile SECTIONS (same chapters, same order)"
    assert references == notebooks, "tests/nbval references vs notebooks/*.py (make nbval-refresh)"
    assert sorted(TESTED) == notebooks, "tests/test_notebooks.py SECTIONS vs notebooks/*.py"
    book = make_list("BOOK_SECTIONS")
    full = make_list("FULL_ORDER")
    assert len(set(full)) == len(full), "FULL_ORDER runs every chapter once"
    later = [s for s in book if full.index(s) >= len(book)]  # default-book chapters book-full leaves for later
    assert later == ["lam"], f"book-full starts with the default book's chapters (only LAM waits), not {later}"
    assert full.index("attention") < full.index("lam"), "FULL_ORDER: LAM compares the attention chapter's pairs"
    assert set(book) <= set(sections) and sorted(full) == sorted(sections), "BOOK_SECTIONS / FULL_ORDER"


def test_results_files_named_after_the_papers_tables_are_mapped_once():
    # one map (report.book.RESULT_FILES): its chapters exist, and each writes the results file the map names
    from faiglib.report.book import RESULT_FILES

    sections = make_list("SECTIONS")
    for chapter, stem in RESULT_FILES.items():
        assert chapter in sections, f"RESULT_FILES names {chapter!r}, not a chapter"
        source = (ROOT / "notebooks" / f"{chapter}.py").read_text()
        assert re.search(rf'write_results\([^)]*"{stem}"', source, re.S), f"{chapter} does not write {stem}.json"
    for chapter in sections:  # every other chapter writes its results under its own name
        if chapter not in RESULT_FILES and "write_results(" in (ROOT / "notebooks" / f"{chapter}.py").read_text():
            assert f'"{chapter}"' in (ROOT / "notebooks" / f"{chapter}.py").read_text(), chapter
