"""A content-addressed artefact store: every cached thing is keyed by what it was computed *from*.

An entry is a folder ``<root>/<kind>/<key>/``. Its ``key`` is a hash of the entry's *parts*: the digests of
the image bytes it read (never their names), the keys of the entries it used (FAIG scores name the exact
trained pair), the settings that change the result and the version of the algorithm. Change any input and
the key changes, so a stale artefact can never be returned; two configurations never share a folder, so one
run cannot overwrite another's artefacts. ``parts.json`` in each entry says in words what it was made from.

Concurrency: :meth:`Store.entry` holds an inter-process lock on the key (``filelock``) while the entry is
looked up or computed, so concurrent runs compute an entry once and the others wait and reuse it. Leftover
temporary files of interrupted atomic writes (``.<name>.*.tmp``) are removed when their entry is next opened
under its lock, which is the only moment nobody can be writing them.

Integrity: every entry is a sealed folder (:mod:`faiglib.core.checkpoint`): each file an atomic write puts there
has its SHA-256 recorded in the entry's ``digests.json``, and every read checks it. When an entry is opened, a file
whose bytes no longer match, or that no write recorded, is moved to ``<root>/quarantine/<kind>/<key>/`` with a
warning, so that it is computed again instead of served.

Training-image digests (:meth:`Store.file_digests`) hash the files' bytes on every call: a same-size image swapped
in with its modification time restored gets a new key (hashing the 66 MB of BSD200 + T91 takes well under a
second, a small price beside a training).

A store someone else made can be read as it is: an entry folder this process may not write is opened without a
lock and without writing anything, verified, and an artefact missing from it is an error, never a computation.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import torch
from filelock import FileLock

from faiglib.core.checkpoint import (MANIFEST, atomic_write_text, file_sha256, recorded_digests,
                                     seal_folder, verify_file)

__all__ = ["Store", "ReadOnlyStoreError", "digest", "tensor_digest"]


class ReadOnlyStoreError(PermissionError):
    """An artefact that is not in a store this process may only read (or was asked only to read)."""

_KEY_CHARS = 20  # 80 bits of SHA-256: collisions are not a practical concern for one user's store


def digest(parts: Any) -> str:
    """A short hex key of a JSON-serialisable value (dict keys sorted, so the order of fields does not matter)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:_KEY_CHARS]


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (tuple, set, frozenset)):
        return list(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot use a {type(obj).__name__} in a store key; pass plain values or a digest")


def tensor_digest(named: Sequence[tuple[str, torch.Tensor]] | Sequence[torch.Tensor]) -> str:
    """SHA-256 (hex, 20 chars) of tensors' dtypes, shapes and bytes, in order (names are *not* hashed: an
    image keeps its key when renamed and gets a new one when its pixels change)."""
    h = hashlib.sha256()
    for item in named:
        t = item[1] if isinstance(item, tuple) else item
        t = t.detach().cpu().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes())
    return h.hexdigest()[:_KEY_CHARS]


