"""Images in, tensors out: folders of PNG/JPG/BMP, scikit-image's bundled photos, and a random patch sampler.

Every image is a float32 tensor ``(3, H, W)`` in [0, 1]: grayscale is repeated to RGB, an alpha channel is
dropped, 16-bit images (16-bit RGB/RGBA PNGs included, at full precision) are scaled by 1/65535.

Training images can be kept as they are stored (``raw=True``): ``uint8`` -- or ``uint16`` for 16-bit sources --
``(3, H, W)`` tensors, a quarter (half) of the float32 memory (a 12-MP photo: 36 MB instead of 144 MB);
:class:`PatchSampler` converts each patch with :func:`to_float`, which gives the very floats of the float path.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

__all__ = [
    "IMAGE_SUFFIXES", "ImageError", "load_image", "save_image", "load_folder", "mod_crop", "center_crop",
    "embedded_images", "EMBEDDED_TRAIN", "EMBEDDED_ANALYSIS", "resolve_images", "folder_files", "source_files",
    "PatchSampler", "check_min_size", "check_analysis_size", "to_float",
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


def _rgb(x: np.ndarray, arr: np.ndarray, what: str) -> np.ndarray:
    """``(H, W)``, ``(H, W, 2|3|4)`` -> ``(H, W, 3)``: gray repeated, alpha dropped (``arr``: the original array,
    for the message)."""
    if x.ndim == 2:
        x = np.repeat(x[..., None], 3, axis=2)
    elif x.ndim == 3 and x.shape[2] == 4:
        x = x[..., :3]
    elif x.ndim == 3 and x.shape[2] == 2:  # gray + alpha
        x = np.repeat(x[..., :1], 3, axis=2)
    if x.ndim != 3 or x.shape[2] != 3:
        raise ImageError(f"{what}: expected a gray, RGB or RGBA image, got array of shape {arr.shape}")
    return x


def _to_raw(arr: np.ndarray, what: str) -> torch.Tensor:
    """Like :func:`_to_tensor` but keeps 8-bit values as ``uint8`` and 16-bit ones as ``uint16`` (bool as 0/255);
    other types (float, wider integers) go the float way."""
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * np.uint8(255)  # 255 / 255 is exactly the float path's 1.0
    elif arr.dtype.kind in "iu" and arr.dtype not in (np.uint8, np.uint16):  # PIL's "I" mode: 16-bit in int32
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            return _to_tensor(arr, what)
        arr = arr.astype(np.uint16)
    if arr.dtype not in (np.uint8, np.uint16):
        return _to_tensor(arr, what)
    return torch.from_numpy(np.ascontiguousarray(_rgb(arr, arr, what).transpose(2, 0, 1)))


def to_float(img: torch.Tensor) -> torch.Tensor:
    """An image as float32 in [0, 1]: ``uint8`` / 255, ``uint16`` / 65535 (exactly the values :func:`load_image`
    gives), floating tensors unchanged (no copy)."""
    if img.is_floating_point():
        return img
    if img.dtype == torch.uint8:
        return img.to(torch.float32) / 255.0
    if img.dtype == torch.uint16:
        return img.to(torch.float32) / 65535.0
    raise ValueError(f"images must be float in [0, 1], uint8 or uint16, got dtype {img.dtype}")


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
    x = _rgb(x, arr, what)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))).clamp_(0.0, 1.0)


def _with_rawmode(tile, rawmode: str):
    """A copy of one PIL tile descriptor ``(codec, extents, offset, args)`` with the raw mode ``rawmode``."""
    args = tile[3]
    args = rawmode if isinstance(args, str) else (rawmode, *args[1:])
    return tile._replace(args=args) if hasattr(tile, "_replace") else (tile[0], tile[1], tile[2], args)


def _png16_colour(path: Path, im) -> np.ndarray | None:
    """The full 16-bit values ``(H, W, 3|4)`` uint16 of a 16-bit RGB/RGBA PNG ``im`` (opened, not loaded), else
    ``None`` (``im`` is then loaded as usual by the caller).

    PIL has no 16-bit colour mode and keeps only the high byte of each value (raw mode ``RGB;16B``). Its PNG
    decoder undoes the scanline filters on the whole 16-bit pixels, though, and the little-endian unpacker
    ``RGB;16L`` takes the *other* byte of each pair: decoding twice gives the high and the low bytes.
    """
    from PIL import Image

    if im.format != "PNG" or len(im.tile) != 1 or im.mode not in ("RGB", "RGBA"):
        return None
    args = im.tile[0][3]
    rawmode = args if isinstance(args, str) else (args[0] if args else None)
    if rawmode != f"{im.mode};16B":
        return None
    im.load()  # the high bytes: PIL's own reading (a broken file fails here, as for any image)
    high = np.array(im)
    try:
        with Image.open(path) as again:
            again.tile = [_with_rawmode(again.tile[0], f"{im.mode};16L")]
            again.load()
            low = np.array(again)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as err:  # a PIL without this unpacker
        warnings.warn(f"{path}: 16-bit colour PNG read with 8 bits per channel only ({type(err).__name__}: {err})")
        return high
    return (high.astype(np.uint16) << 8) | low.astype(np.uint16)


def _read(path: str | os.PathLike) -> np.ndarray:
    """One image file as the array it stores (``uint8``, ``uint16``, ``int32``, ``float32``, ``bool``)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    try:
        with Image.open(path) as im:
            deep = _png16_colour(path, im)
            if deep is not None:
                return deep
            im.load()
            if im.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "1"):
                im = im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB")
            return np.array(im)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageError(f"{path}: not a readable image ({type(err).__name__}: {err})") from None


