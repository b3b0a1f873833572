"""Data that travels to the GPU machine (the device copies the working tree + `carry` paths, 64 MiB in all):
Set14 as it is (the analysis images) and a training set re-encoded losslessly to fit the rest of the budget.

    python tools/gpu_data.py --shared ../shared/data --out build/gpu-data     # (make gpu-data)

* ``<out>/Set14``: ``Set14/HR/*.png`` copied byte for byte.
* ``<out>/train``: T91 (BMP -> PNG, lossless) and then BSD200's PNGs re-saved with maximal zlib compression
  (lossless: the pixels are unchanged), in name order, as many as fit in ``--train-mib``.

The PNG encoder is deterministic for one Pillow/zlib, and the folder is made once here and carried as it is,
so the training digest the store keys the pair by is the same on both machines. Research images are never
committed: ``build/`` is ignored by git.
"""
from __future__ import annotations

import argparse
import io
import shutil
from pathlib import Path

from PIL import Image


def _png_bytes(path: Path) -> bytes:
    with Image.open(path) as im:
        im = im.convert("RGB")
        buf = io.BytesIO()
        im.save(buf, format="PNG", optimize=True, compress_level=9)
    return buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default="../shared/data")
    ap.add_argument("--out", default="build/gpu-data")
    ap.add_argument("--train-mib", type=float, default=50.0, help="size cap of the training folder (MiB)")
    args = ap.parse_args()
    shared, out = Path(args.shared), Path(args.out)
    (out / "Set14").mkdir(parents=True, exist_ok=True)
    for p in sorted((shared / "Set14" / "HR").glob("*.png")):
        shutil.copyfile(p, out / "Set14" / p.name)
    train = out / "train"
    if train.exists():
        shutil.rmtree(train)
    train.mkdir(parents=True)
    cap, used, kept, skipped = args.train_mib * 2 ** 20, 0, 0, 0
    sources = [("t91", p) for p in sorted((shared / "T91").glob("*.bmp"))] + \
              [("bsd200", p) for p in sorted((shared / "BSD200").glob("*.png"))]
    for prefix, p in sources:
        data = _png_bytes(p)
        if used + len(data) > cap:
            skipped += 1
            continue
        (train / f"{prefix}_{p.stem}.png").write_bytes(data)
        used, kept = used + len(data), kept + 1
    set14 = sum(f.stat().st_size for f in (out / "Set14").iterdir())
    print(f"{out}/Set14: 14 images, {set14 / 2 ** 20:.1f} MiB; {train}: {kept} images "
          f"({used / 2 ** 20:.1f} MiB, {skipped} left out by the {args.train_mib:g} MiB cap)")


if __name__ == "__main__":
    main()
