"""Glue between the studies and the book: the notebooks' common start, results JSON and the edition table."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from faiglib.core.checkpoint import atomic_write_text, git_commit
from faiglib.studies.workspace import Workspace, workspaces

__all__ = ["show_markdown", "write_results", "notebook_workspace", "notebook_workspaces", "edition_markdown",
           "write_missing_sections"]


def write_results(results: str | Path, profile: str, section: str, payload: Mapping[str, Any],
                  **provenance: Any) -> Path:
    """Write ``payload`` to ``<results>/<profile>/<section>.json`` (atomically), after the provenance
    (``seed``, ``device``, ``network``, ``data``, ...) and the git commit."""
    body = {"profile": profile, **provenance, "commit": git_commit(), **payload}
    return atomic_write_text(json.dumps(body, indent=2, sort_keys=False) + "\n",
                             Path(results) / profile / f"{section}.json")


def notebook_workspace(**parameters: Any) -> Workspace:
    """The section notebooks' common start: figure defaults for the book, and the :class:`Workspace` of
    the notebook's ``parameters`` cell (progress bars off: they would only clutter the rendered pages)."""
    _book_figures()
    return Workspace(progress=False, **parameters)


def notebook_workspaces(**parameters: Any) -> list[Workspace]:
    """:func:`notebook_workspace` for notebooks over several seeds and networks (see :func:`workspaces`)."""
    _book_figures()
    return workspaces(progress=False, **parameters)


def _book_figures() -> None:
    import matplotlib

    matplotlib.rcParams["figure.dpi"] = 80


def edition_markdown(results: str | Path, profile: str) -> str:
    """A Markdown table saying which profile, device, data and commit produced each section's results
    (read from ``<results>/<profile>/*.json``), for the book's front page."""
    files = sorted(Path(results, profile).glob("*.json"))
    if not files:
        return f"*No results for profile `{profile}` yet: run `make book PROFILE={profile}`.*\n"
    lines = [f"This edition was produced with the `{profile}` profile:", "",
             "| section | device | network | seed | analysis data | commit |", "| --- | --- | --- | --- | --- | --- |"]
    for f in files:
        r = json.loads(f.read_text())
        path = Path(str(r.get("data", "")))
        # "Set14/HR" rather than "HR": image folders are often named after the resolution inside a data set's
        data = "/".join(path.parts[-2:]) if path.name.upper().startswith("HR") else path.name or r.get("data", "")
        lines.append(f"| {f.stem} | {r.get('device', '?')} | {r.get('network', '?')} | {r.get('seed', '?')} | "
                     f"{data} | `{str(r.get('commit', '?'))[:12]}` |")
    return "\n".join(lines) + "\n"


def show_markdown(text: str) -> None:
    """Display Markdown (a result table, a computed summary) in a notebook: rendered as Markdown by the book
    (tables become HTML tables), and the same text as the plain-text output, so that ``pytest --nbval``
    compares the numbers in it (``IPython.display.Markdown`` alone leaves only ``<…Markdown object>``)."""
    from IPython.display import display

    display({"text/markdown": text, "text/plain": text}, raw=True)


def _chapter_title(section: str, notebooks: str | Path = "notebooks") -> str:
    """The first ``# `` heading of ``notebooks/<section>.py`` (a jupytext percent file), else the name."""
    path = Path(notebooks) / f"{section}.py"
    if path.exists():
        for line in path.read_text().splitlines():
            if line.startswith("# # "):
                return line[4:].strip()
    return section


def write_missing_sections(executed: str | Path, sections: Sequence[str], edition: str | Path,
                           notebooks: str | Path = "notebooks") -> list[Path]:
    """For every chapter of ``sections`` that has no executed notebook in ``executed``, write
    ``<executed>/<section>.md``: the chapter's title and a line saying that the stored edition ``edition`` did
    not execute it, with the command that would (the book's table of contents lists every chapter). Returns the
    pages written."""
    executed = Path(executed)
    if not executed.is_dir():
        raise ValueError(f"{executed} is not a folder of executed notebooks; copy the edition's notebooks first")
    written = []
    for section in sections:
        if (executed / f"{section}.ipynb").exists():
            continue
        page = executed / f"{section}.md"
        atomic_write_text(
            f"# {_chapter_title(section, notebooks)}\n\n"
            f"*This chapter was not executed for the edition in `{edition}`: its notebooks and results hold no "
            f"numbers for it. Execute it with `make section S={section} PROFILE=<the edition's profile>`, or read it "
            f"in the default edition (`make book`).*\n", page)
        written.append(page)
    return written