def load_image(path: str | os.PathLike, raw: bool = False) -> torch.Tensor:
    """Read one image file into ``(3, H, W)`` float32 in [0, 1] (16-bit files, RGB PNGs included, at full
    precision). ``raw=True``: the stored integers instead, ``uint8`` or ``uint16`` (for training images; see
    :func:`to_float`). Raises :class:`ImageError` naming the file."""
    arr = _read(path)
    return _to_raw(arr, str(path)) if raw else _to_tensor(arr, str(path))


def save_image(img: torch.Tensor, path: str | os.PathLike) -> Path:
    """Write ``(3, H, W)`` float in [0, 1] as an 8-bit RGB PNG (rounded to the nearest of 0 … 255), atomically.
    :func:`load_image` reads it back within 1/510 of every value. ValueError for another shape or NaN."""
    import io

    from PIL import Image

    from faiglib.core.checkpoint import atomic_write_bytes

    if not torch.is_tensor(img) or img.dim() != 3 or img.shape[0] != 3:
        raise ValueError(f"save_image needs one RGB image (3, H, W), got {getattr(img, 'shape', type(img).__name__)}")
    if not bool(torch.isfinite(img).all()):
        raise ValueError("the image has NaN or inf values")
    arr = (img.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    buffer = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buffer, format="PNG")
    return atomic_write_bytes(buffer.getvalue(), path)


def check_min_size(images: Sequence[NamedImage], min_side: int, why: str) -> None:
    """Raise :class:`ImageError` naming the first image with a side shorter than ``min_side`` pixels, its size,
    and ``why`` (what needs the size, e.g. ``"the 21x21 blur"``)."""
    for name, img in images:
        h, w = img.shape[-2:]
        if min(h, w) < min_side:
            raise ImageError(f"image {name!r} is {h}x{w}: too small for {why}, which needs at least {min_side} "
                             f"pixels per side; use larger images (or a larger analysis_crop / classify_crop)")


def mod_crop(img: torch.Tensor, scale: int, name: str = "image") -> torch.Tensor:
    """Crop ``(…, H, W)`` at the bottom/right so that H and W are multiples of ``scale``; :class:`ImageError`
    naming ``name`` and its size when a side is shorter than ``scale`` (nothing would be left)."""
    h, w = img.shape[-2:]
    if h < scale or w < scale:
        raise ImageError(f"{name} is {h}x{w}: a side is shorter than the scale {scale}, so no LR pixel is left; "
                         f"use larger images")
    return img[..., : h - h % scale, : w - w % scale]


def center_crop(img: torch.Tensor, size: int, multiple: int = 1) -> torch.Tensor:
    """Central crop of at most ``size`` x ``size`` (smaller sides are kept), sides multiples of ``multiple``."""
    h, w = img.shape[-2:]
    ch, cw = min(h, size), min(w, size)
    ch, cw = ch - ch % multiple, cw - cw % multiple
    top, left = (h - ch) // 2, (w - cw) // 2
    return img[..., top: top + ch, left: left + cw]


def load_folder(folder: str | os.PathLike, scale: int = 1, recursive: bool = False,
                raw: bool = False) -> list[NamedImage]:
    """All PNG/JPG/BMP files of ``folder`` (sorted by name), mod-cropped to ``scale`` (``raw``: see :func:`load_image`).

    Files with other suffixes are ignored; a file with an image suffix that cannot be decoded is an error
    (it is probably a broken download). An empty folder is an error.
    """
    folder = Path(folder)
    return [(str(p.relative_to(folder)), mod_crop(load_image(p, raw=raw), scale, str(p)))
            for p in folder_files(folder, recursive)]


def folder_files(folder: str | os.PathLike, recursive: bool = False) -> list[Path]:
    """The image files :func:`load_folder` reads, in its order (sorted by name)."""
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
    return files


def source_files(source: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path] | None:
    """The files :func:`resolve_images` reads for ``source``, in its order; ``None`` for scikit-image's
    bundled photos (``"embedded…"``), which are not files of the user's."""
    if not isinstance(source, (list, tuple)) and str(source).startswith("embedded"):
        return None
    return [p for folder in _source_folders(source) for p in folder_files(folder)]