class Store:
    """The artefact store rooted at ``root`` (created on first write)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    def key(self, kind: str, parts: Mapping[str, Any]) -> str:
        """The key of an entry of ``kind`` made from ``parts``."""
        _check_kind(kind)
        return digest({"kind": kind, **parts})

    def path(self, kind: str, parts: Mapping[str, Any]) -> Path:
        """The entry's folder ``<root>/<kind>/<key>`` (not created)."""
        return self.root / kind / self.key(kind, parts)

    def read_only(self, kind: str, parts: Mapping[str, Any]) -> bool:
        """Whether the entry can only be read here: its folder (or, before it exists, the store) is not
        writable by this process."""
        folder = self.path(kind, parts)
        for place in (folder, folder.parent, self.root):
            if place.exists():
                return not os.access(place, os.W_OK)
        return False

    @contextmanager
    def entry(self, kind: str, parts: Mapping[str, Any], write: bool = True) -> Iterator[Path]:
        """Hold the entry's lock and yield its folder (created, sealed, with ``parts.json``; files that fail their
        digest quarantined). Inside the block, look for the entry's files and write any that are missing
        (atomically). ``write=False``, or an entry this process may not write: nothing is created or locked, the
        folder is yielded as it is (verified), and a caller that finds a file missing raises
        :class:`ReadOnlyStoreError` (see :meth:`missing`)."""
        folder = self.path(kind, parts)
        if not write or self.read_only(kind, parts):
            if folder.exists():
                for name in recorded_digests(folder) or {}:
                    if (folder / name).exists():
                        verify_file(folder / name)  # raises: a read-only run cannot quarantine
            yield folder
            return
        folder.mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder) + ".lock"):
            _remove_leftovers(folder)
            self._quarantine_unverified(kind, folder)
            seal_folder(folder)
            record = folder / "parts.json"
            if not record.exists():
                atomic_write_text(json.dumps({"kind": kind, **parts}, indent=1, sort_keys=True,
                                             default=_json_default) + "\n", record)
            yield folder

    def missing(self, kind: str, parts: Mapping[str, Any], what: str) -> ReadOnlyStoreError:
        """The error for an artefact a read-only run would have to compute."""
        return ReadOnlyStoreError(
            f"{what} is not in the store {self.root} (entry {kind}/{self.key(kind, parts)}), and this run may only "
            f"read it: run the chapter that computes it with a writable out, or copy in a store that holds it")

    def _quarantine_unverified(self, kind: str, folder: Path) -> None:
        """Move every file of ``folder`` whose bytes differ from its recorded digest, or that no write recorded,
        to ``<root>/quarantine/<kind>/<key>/`` (called under the entry's lock)."""
        record = recorded_digests(folder)
        files = [f for f in sorted(folder.rglob("*")) if f.is_file() and f.name != MANIFEST
                 and not f.name.endswith(".tmp")]
        if record is None:  # never sealed (new, or made by an older faiglib): nothing in it can be vouched for
            bad = [f for f in files if f.name != "parts.json"]
            (folder / "parts.json").unlink(missing_ok=True)  # rewritten under the seal
        else:
            bad = [f for f in files if record.get(f.relative_to(folder).as_posix()) != file_sha256(f)]
        if bad:
            place = self.root / "quarantine" / kind / folder.name
            place.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            for f in bad:
                os.replace(f, place / f"{f.relative_to(folder).as_posix().replace('/', '__')}.{stamp}")
            names = ", ".join(f.relative_to(folder).as_posix() for f in bad)
            warnings.warn(f"store entry {kind}/{folder.name}: {names} failed the digest check (corrupted, edited, "
                          f"from an interrupted write or an older faiglib); moved to {place} and computed again",
                          RuntimeWarning, stacklevel=4)
        if record is not None:
            keep = {n: d for n, d in record.items() if (folder / n).exists()}
            if keep != record:
                atomic_write_text(json.dumps(keep, indent=1, sort_keys=True) + "\n", folder / MANIFEST)

    # ---- file digests -------------------------------------------------------------------------------------
    def file_digest(self, path: str | os.PathLike) -> str:
        """SHA-256 (hex, 20 chars) of a file's bytes."""
        return self.file_digests([path])[0]

    def file_digests(self, paths: Sequence[str | os.PathLike]) -> list[str]:
        """:meth:`file_digest` of many files, each hashed from its bytes on every call (no cache by size and
        modification time, which a swapped file with its mtime restored would fool)."""
        return [file_sha256(p)[:_KEY_CHARS] for p in paths]


def _check_kind(kind: str) -> None:
    if not kind or not all(c.isalnum() or c in "-_" for c in kind):
        raise ValueError(f"store entry kinds are non-empty names of letters, digits, '-' and '_', got {kind!r}")


def _remove_leftovers(folder: Path) -> None:
    """Temporary files of atomic writes that were killed (``.<name>.<random>.tmp``); called under the lock."""
    for tmp in folder.rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)
