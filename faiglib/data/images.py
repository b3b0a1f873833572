"""Images in, tensors out: folders of PNG/JPG/BMP, scikit-image's bundled photos, and a random patch sampler.

Every image is a float32 tensor ``(3, H, W)`` in [0, 1]: grayscale is repeated to RGB, an alpha channel is
dropped, 16-bit images are scaled by 1/65535.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

__all__ = [
    "IMAGE_SUFFIXES", "ImageError", "load_image", "load_folder", "mod_crop", "center_crop",
    "embedded_images", "EMBEDDED_TRAIN", "EMBEDDED_ANALYSIS", "resolve_images", "PatchSampler", "check_min_size",
    "check_analysis_size", "to_float",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")

#: scikit-image photos (shipped in its wheel, no download) used when no folder is given.
#: Analysis images are natural colour photos; training uses the others (textures, documents, science images).
EMBEDDED_ANALYSIS = ("astronaut", "chelsea", "coffee", "rocket")
EMBEDDED_TRAIN = ("hubble_deep_field", "immunohistochemistry", "retina", "motorcycle_left", "motorcycle_right",
                  "camera", "moon", "coins", "brick", "grass", "gravel", "clock", "cell", "page", "text")

NamedImage = tuple[str, torch.Tensor]


class ImageError(ValueError):
    """An image or folder that cannot be used, with the path and the reason in the message."""


def _to_tensor(arr: np.ndarray, what: str) -> torch.Tensor:
    if arr.dtype == np.uint8:
        x = arr.astype(np.float32) / 255.0
    elif arr.dtype in (np.uint16, np.int32) or arr.dtype.kind in "iu":
        x = arr.astype(np.float32) / 65535.0
    elif arr.dtype == bool:
        x = arr.astype(np.float32)
    else:
        x = arr.astype(np.float32)
        if x.max(initial=0.0) > 1.0 + 1e-6 or x.min(initial=0.0) < -1e-6:
            raise ImageError(f"{what}: float image values outside [0, 1]")
    if x.ndim == 2:
        x = np.repeat(x[..., None], 3, axis=2)
    elif x.ndim == 3 and x.shape[2] == 4:
        x = x[..., :3]
    elif x.ndim == 3 and x.shape[2] == 2:  # gray + alpha
        x = np.repeat(x[..., :1], 3, axis=2)
    if x.ndim != 3 or x.shape[2] != 3:
        raise ImageError(f"{what}: expected a gray, RGB or RGBA image, got array of shape {arr.shape}")
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))).clamp_(0.0, 1.0)


def load_image(path: str | os.PathLike) -> torch.Tensor:
    """Read one image file into ``(3, H, W)`` float32 in [0, 1]. Raises :class:`ImageError` naming the file."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "1"):
                im = im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB")
            arr = np.array(im)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageError(f"{path}: not a readable image ({type(err).__name__}: {err})") from None
    return _to_tensor(arr, str(path))


def check_min_size(images: Sequence[NamedImage], min_side: int, why: str) -> None:
    """Raise :class:`ImageError` naming the first image with a side shorter than ``min_side`` pixels, its size,
    and ``why`` (what needs the size, e.g. ``"the 21x21 blur"``)."""
    for name, img in images:
        h, w = img.shape[-2:]
        if min(h, w) < min_side:
            raise ImageError(f"image {name!r} is {h}x{w}: too small for {why}, which needs at least {min_side} "
                             f"pixels per side; use larger images (or a larger analysis_crop / classify_crop)")


def mod_crop(img: torch.Tensor, scale: int) -> torch.Tensor:
    """Crop ``(…, H, W)`` at the bottom/right so that H and W are multiples of ``scale``."""
    h, w = img.shape[-2:]
    return img[..., : h - h % scale, : w - w % scale]


def center_crop(img: torch.Tensor, size: int, multiple: int = 1) -> torch.Tensor:
    """Central crop of at most ``size`` x ``size`` (smaller sides are kept), sides multiples of ``multiple``."""
    h, w = img.shape[-2:]
    ch, cw = min(h, size), min(w, size)
    ch, cw = ch - ch % multiple, cw - cw % multiple
    top, left = (h - ch) // 2, (w - cw) // 2
    return img[..., top: top + ch, left: left + cw]


