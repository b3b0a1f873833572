"""Checkpoints and artefacts: atomic writes, ``weights_only=True`` loads, verified digests, BasicSR-compatible layout
(building a network from a checkpoint is :func:`faiglib.models.loading.load_model`: the models layer).

Sealed folders: a folder holding a ``digests.json`` manifest (every store entry has one, see
:mod:`faiglib.core.store`) records the SHA-256 of each file an atomic write puts there, and every read through
:func:`load_file` / :func:`load_json` checks the file's bytes against it. A flipped byte, a truncated copy or a
file put there by hand is an :class:`IntegrityError` naming the file, never a silently different artefact.

A faiglib model checkpoint is a dict ``{"params": state_dict, "params_ema": state_dict (optional),
"meta": {...}}`` -- the ``params``/``params_ema`` keys are BasicSR's, so official FAIG / BasicSR ``.pth``
files of the same architecture load too (``meta`` is then absent and the architecture must be named).
``meta`` holds the architecture and its kwargs, the profile, seed, data, stage, iteration and git commit.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

__all__ = [
    "CheckpointError", "IntegrityError", "MANIFEST", "atomic_save", "atomic_write_bytes", "atomic_write_text",
    "load_file", "load_json",
    "save_model", "save_community", "load_state", "check_finite", "git_commit", "as_state_dict", "file_sha256",
    "seal_folder", "recorded_digests", "verify_file", "record_file",
]

#: name of a sealed folder's manifest: ``{file name: SHA-256 hex of its bytes}``.
MANIFEST = "digests.json"


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, truncated, corrupt, of the wrong architecture or holding NaN/inf."""


class IntegrityError(CheckpointError):
    """A file of a sealed folder whose bytes differ from the digest recorded when it was written, or that no
    write recorded (put there by hand, or by a write that was killed between its rename and its record)."""


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 (64 hex characters) of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def seal_folder(folder: str | os.PathLike) -> None:
    """Give ``folder`` an empty manifest if it has none: from then on its atomic writes record digests."""
    manifest = Path(folder) / MANIFEST
    if not manifest.exists():
        _atomic_replace(manifest, lambda fh: fh.write(b"{}\n"))


def recorded_digests(folder: str | os.PathLike) -> dict[str, str] | None:
    """The manifest of a sealed folder (``{name: sha256}``), or ``None`` for a folder that is not sealed."""
    manifest = Path(folder) / MANIFEST
    try:
        text = manifest.read_text()
    except FileNotFoundError:
        return None
    try:
        record = json.loads(text)
        if not isinstance(record, dict):
            raise ValueError("not an object")
    except ValueError as err:
        raise IntegrityError(f"{manifest}: the digest manifest is unreadable ({err}); delete the folder "
                             f"{Path(folder)} so that its artefacts are computed again") from None
    return record


def _sealing(path: Path) -> tuple[Path, str] | None:
    """``(sealed folder, name of path in its manifest)`` for a file of a sealed folder or of a subfolder of one
    (Table 1's entry keeps a folder per setting), else ``None``."""
    for folder in (path.parent, path.parent.parent):
        if (folder / MANIFEST).is_file():
            return folder, path.relative_to(folder).as_posix()
    return None


def verify_file(path: str | os.PathLike) -> Path:
    """Check a file of a sealed folder against its recorded SHA-256 (a file elsewhere passes as it is);
    raises :class:`IntegrityError` naming the file and what to do."""
    path = Path(path)
    sealed = None if path.name == MANIFEST else _sealing(path)
    if sealed is None:
        return path
    expected = recorded_digests(sealed[0]).get(sealed[1])
    if expected is None:
        raise IntegrityError(f"{path}: no digest was recorded for this file (not written by faiglib, or its "
                             f"write was interrupted); delete it, or the whole folder {sealed[0]}, to recompute it")
    if file_sha256(path) != expected:
        raise IntegrityError(f"{path}: its bytes differ from the SHA-256 recorded when it was written (corrupted "
                             f"or edited); delete it, or the whole folder {sealed[0]}, to recompute it")
    return path


def _record_digest(path: Path, sha: str) -> None:
    """Record ``path``'s digest in its sealed folder's manifest (writers of a sealed folder hold its store lock)."""
    sealed = None if path.name == MANIFEST else _sealing(path)
    if sealed is None:
        return
    record = recorded_digests(sealed[0])
    record[sealed[1]] = sha
    _atomic_replace(sealed[0] / MANIFEST,
                    lambda fh: fh.write((json.dumps(record, indent=1, sort_keys=True) + "\n").encode("utf-8")))


def _create_temp(folder: Path, name: str) -> tuple[int, str]:
    """A new, empty ``.<name>.<random>.tmp`` in ``folder`` with the mode ``0o666 & ~umask`` that ``open`` gives
    (``tempfile.mkstemp`` would give 0600, and ``os.replace`` keeps it: artefacts only their owner could read)."""
    for _ in range(100):
        tmp = folder / f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), str(tmp)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary file name for {name} in {folder}")


def record_file(path: str | os.PathLike) -> None:
    """Record the digest of a file just written into a sealed folder by code other than this module's atomic
    writes (e.g. a caller's own ``save`` in :meth:`~faiglib.studies.workspace.Workspace.cached`); under the lock."""
    path = Path(path)
    sealed = _sealing(path)
    if sealed is None or not path.is_file():
        return
    sha = file_sha256(path)  # read once: a checkpoint is tens of MB
    if recorded_digests(sealed[0]).get(sealed[1]) != sha:
        _record_digest(path, sha)


