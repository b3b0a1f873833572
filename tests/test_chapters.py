"""One set of chapters everywhere: the Makefile's SECTIONS, the book's table of contents, the notebooks, their
nbval references and the end-to-end test agree, and the default book and book-full use chapters that exist.
Adding a chapter means a notebook, a line in each of these lists and a reference (`make nbval-refresh`); this
test names the list that was forgotten."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _make_list(name: str) -> list[str]:
    text = (ROOT / "Makefile").read_text()
    m = re.search(rf"^{name} := (.*)$", text, re.M)
    assert m, f"no {name} in the Makefile"
    if name != "FULL_ORDER":
        return m.group(1).split()
    # FULL_ORDER starts with the default book's chapters, some of them left for later: $(filter-out a b,$(BOOK_...))
    text = m.group(1)
    dropped = re.match(r"\$\(filter-out ([\w ]+),\$\(BOOK_SECTIONS\)\)", text)
    book = [s for s in _make_list("BOOK_SECTIONS") if not dropped or s not in dropped.group(1).split()]
    return book + re.sub(r"\$\((filter-out [\w ]+,)?\$\(BOOK_SECTIONS\)\)?", "", text).split()


def test_every_list_of_chapters_agrees():
    sections = _make_list("SECTIONS")
    toc = re.findall(r"file: book/sections/(\w+)", (ROOT / "_toc.yml").read_text())
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("*.py"))
    references = sorted(p.stem for p in (ROOT / "tests" / "nbval").glob("*.ipynb"))
    from test_notebooks import SECTIONS as TESTED

    assert sorted(sections) == notebooks, "Makefile SECTIONS vs notebooks/*.py"
    assert toc == sections, "_toc.yml vs Makefile SECTIONS (same chapters, same order)"
    assert references == notebooks, "tests/nbval references vs notebooks/*.py (make nbval-refresh)"
    assert sorted(TESTED) == notebooks, "tests/test_notebooks.py SECTIONS vs notebooks/*.py"
    book = _make_list("BOOK_SECTIONS")
    full = _make_list("FULL_ORDER")
    assert len(set(full)) == len(full), "FULL_ORDER runs every chapter once"
    later = [s for s in book if full.index(s) >= len(book)]  # default-book chapters book-full leaves for later
    assert later == ["lam"], f"book-full starts with the default book's chapters (only LAM waits), not {later}"
    assert full.index("attention") < full.index("lam"), "FULL_ORDER: LAM compares the attention chapter's pairs"
    assert set(book) <= set(sections) and sorted(full) == sorted(sections), "BOOK_SECTIONS / FULL_ORDER"


def test_results_files_named_after_the_papers_tables_are_mapped_once():
    from faiglib.report.book import _RESULTS_SECTION
    from test_notebooks import RESULT_FILES

    assert {chapter: stem for stem, chapter in _RESULTS_SECTION.items()} == RESULT_FILES
