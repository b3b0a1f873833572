"""Open the built book's pages in headless Chromium; fail on raw LaTeX, missing images or error cells.

    python tools/check_book.py [_build/html]      # screenshots go to _build/screenshots/

For each page Chromium renders the DOM after MathJax has run (a virtual-time budget), and the script checks:
* math: no TeX delimiters (``\\[``, ``\\(``, ``$$``) left in the rendered text, and MathJax output present
  where the page has math;
* images: every ``<img src>`` of the page exists in the build;
* cells: no error output (tracebacks) in executed notebook cells;
* tables: no Markdown table left as raw ``| a | b |`` / ``|---|`` text (every result table renders as a table).
"""
from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--virtual-time-budget=8000"]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    sys.exit("no Chromium found (Debian: apt-get install chromium)")


def render(browser: str, page: Path, shot: Path) -> str:
    with tempfile.TemporaryDirectory() as profile:
        common = [browser, *FLAGS, f"--user-data-dir={profile}"]
        subprocess.run([*common, "--window-size=1280,2400", f"--screenshot={shot}", page.as_uri()],
                       capture_output=True, timeout=120, check=False)
        dom = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                             timeout=120, check=False)
    return dom.stdout


def visible_text(dom: str) -> str:
    dom = re.sub(r"<(script|style|mjx-assistive-mml)[^>]*>.*?</\1>", " ", dom, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", " ", dom))


def check_page(browser: str, page: Path, root: Path, shots: Path) -> list[str]:
    problems = []
    source = page.read_text(encoding="utf-8")
    shot = shots / (page.relative_to(root).as_posix().replace("/", "_").removesuffix(".html") + ".png")
    dom = render(browser, page, shot)
    if not dom:
        return [f"{page}: Chromium returned no DOM"]
    text = visible_text(dom)
    has_math = 'class="math' in source or "\\(" in source
    if has_math and "<mjx-container" not in dom:
        problems.append(f"{page.name}: the page has math but MathJax rendered none")
    for pattern in (r"\\\[", r"\\\(", r"\$\$", r"\\begin\{", r"\\frac\{"):
        if re.search(pattern, text):
            problems.append(f"{page.name}: raw LaTeX left in the rendered page ({pattern})")
            break
    for src in re.findall(r'<img[^>]+src="([^"]+)"', source):
        if src.startswith(("http:", "https:", "data:")):
            continue
        if not (page.parent / src.split("?")[0]).exists():
            problems.append(f"{page.name}: missing image {src}")
    raw_table = re.search(r"\|\s*:?-{3,}:?\s*\|", text)
    if raw_table:
        problems.append(f"{page.name}: a Markdown table is shown as raw text ({raw_table.group(0)!r})")
    if re.search(r"Traceback \(most recent call last\)|class=\"[^\"]*output[^\"]*error", source):
        problems.append(f"{page.name}: an executed cell shows an error")
    if not shot.exists():
        problems.append(f"{page.name}: no screenshot was taken")
    return problems


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "_build/html").resolve()
    if not (root / "index.html").exists():
        sys.exit(f"{root}: no built book (run make html)")
    shots = root.parent / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    browser = chromium()
    pages = [p for p in sorted(root.rglob("*.html"))
             if not p.name.startswith(("genindex", "search", "py-modindex")) and "_static" not in p.parts]
    problems = []
    for page in pages:
        found = check_page(browser, page, root, shots)
        print(f"{'ok ' if not found else 'BAD'} {page.relative_to(root)}")
        problems += found
    for p in problems:
        print("  ", p)
    print(f"{len(pages)} pages checked, {len(problems)} problems; screenshots in {shots}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