def _atomic_replace(path: Path, write) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path.parent, path.name)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        # the digest of the bytes as they lie on disk, before anyone can read them under the final name
        sha = file_sha256(tmp) if path.name != MANIFEST and _sealing(path) is not None else None
        os.replace(tmp, path)  # atomic on POSIX: readers see the old file or the new one, never half of one
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if sha is not None:
        _record_digest(path, sha)
    return path


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file in the same folder, then rename over ``path``."""
    return _atomic_replace(Path(path), lambda fh: torch.save(obj, fh))


def atomic_write_bytes(data: bytes, path: str | os.PathLike) -> Path:
    """Write bytes atomically."""
    return _atomic_replace(Path(path), lambda fh: fh.write(data))


def atomic_write_text(text: str, path: str | os.PathLike) -> Path:
    """Write text (e.g. a results JSON) atomically."""
    return _atomic_replace(Path(path), lambda fh: fh.write(text.encode("utf-8")))


def load_file(path: str | os.PathLike) -> Any:
    """``torch.load(..., weights_only=True)`` with errors that say what is wrong with the file; a file of a sealed
    folder is checked against its recorded digest first (:func:`verify_file`)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    verify_file(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError/EOFError/UnpicklingError/zipfile errors
        raise CheckpointError(f"{path}: cannot load checkpoint ({type(err).__name__}: {err}); "
                              f"the file is truncated, corrupt or not a weights-only torch file") from None


def load_json(path: str | os.PathLike) -> Any:
    """A JSON file's value; a file of a sealed folder is checked against its recorded digest first."""
    path = verify_file(path)
    try:
        return json.loads(Path(path).read_text())
    except ValueError as err:
        raise CheckpointError(f"{path}: not valid JSON ({err})") from None


def git_commit(cwd: str | os.PathLike | None = None) -> str:
    """The current git commit, with ``-dirty`` if tracked files other than results (``results/``,
    ``book/editions/``, which runs write themselves) have changes, or ``"unknown"``."""
    cwd = cwd or Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=cwd, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)results", ":(exclude)book/editions", ":(exclude)tests/nbval"],
                               cwd=top, capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def as_state_dict(params: nn.Module | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A detached ``name -> tensor`` dict from a module or a mapping (a DataParallel ``module.`` prefix is removed)."""
    sd = params.state_dict() if isinstance(params, nn.Module) else params
    if not isinstance(sd, Mapping):
        raise TypeError(f"expected an nn.Module or a state dict, got {type(params).__name__}")
    out = {}
    for k, v in sd.items():
        if not torch.is_tensor(v):
            raise TypeError(f"state dict entry {k!r} is a {type(v).__name__}, not a tensor")
        out[k[7:] if k.startswith("module.") else k] = v.detach()
    return out


def check_finite(state: Mapping[str, torch.Tensor], what: str = "weights") -> None:
    """Raise :class:`CheckpointError` naming the first parameter with NaN or inf."""
    for k, v in state.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise CheckpointError(f"{what}: parameter {k!r} contains NaN or inf")


def save_model(path: str | os.PathLike, model: nn.Module, *, arch: str, arch_kwargs: Mapping[str, Any],
               ema: nn.Module | Mapping[str, torch.Tensor] | None = None, **meta: Any) -> Path:
    """Write a model checkpoint atomically. ``meta`` values must be JSON-serialisable (checked)."""
    meta = {"arch": arch, "arch_kwargs": dict(arch_kwargs), "commit": git_commit(), **meta}
    json.dumps(meta)  # fail now, not when loading with weights_only
    payload = {"params": {k: v.clone() for k, v in as_state_dict(model).items()}, "meta": meta}
    if ema is not None:
        payload["params_ema"] = {k: v.clone() for k, v in as_state_dict(ema).items()}
    check_finite(payload["params"], str(path))
    return atomic_save(payload, path)


def save_community(path: str | os.PathLike, model: nn.Module | Mapping[str, torch.Tensor],
                   key: str = "params_ema") -> Path:
    """Write weights the way BasicSR and the original repositories publish them: ``{key: state dict}`` (``key``
    ``"params_ema"`` or ``"params"``; ``None``: the bare state dict), no faiglib metadata -- what
    :func:`faiglib.load_sr_model` reads from its keys and shapes. Atomic; non-finite weights are refused."""
    if key not in ("params_ema", "params", None):
        raise ValueError(f"key must be 'params_ema', 'params' or None (a bare state dict), got {key!r}")
    state = {k: v.detach().clone().cpu() for k, v in as_state_dict(model).items()}
    check_finite(state, str(path))
    return atomic_save(state if key is None else {key: state}, path)


def load_state(path: str | os.PathLike, key: str | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """``(state_dict, meta)`` from a faiglib or BasicSR checkpoint.

    ``key=None`` prefers ``params_ema`` when present (BasicSR's convention for the weights to evaluate),
    else ``params``, else a bare state dict.
    """
    obj = load_file(path)
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path}: expected a dict checkpoint, got {type(obj).__name__}")
    meta = dict(obj.get("meta", {})) if isinstance(obj.get("meta", {}), Mapping) else {}
    if key is None:
        key = "params_ema" if "params_ema" in obj else "params" if "params" in obj else ""
    if key:
        if key not in obj:
            raise CheckpointError(f"{path}: no {key!r} entry; it has {sorted(obj)}")
        state = obj[key]
    else:
        state = obj
    try:
        state = as_state_dict(state)
    except TypeError as err:
        raise CheckpointError(f"{path}: not a state dict ({err})") from None
    check_finite(state, str(path))
    return state, meta
