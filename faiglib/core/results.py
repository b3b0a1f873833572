"""Results files: the headline numbers of a run, with their provenance, as ``<results>/<profile>/<section>.json``.

In the core layer so that a study (:meth:`faiglib.studies.workspace.Workspace.write_results`) and the book's glue
(:mod:`faiglib.report.book`) write them the same way without importing each other.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from faiglib.core.checkpoint import atomic_write_text, git_commit

__all__ = ["write_results", "portable_paths", "repository_root"]


def write_results(results: str | Path, profile: str, section: str, payload: Mapping[str, Any],
                  **provenance: Any) -> Path:
    """Write ``payload`` to ``<results>/<profile>/<section>.json`` (atomically), after the provenance
    (``seed``, ``device``, ``network``, ``data``, ...) and the git commit. Absolute paths in it are written
    relative to the repository (:func:`portable_paths`): results are committed, a machine's folders are not."""
    body = portable_paths({"profile": profile, **provenance, "commit": git_commit(), **payload})
    return atomic_write_text(json.dumps(body, indent=2, sort_keys=False) + "\n",
                             Path(results) / profile / f"{section}.json")


def repository_root() -> Path:
    """The git work tree holding the current directory, or the current directory (``make`` runs at the root)."""
    import subprocess

    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, timeout=10)
        if top.returncode == 0 and top.stdout.strip():
            return Path(top.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return Path.cwd()


def portable_paths(value: Any, root: str | Path | None = None) -> Any:
    """``value`` (a JSON-like tree) with every absolute path -- a string starting with ``/``, or several joined
    by ``os.pathsep`` as ``train_data`` is -- written relative to ``root`` (default: the repository): the
    research images beside a clone become ``../shared/data/Set14/HR`` wherever the clone lies."""
    import os

    base = Path(root) if root is not None else repository_root()
    if isinstance(value, str):
        parts = value.split(os.pathsep)
        if value.startswith("/") and all(p.startswith("/") for p in parts):
            return os.pathsep.join(os.path.relpath(p, base) for p in parts)
        return value
    if isinstance(value, Mapping):
        return {k: portable_paths(v, base) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [portable_paths(v, base) for v in value]
    return value