def load_folder(folder: str | os.PathLike, scale: int = 1, recursive: bool = False) -> list[NamedImage]:
    """All PNG/JPG/BMP files of ``folder`` (sorted by name), mod-cropped to ``scale``.

    Files with other suffixes are ignored; a file with an image suffix that cannot be decoded is an error
    (it is probably a broken download). An empty folder is an error.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageError(f"{folder}: not a folder")
    pattern = "**/*" if recursive else "*"
    files = sorted(p for p in folder.glob(pattern)
                   if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    if not files:
        others = sorted(p.name for p in folder.iterdir())[:5]
        raise ImageError(f"{folder}: no {'/'.join(IMAGE_SUFFIXES)} images found"
                         + (f" (it holds e.g. {others})" if others else " (the folder is empty)"))
    return [(str(p.relative_to(folder)), mod_crop(load_image(p), scale)) for p in files]


def embedded_images(names: Sequence[str] = EMBEDDED_ANALYSIS, scale: int = 1) -> list[NamedImage]:
    """scikit-image's bundled photos by name (``motorcycle_left``/``_right`` are the stereo pair)."""
    from skimage import data as skdata

    out = []
    for name in names:
        if name.startswith("motorcycle_"):
            left, right, _ = skdata.stereo_motorcycle()
            arr = left if name.endswith("left") else right
        else:
            loader = getattr(skdata, name, None)
            if loader is None:
                raise ImageError(f"scikit-image has no bundled image {name!r}")
            arr = loader()
        out.append((name, mod_crop(_to_tensor(np.asarray(arr), f"skimage.data.{name}"), scale)))
    return out


def resolve_images(source: str | os.PathLike | Sequence[str | os.PathLike], scale: int = 1) -> list[NamedImage]:
    """Turn a data parameter into named HR images.

    ``"embedded:analysis"`` / ``"embedded:train"`` select scikit-image photos; anything else is a folder, or
    several folders joined with ``os.pathsep`` (or given as a list), whose names are prefixed by the folder.
    """
    if isinstance(source, (list, tuple)):
        folders = [Path(s) for s in source]
    else:
        s = str(source)
        if s in ("embedded", "embedded:analysis"):
            return embedded_images(EMBEDDED_ANALYSIS, scale)
        if s == "embedded:train":
            return embedded_images(EMBEDDED_TRAIN, scale)
        folders = [Path(p) for p in s.split(os.pathsep) if p]
    if not folders:
        raise ImageError(f"no image folder in {source!r}")
    if len(folders) == 1:
        return load_folder(folders[0], scale)
    return [(f"{folder.name}/{name}", img) for folder in folders for name, img in load_folder(folder, scale)]


class PatchSampler:
    """Random HR training patches ``(batch_size, 3, patch, patch)`` with flips and 90-degree rotations.

    An image is drawn uniformly, then a position uniformly; all randomness comes from ``generator``, whose
    state (``generator.get_state()``) is all a resumed run needs to continue the same sequence.
    """

    def __init__(self, images: Sequence[NamedImage], patch: int, batch_size: int, generator: torch.Generator,
                 augment: bool = True):
        if patch < 1 or batch_size < 1:
            raise ValueError(f"patch and batch_size must be >= 1, got {patch}, {batch_size}")
        if not images:
            raise ImageError("PatchSampler got no training images")
        small = [(n, tuple(t.shape[-2:])) for n, t in images if min(t.shape[-2:]) < patch]
        if small:
            raise ImageError(f"{len(small)} training image(s) smaller than the {patch}x{patch} HR patch, "
                             f"e.g. {small[0][0]} of size {small[0][1][0]}x{small[0][1][1]}")
        self.images = [t for _, t in images]
        self.patch, self.batch_size, self.augment = patch, batch_size, augment
        self.generator = generator

    def sample(self) -> torch.Tensor:
        g, p = self.generator, self.patch
        out = torch.empty(self.batch_size, 3, p, p)
        picks = torch.randint(len(self.images), (self.batch_size,), generator=g).tolist()
        for b, i in enumerate(picks):
            img = self.images[i]
            h, w = img.shape[-2:]
            top = int(torch.randint(h - p + 1, (1,), generator=g))
            left = int(torch.randint(w - p + 1, (1,), generator=g))
            crop = img[:, top: top + p, left: left + p]
            if self.augment:
                hflip, vflip, transpose = (torch.rand(3, generator=g) < 0.5).tolist()
                if hflip:
                    crop = crop.flip(-1)
                if vflip:
                    crop = crop.flip(-2)
                if transpose:
                    crop = crop.transpose(-1, -2)
            out[b] = crop
        return out
