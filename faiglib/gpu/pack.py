"""The store of a GPU run, packed into parts that come back from the device, and unpacked here only when every
part and file matches the manifest the run wrote last.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path
from typing import Any

from faiglib.core.checkpoint import MANIFEST, atomic_write_bytes, atomic_write_text, file_sha256

__all__ = ["MAX_PARTS", "PART_BYTES", "PACK_NAME", "MANIFEST_NAME", "PackError", "pack_store", "verify_pack", "unpack"]

#: What comes back from the device: at most 8 files of at most 16 MiB and 64 MiB together; 3 are the results
#: JSON, the log and the pack's manifest, so the store gets 4 parts of 15 MiB (60 MiB).
MAX_PARTS = 4
PART_BYTES = 15 * 2 ** 20
PACK_NAME = "store.tar.gz"
#: the pack's manifest: every part's size and SHA-256, and every packed file's SHA-256, written after the parts.
MANIFEST_NAME = "store.manifest.json"


class PackError(ValueError):
    """A returned pack that is incomplete or altered: nothing of it is unpacked."""


# ---- packing -------------------------------------------------------------------------------------------------

def _skip(name: str) -> bool:
    base = os.path.basename(name)
    # resume states and each entry's digests.json travel: a second call continues an unfinished training from
    # them, and the unpacked store verifies every file it reads against the digests
    return base.endswith(".lock") or (base.startswith(".") and base.endswith(".tmp")) or name.startswith("quarantine")


def pack_store(store_root: str | Path, out: str | Path, max_parts: int = MAX_PARTS,
               part_bytes: int = PART_BYTES) -> list[Path]:
    """Pack ``store_root`` (its entries and resume states; no locks or quarantined files) into a gzipped tar split
    into ``out/store.tar.gz.partNN`` files of at most ``part_bytes``, then ``out/store.manifest.json`` (each
    part's size and SHA-256, the whole pack's, and each packed file's). Raises ``ValueError`` (before writing
    any part) if it needs more than ``max_parts``."""
    store_root, out = Path(store_root), Path(out)
    buffer = io.BytesIO()
    files: dict[str, str] = {}
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as tar:
        for path in sorted(store_root.rglob("*")):
            rel = path.relative_to(store_root)
            if path.is_file() and not _skip(str(rel)):
                name = (Path("store") / rel).as_posix()
                files[name] = file_sha256(path)
                tar.add(path, arcname=name)
    data = buffer.getvalue()
    n = max(1, -(-len(data) // part_bytes))
    if n > max_parts:
        raise ValueError(f"the packed store is {len(data) / 2 ** 20:.1f} MiB: {n} parts of "
                         f"{part_bytes / 2 ** 20:.0f} MiB, more than the {max_parts} allowed; leave out a stage "
                         f"(e.g. --no-classify) or shrink the profile")
    out.mkdir(parents=True, exist_ok=True)
    parts = []
    for i in range(n):
        path = out / f"{PACK_NAME}.part{i:02d}"
        atomic_write_bytes(data[i * part_bytes: (i + 1) * part_bytes], path)
        parts.append(path)
    manifest = {"pack": PACK_NAME, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                "parts": [{"name": q.name, "bytes": q.stat().st_size, "sha256": file_sha256(q)} for q in parts],
                "files": files}
    # written last: a pack without its manifest is one whose packing did not finish
    atomic_write_text(json.dumps(manifest, indent=1) + "\n", out / MANIFEST_NAME)
    return parts


def verify_pack(source: str | Path) -> tuple[dict[str, Any], bytes]:
    """``(manifest, the joined pack)`` of a returned folder, after checking every part named in its manifest
    (present, size, SHA-256), that no other part is there, the whole pack's SHA-256, and that the archive holds
    exactly the manifest's files with their SHA-256 under ``store/``. Raises :class:`PackError` with one line
    naming what is wrong; reads only."""
    source = Path(source)
    manifest_path = source / MANIFEST_NAME
    if not manifest_path.is_file():
        found = sorted(q.name for q in source.glob(f"{PACK_NAME}.part*"))
        raise PackError(f"{source}: no {MANIFEST_NAME}" + (f" beside {len(found)} part(s): the run stopped before "
                        "its packing finished" if found else ": pass the folder the GPU run's $OUT came back to"))
    try:
        manifest = json.loads(manifest_path.read_text())
        listed = [(q["name"], int(q["bytes"]), str(q["sha256"])) for q in manifest["parts"]]
        files = dict(manifest["files"])
    except (ValueError, KeyError, TypeError) as err:
        raise PackError(f"{manifest_path}: not a pack manifest ({type(err).__name__}: {err})") from None
    extra = sorted({q.name for q in source.glob(f"{PACK_NAME}.part*")} - {name for name, _, _ in listed})
    if extra:
        raise PackError(f"{source}: part(s) {extra} are not in the manifest (from another run?)")
    chunks = []
    for name, size, sha in listed:
        part = source / name
        if not part.is_file():
            raise PackError(f"{part}: missing ({len(listed)} parts listed); copy back every part of the run")
        data = part.read_bytes()
        if len(data) != size:
            raise PackError(f"{part}: {len(data)} bytes, the manifest says {size} (truncated or replaced)")
        if hashlib.sha256(data).hexdigest() != sha:
            raise PackError(f"{part}: its SHA-256 differs from the manifest's (altered in transfer)")
        chunks.append(data)
    data = b"".join(chunks)
    if hashlib.sha256(data).hexdigest() != manifest.get("sha256"):
        raise PackError(f"{source}: the joined parts differ from the pack the run wrote (parts out of order?)")
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            members = {m.name: m for m in tar.getmembers()}
            bad = [n for n, m in members.items() if not n.startswith("store/") or ".." in Path(n).parts
                   or not (m.isfile() or m.isdir())]
            if bad:
                raise PackError(f"{source}: unexpected archive members {bad[:3]}; not a packed faiglib store")
            held = {n for n, m in members.items() if m.isfile()}
            if held != set(files):
                raise PackError(f"{source}: the archive holds {len(held)} files, the manifest {len(files)}")
            for name in sorted(held):
                with tar.extractfile(members[name]) as fh:
                    if hashlib.sha256(fh.read()).hexdigest() != files[name]:
                        raise PackError(f"{source}: {name} differs from its SHA-256 in the manifest")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise PackError(f"{source}: the pack does not decompress ({type(err).__name__}: {err})") from None
    return manifest, data


def unpack(source: str | Path, into: str | Path, results: str | Path | None = None) -> dict[str, Any]:
    """Verify ``source`` (:func:`verify_pack`: nothing is written unless every part and file checks out), then
    extract the store into a temporary folder beside ``into/store`` and move each file into place with an atomic
    rename: a file already there with the same bytes is kept, one with other bytes (an earlier broken unpack)
    replaced, and each entry's digest manifest merged. Copies ``gpu_run.json`` (if there) to
    ``results/<profile>/gpu_run.json``. Returns the results JSON (``{}`` if none)."""
    source, into = Path(source), Path(into)
    manifest, data = verify_pack(source)
    into.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=into))
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for m in tar.getmembers():
                if m.isfile():
                    target = staging / m.name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with tar.extractfile(m) as fh, open(target, "wb") as dst:
                        shutil.copyfileobj(fh, dst)
        names = sorted(manifest["files"], key=lambda n: (Path(n).name == MANIFEST, n))  # manifests last
        for name in names:
            target, staged = into / name, staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if Path(name).name == MANIFEST and target.exists():
                merged = {**json.loads(target.read_text()), **json.loads(staged.read_text())}
                atomic_write_text(json.dumps(merged, indent=1, sort_keys=True) + "\n", target)
            elif not (target.exists() and file_sha256(target) == manifest["files"][name]):
                os.replace(staged, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    payload: dict[str, Any] = {}
    found = source / "gpu_run.json"
    if found.exists():
        payload = json.loads(found.read_text())
        if results is not None:
            dest = Path(results) / payload["profile"] / "gpu_run.json"
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(found, dest)
    return payload
