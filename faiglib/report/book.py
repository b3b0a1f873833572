"""Glue between the studies and the book: the notebooks' common start, results JSON and the edition table."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from faiglib.core.checkpoint import atomic_write_text, git_commit
from faiglib.core.results import portable_paths, repository_root, write_results  # noqa: F401 - part of this API
from faiglib.core.progress import notebook_progress
from faiglib.studies.workspace import Workspace, workspaces

__all__ = ["RESULT_FILES", "show_markdown", "faiglib_command", "write_results", "portable_paths", "scrub_notebook_paths", "notebook_workspace", "notebook_workspaces", "edition_markdown",
           "write_missing_sections", "record_section_time", "section_times"]


def scrub_notebook_paths(path: str | Path, root: str | Path | None = None) -> Path:
    """Rewrite the parameters papermill injected into an executed notebook with absolute paths relative to the
    repository (:func:`portable_paths`), so that a published page never shows a folder of the machine that ran
    it (``make section`` calls this after papermill)."""
    import re

    base = Path(root) if root is not None else repository_root()
    nb = json.loads(Path(path).read_text())
    quoted = re.compile(r"""(["'])(/[^"']*)\1""")
    for cell in nb.get("cells", []):
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            source = quoted.sub(lambda m: m.group(1) + portable_paths(m.group(2), base) + m.group(1), source)
            cell["source"] = source.splitlines(keepends=True)
    papermill = nb.get("metadata", {}).get("papermill", {})
    for key in ("parameters", "input_path", "output_path"):
        if key in papermill:
            papermill[key] = portable_paths(papermill[key], base)
    return atomic_write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", path)


def record_section_time(results: str | Path, profile: str, section: str, seconds: float) -> Path:
    """Write how long executing one chapter took to ``<results>/<profile>/timings/<section>.json`` (atomically):
    wall seconds, the CPU, the threads torch used, the date and the commit. ``make section`` calls it after
    papermill. The time includes whatever the artefact store did not hold yet (trainings, FAIG), so it is the
    chapter's cost *after the chapters executed before it* -- ``make book`` runs them in the Makefile's order."""
    import datetime
    import os
    import platform

    import torch

    if not (isinstance(seconds, (int, float)) and seconds >= 0):
        raise ValueError(f"seconds must be a non-negative number, got {seconds!r}")
    body = {"section": section, "profile": profile, "seconds": round(float(seconds), 1), "cpu": _cpu_name(),
            "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "machine": platform.machine(), "date": datetime.date.today().isoformat(), "commit": git_commit()}
    return atomic_write_text(json.dumps(body, indent=2) + "\n", Path(results) / profile / "timings" / f"{section}.json")


def section_times(results: str | Path, profile: str) -> dict[str, dict[str, Any]]:
    """``{section: timing record}`` from ``<results>/<profile>/timings/*.json`` (empty when none)."""
    return {f.stem: json.loads(f.read_text()) for f in sorted(Path(results, profile, "timings").glob("*.json"))}


def _cpu_name() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else ``platform.processor()``."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def notebook_workspace(**parameters: Any) -> Workspace:
    """The section notebooks' common start: figure defaults for the book, and the :class:`Workspace` of
    the notebook's ``parameters`` cell. Progress bars only under ``make section`` / ``make book``, and then on
    the terminal, not the page (:mod:`faiglib.core.progress`)."""
    _book_figures()
    return Workspace(progress=notebook_progress(), **parameters)


def notebook_workspaces(**parameters: Any) -> list[Workspace]:
    """:func:`notebook_workspace` for notebooks over several seeds and networks (see :func:`workspaces`)."""
    _book_figures()
    return workspaces(progress=notebook_progress(), **parameters)


def _book_figures() -> None:
    import matplotlib

    matplotlib.rcParams["figure.dpi"] = 80


def edition_markdown(results: str | Path, profile: str) -> str:
    """A Markdown table saying which profile, device, data and commit produced each section's results
    (read from ``<results>/<profile>/*.json``), for the book's front page."""
    files = sorted(Path(results, profile).glob("*.json"))
    if not files:
        return f"*No results for profile `{profile}` yet: run `make book PROFILE={profile}`.*\n"
    times = section_times(results, profile)
    lines = [f"This edition was produced with the `{profile}` profile:", "",
             "| section | device | network | seed | analysis data | commit | wall time |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for f in files:
        r = json.loads(f.read_text())
        path = Path(str(r.get("data", "")))
        # "Set14/HR" rather than "HR": image folders are often named after the resolution inside a data set's
        data = "/".join(path.parts[-2:]) if path.name.upper().startswith("HR") else path.name or r.get("data", "")
        lines.append(f"| {f.stem} | {r.get('device', '?')} | {r.get('network', '?')} | {r.get('seed', '?')} | "
                     f"{data} | `{str(r.get('commit', '?'))[:12]}` | {_wall_time(times, f.stem)} |")
    cpus = sorted({f"{t['cpu']} ({t['cores']} cores, {t['torch_threads']} torch threads)" for t in times.values()})
    if cpus:
        lines += ["", "Wall time: executing the chapter's notebook (`make section`), on " + "; ".join(cpus)
                  + ", including the trainings and attributions the store did not hold yet, so a chapter that "
                  "comes after another that trained its pair is cheaper."]
    return "\n".join(lines) + "\n"


#: the chapters whose results file is named after the paper's table, not after the chapter:
#: ``results/<profile>/<RESULT_FILES.get(section, section)>.json``
RESULT_FILES = {"preliminary": "table1", "baselines": "table2", "retraining": "table3"}


def _wall_time(times: Mapping[str, Mapping[str, Any]], stem: str) -> str:
    section = next((name for name, file in RESULT_FILES.items() if file == stem), stem)
    t = times.get(section)
    return _minutes(t["seconds"]) if t else "–"


def faiglib_command(*args: Any) -> str:
    """Run ``faiglib ARGS`` as a user would, in a separate process: its stdout; RuntimeError with its one-line
    error otherwise (its progress bars, on stderr, stay out of the page)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "faiglib.cli", *map(str, args)], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr.strip() or f"faiglib {args[0]} exited with status {done.returncode}")
    return done.stdout


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


def write_missing_sections(executed: str | Path, sections: Sequence[str], edition: str | Path | None,
                           notebooks: str | Path = "notebooks", results: str | Path | None = None,
                           profile: str | None = None) -> list[Path]:
    """For every chapter of ``sections`` that has no executed notebook in ``executed``, write
    ``<executed>/<section>.md``: the chapter's title and a line saying that the stored edition ``edition`` did
    not execute it (``edition=None``: that ``make book`` leaves it to ``make book-full``), with the command that
    would; when ``<results>/<profile>/timings/<section>.json`` exists, also what executing it cost there (the
    book's table of contents lists every chapter). Returns the pages written."""
    executed = Path(executed)
    if not executed.is_dir():
        raise ValueError(f"{executed} is not a folder of executed notebooks; copy the edition's notebooks first")
    written = []
    for section in sections:
        if (executed / f"{section}.ipynb").exists():
            continue
        page = executed / f"{section}.md"
        if edition is None:
            why = (f"*`make book` does not execute this chapter: it trains more networks than the 30-minute default "
                   f"book affords. Execute it with `make section S={section}{_profile_arg(profile)}`, or every chapter "
                   f"with `make book-full{_profile_arg(profile)}`. The numbers of an earlier execution, where "
                   f"`results/` holds them, still feed the scorecard; the front page's table names their commit.*")
        else:
            edition_profile = f" PROFILE={profile}" if profile else " PROFILE=<the edition's profile>"
            why = (f"*This chapter was not executed for the edition in `{edition}`: its notebooks and results hold no "
                   f"numbers for it. Execute it with `make section S={section}{edition_profile} EXECUTED={edition}` "
                   f"(when that profile has what the chapter trains), or with the default profile: "
                   f"`make section S={section}` (`make book-full` executes every chapter).*")
        t = section_times(results, profile).get(section) if results is not None and profile else None
        if t:
            why += (f"\n\nMeasured: executing it took {_minutes(t['seconds'])} on {t['cpu']} ({t['cores']} cores, "
                    f"{t['torch_threads']} torch threads, {t['date']}, commit `{str(t['commit'])[:12]}`), after the "
                    f"chapters before it in `make book-full` had trained what they share.")
        atomic_write_text(f"# {_chapter_title(section, notebooks)}\n\n{why}\n", page)
        written.append(page)
    return written


def _profile_arg(profile: str | None) -> str:
    return f" PROFILE={profile}" if profile and profile != "cpu" else ""
