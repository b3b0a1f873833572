"""Progress bars of the long steps (training stages, FAIG over images), and where they go.

In a terminal or a script a bar is tqdm's own choice (``tqdm.auto``: a widget inside Jupyter). A notebook that
``make section`` / ``make book`` executes with papermill must not draw bars on its page -- they would clutter the
book and change the outputs ``pytest --nbval`` compares -- yet a 25-minute ``make book`` should not be silent.
So the Makefile sets ``FAIGLIB_PROGRESS=terminal``: the notebooks' workspaces then show progress
(:func:`notebook_progress`), and :func:`progress_bar` writes plain text bars to the terminal that runs make --
not into the page. ipykernel (>= 6) moves the process's file descriptor 2 into a pipe that it copies into the
page, and keeps a copy of the original descriptor, which its ``sys.stderr.fileno()`` returns: the bars write
to a duplicate of that descriptor (in a plain script, descriptor 2 itself).
"""
from __future__ import annotations

import os
import sys
from typing import Any, Iterable

__all__ = ["ENV", "progress_bar", "notebook_progress"]

#: The environment variable; the value ``"terminal"`` routes bars to the process's stderr.
ENV = "FAIGLIB_PROGRESS"


def notebook_progress() -> bool:
    """Whether the book's notebooks show progress: only when ``FAIGLIB_PROGRESS=terminal`` (``make section``)."""
    return os.environ.get(ENV) == "terminal"


def progress_bar(iterable: Iterable | None = None, *, enabled: bool, total: int | None = None, initial: int = 0,
                 desc: str = "", unit: str = "it") -> Any:
    """A tqdm bar over ``iterable`` (or one to ``update`` by hand up to ``total``); a disabled bar (iterates,
    ``update`` and ``set_postfix`` do nothing) when ``enabled`` is false."""
    if enabled and os.environ.get(ENV) == "terminal":
        from tqdm import tqdm

        # one line every 10 s at most: make book's log stays readable
        return tqdm(iterable, total=total, initial=initial, desc=desc, unit=unit, file=_terminal(),
                    mininterval=10.0, ascii=True, dynamic_ncols=False, ncols=100)
    if enabled:
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, initial=initial, desc=desc, unit=unit)
    from tqdm import tqdm

    return tqdm(iterable, total=total, initial=initial, disable=True)


_TERMINALS: dict[int, Any] = {}


def _terminal() -> Any:
    """A text stream on the terminal: the descriptor behind ``sys.stderr`` (under ipykernel, its copy of the
    original stderr), duplicated once; ``sys.__stderr__`` where ``sys.stderr`` has no descriptor (pytest's
    capture)."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError and a ValueError
        return sys.__stderr__
    if fd not in _TERMINALS:
        _TERMINALS[fd] = open(os.dup(fd), "w", buffering=1, encoding="utf-8", errors="replace")
    return _TERMINALS[fd]