def _source_folders(source) -> list[Path]:
    if isinstance(source, (list, tuple)):
        folders = [Path(s) for s in source]
    else:
        folders = [Path(p) for p in str(source).split(os.pathsep) if p]
    if not folders:
        raise ImageError(f"no image folder in {source!r}")
    return folders


def embedded_images(names: Sequence[str] = EMBEDDED_ANALYSIS, scale: int = 1, raw: bool = False) -> list[NamedImage]:
    """scikit-image's bundled photos by name (``motorcycle_left``/``_right`` are the stereo pair); ``raw``: as
    stored (``uint8``), see :func:`load_image`."""
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
        convert = _to_raw if raw else _to_tensor
        out.append((name, mod_crop(convert(np.asarray(arr), f"skimage.data.{name}"), scale)))
    return out


def resolve_images(source: str | os.PathLike | Sequence[str | os.PathLike], scale: int = 1,
                   raw: bool = False) -> list[NamedImage]:
    """Turn a data parameter into named HR images (``raw=True``: ``uint8``/``uint16`` as stored, for training
    images; see :func:`load_image`).

    ``"embedded:analysis"`` / ``"embedded:train"`` select scikit-image photos; anything else is a folder, or
    several folders joined with ``os.pathsep`` (or given as a list), whose names are prefixed by the folder.
    """
    if not isinstance(source, (list, tuple)):
        s = str(source)
        if s in ("embedded", "embedded:analysis"):
            return embedded_images(EMBEDDED_ANALYSIS, scale, raw)
        if s == "embedded:train":
            return embedded_images(EMBEDDED_TRAIN, scale, raw)
    folders = _source_folders(source)
    if len(folders) == 1:
        return load_folder(folders[0], scale, raw=raw)
    return [(f"{folder.name}/{name}", img) for folder in folders for name, img in load_folder(folder, scale, raw=raw)]


def check_analysis_size(images: Sequence[NamedImage], max_pixels: int | None) -> None:
    """Raise :class:`ImageError` naming the first image with more than ``max_pixels`` pixels (``H x W``), its
    size and the remedy; ``max_pixels=None``: no limit. Whole-image FAIG costs ~ pixels x n_steps forward and
    backward passes, so a 4000x3000 photo would run for hours (profile field ``max_analysis_pixels``)."""
    if max_pixels is None:
        return
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise ValueError(f"max_pixels must be an integer >= 1 or None, got {max_pixels!r}")
    for name, img in images:
        h, w = img.shape[-2:]
        if h * w > max_pixels:
            raise ImageError(f"analysis image {name!r} is {h}x{w} = {h * w} pixels, more than max_analysis_pixels "
                             f"= {max_pixels} (whole-image FAIG costs ~ pixels x n_steps): set analysis_crop "
                             f"(profile field) or pass smaller images")


def check_patch_source(images: Sequence[NamedImage], patch: int, batch_size: int, who: str) -> None:
    """What every patch sampler needs of its training images: some, none smaller than the patch, float in
    [0, 1] or ``uint8`` / ``uint16`` as stored; a ``ValueError``/:class:`ImageError` naming the problem."""
    if patch < 1 or batch_size < 1:
        raise ValueError(f"patch and batch_size must be >= 1, got {patch}, {batch_size}")
    if not images:
        raise ImageError(f"{who} got no training images")
    small = [(n, tuple(t.shape[-2:])) for n, t in images if min(t.shape[-2:]) < patch]
    if small:
        raise ImageError(f"{len(small)} training image(s) smaller than the {patch}x{patch} HR patch, "
                         f"e.g. {small[0][0]} of size {small[0][1][0]}x{small[0][1][1]}")
    kinds = {t.dtype for _, t in images if not t.is_floating_point()} - {torch.uint8, torch.uint16}
    if kinds:
        raise ImageError(f"training images must be float in [0, 1], uint8 or uint16, got {sorted(map(str, kinds))}")


class PatchSampler:
    """Random HR training patches ``(batch_size, 3, patch, patch)`` float32 in [0, 1], with flips and
    90-degree rotations.

    Images may be float in [0, 1] or, to save memory, ``uint8``/``uint16`` as stored (``resolve_images(...,
    raw=True)``): each patch is converted by :func:`to_float` when sampled, which gives bit for bit the
    patches of the float images (the draws do not depend on the dtype).

    An image is drawn uniformly, then a position uniformly; all randomness comes from ``generator``, whose
    state (``generator.get_state()``) is all a resumed run needs to continue the same sequence.
    """

    def __init__(self, images: Sequence[NamedImage], patch: int, batch_size: int, generator: torch.Generator,
                 augment: bool = True):
        check_patch_source(images, patch, batch_size, "PatchSampler")
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
            # convert before the flips: they are exact on floats (and torch has no flip for uint16)
            crop = to_float(img[:, top: top + p, left: left + p])
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
