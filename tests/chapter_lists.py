"""The lists of chapters, read from the Makefile (its single source): ``SECTIONS`` (the book's order, which
``_toc.yml`` repeats), ``BOOK_SECTIONS`` (the default book) and ``FULL_ORDER`` (book-full's order, in which a
chapter comes after the chapters whose trained networks it reads; the end-to-end test runs in it)."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_list(name: str) -> list[str]:
    text = (ROOT / "Makefile").read_text()
    m = re.search(rf"^{name} := (.*)$", text, re.M)
    assert m, f"no {name} in the Makefile"
    if name != "FULL_ORDER":
        return m.group(1).split()
    # FULL_ORDER starts with the default book's chapters, some left for later: $(filter-out a b,$(BOOK_SECTIONS))
    line = m.group(1)
    dropped = re.match(r"\$\(filter-out ([\w ]+),\$\(BOOK_SECTIONS\)\)", line)
    book = [s for s in make_list("BOOK_SECTIONS") if not dropped or s not in dropped.group(1).split()]
    return book + re.sub(r"\$\((filter-out [\w ]+,)?\$\(BOOK_SECTIONS\)\)?", "", line).split()
