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

Hashing a data folder is cheap on reruns: :meth:`Store.file_digest` remembers each file's SHA-256 by path,
size and modification time (``file-digests.json`` at the root), and re-hashes a file only when those change.
"""
from __future__ import annotations

import hashlib
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import torch
from filelock import FileLock

from faiglib.core.checkpoint import atomic_write_text

__all__ = ["Store", "digest", "tensor_digest"]

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

    @contextmanager
    def entry(self, kind: str, parts: Mapping[str, Any]) -> Iterator[Path]:
        """Hold the entry's lock and yield its folder (created, with ``parts.json``). Inside the block,
        look for the entry's files and write any that are missing (atomically)."""
        folder = self.path(kind, parts)
        folder.mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder) + ".lock"):
            _remove_leftovers(folder)
            record = folder / "parts.json"
            if not record.exists():
                atomic_write_text(json.dumps({"kind": kind, **parts}, indent=1, sort_keys=True,
                                             default=_json_default) + "\n", record)
            yield folder

    # ---- file digests with a (path, size, mtime) cache -----------------------------------------------------
    def file_digest(self, path: str | os.PathLike) -> str:
        """SHA-256 (hex, 20 chars) of a file's bytes, remembered by resolved path, size and mtime."""
        return self.file_digests([path])[0]

    def file_digests(self, paths: Sequence[str | os.PathLike]) -> list[str]:
        """:meth:`file_digest` of many files with one read and (if anything changed) one write of the index."""
        index_path = self.root / "file-digests.json"
        self.root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(index_path) + ".lock"):
            try:
                index = json.loads(index_path.read_text())
            except (FileNotFoundError, json.JSONDecodeError):
                index = {}
            out, changed = [], False
            for p in paths:
                p = Path(p).resolve()
                st = p.stat()
                stamp = [st.st_size, st.st_mtime_ns]
                known = index.get(str(p))
                if known is None or known[:2] != stamp:
                    h = hashlib.sha256()
                    with open(p, "rb") as fh:
                        for block in iter(lambda: fh.read(1 << 20), b""):
                            h.update(block)
                    known = stamp + [h.hexdigest()[:_KEY_CHARS]]
                    index[str(p)] = known
                    changed = True
                out.append(known[2])
            if changed:
                atomic_write_text(json.dumps(index, sort_keys=True) + "\n", index_path)
        return out


def _check_kind(kind: str) -> None:
    if not kind or not all(c.isalnum() or c in "-_" for c in kind):
        raise ValueError(f"store entry kinds are non-empty names of letters, digits, '-' and '_', got {kind!r}")


def _remove_leftovers(folder: Path) -> None:
    """Temporary files of atomic writes that were killed (``.<name>.<random>.tmp``); called under the lock."""
    for tmp in folder.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
