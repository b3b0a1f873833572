"""Shrink the figures of executed notebooks before they are committed as an edition: every PNG output larger than
``--min-kb`` (photograph strips, mostly) is re-encoded as JPEG (quality ``--quality``); text outputs, and so every
number, are left as they are. Usage: python tools/shrink_edition.py book/editions/dev/*.ipynb"""
from __future__ import annotations

import argparse
import base64
import io
import json
import os
import tempfile
from pathlib import Path

from PIL import Image


def shrink(path: Path, min_kb: int, quality: int) -> tuple[int, int]:
    nb = json.loads(path.read_text())
    before = path.stat().st_size
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            png = data.get("image/png")
            if png is None:
                continue
            raw = base64.b64decode("".join(png) if isinstance(png, list) else png)
            if len(raw) < min_kb * 1024:
                continue
            image = Image.open(io.BytesIO(raw)).convert("RGB")
            buf = io.BytesIO()
            image.save(buf, format="JPEG", quality=quality, optimize=True)
            if buf.tell() >= len(raw):
                continue
            del data["image/png"]
            data["image/jpeg"] = base64.b64encode(buf.getvalue()).decode("ascii")
    # atomic: a half-written notebook must never replace the executed one
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(nb, f, indent=1, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, path)
    return before, path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--min-kb", type=int, default=150)
    parser.add_argument("--quality", type=int, default=85)
    args = parser.parse_args()
    for path in args.notebooks:
        before, after = shrink(path, args.min_kb, args.quality)
        print(f"{path}: {before / 1e6:.2f} MB -> {after / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
