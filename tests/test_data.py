"""Image loading, folders, errors, the patch sampler and the embedded photos."""
import os

import numpy as np
import pytest
import torch
from PIL import Image

from faiglib.data.images import ImageError, PatchSampler, embedded_images, load_folder, load_image, resolve_images


def _rgb(h=12, w=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _smooth_rgb(h=32, w=32):
    yy, xx = np.mgrid[0:h, 0:w]
    arr = np.stack([xx * 255 / (w - 1), yy * 255 / (h - 1), (xx + yy) * 255 / (h + w - 2)], axis=-1)
    return np.round(arr).astype(np.uint8)


def _as_hwc(t: torch.Tensor) -> np.ndarray:
    assert t.dtype == torch.float32 and t.dim() == 3 and t.shape[0] == 3
    return t.permute(1, 2, 0).numpy()


@pytest.mark.parametrize("suffix", [".png", ".bmp"])
def test_load_lossless(tmp_path, suffix):
    arr = _rgb()
    path = tmp_path / f"img{suffix}"
    Image.fromarray(arr).save(path)
    t = load_image(path)
    assert t.shape == (3, 12, 10)
    np.testing.assert_allclose(_as_hwc(t), arr / 255.0, rtol=0, atol=1e-6)


def test_load_jpeg(tmp_path):
    arr = _smooth_rgb()
    path = tmp_path / "img.jpg"
    Image.fromarray(arr).save(path, quality=95)
    t = load_image(path)
    assert t.shape == (3, 32, 32)
    diff = np.abs(_as_hwc(t) - arr / 255.0)
    assert diff.mean() < 0.02 and diff.max() < 0.1


def test_load_gray_becomes_three_equal_channels(tmp_path):
    arr = _rgb()[..., 0]
    Image.fromarray(arr).save(tmp_path / "g.png")
    assert Image.open(tmp_path / "g.png").mode == "L"
    t = load_image(tmp_path / "g.png")
    assert t.shape == (3, 12, 10)
    for c in range(3):
        np.testing.assert_allclose(t[c].numpy(), arr / 255.0, rtol=0, atol=1e-6)


def test_load_rgba_drops_alpha(tmp_path):
    rgb = _rgb()
    alpha = np.full(rgb.shape[:2] + (1,), 7, np.uint8)
    Image.fromarray(np.concatenate([rgb, alpha], axis=-1)).save(tmp_path / "a.png")
    assert Image.open(tmp_path / "a.png").mode == "RGBA"
    t = load_image(tmp_path / "a.png")
    assert t.shape == (3, 12, 10)
    np.testing.assert_allclose(_as_hwc(t), rgb / 255.0, rtol=0, atol=1e-6)


def test_load_16bit_png(tmp_path):
    arr = (np.arange(12).reshape(3, 4) * 5000 + 123).astype(np.uint16)
    Image.fromarray(arr).save(tmp_path / "d.png")
    assert Image.open(tmp_path / "d.png").mode.startswith("I")
    t = load_image(tmp_path / "d.png")
    assert t.shape == (3, 3, 4)
    for c in range(3):
        np.testing.assert_allclose(t[c].numpy(), arr / 65535.0, rtol=1e-6, atol=1e-7)


def test_load_folder_modcrop_sort_ignore_txt(tmp_path):
    Image.fromarray(_rgb(13, 11, 1)).save(tmp_path / "b.png")
    Image.fromarray(_rgb(9, 14, 2)).save(tmp_path / "a.bmp")
    Image.fromarray(_rgb(8, 8, 3)).save(tmp_path / "c.png")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "aa.txt").write_text("nor this")
    out = load_folder(tmp_path, scale=4)
    assert [n for n, _ in out] == ["a.bmp", "b.png", "c.png"]
    assert [tuple(t.shape) for _, t in out] == [(3, 8, 12), (3, 12, 8), (3, 8, 8)]
    # mod-crop keeps the top-left part
    np.testing.assert_allclose(_as_hwc(out[1][1]), _rgb(13, 11, 1)[:12, :8] / 255.0, atol=1e-6)
    # scale 1: nothing cropped
    assert tuple(load_folder(tmp_path)[1][1].shape) == (3, 13, 11)


def test_load_folder_empty(tmp_path):
    with pytest.raises(ImageError) as info:
        load_folder(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_load_folder_only_txt(tmp_path):
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(ImageError) as info:
        load_folder(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_load_folder_corrupt_png(tmp_path):
    Image.fromarray(_rgb()).save(tmp_path / "good.png")
    (tmp_path / "x.png").write_bytes(b"this is not a png file at all")
    with pytest.raises(ImageError) as info:
        load_folder(tmp_path)
    assert str(tmp_path / "x.png") in str(info.value)
    with pytest.raises(ImageError, match="x.png"):
        load_image(tmp_path / "x.png")


def test_truncated_png(tmp_path):
    Image.fromarray(_rgb(64, 64)).save(tmp_path / "t.png")
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="t.png"):
        load_image(tmp_path / "t.png")


def test_missing_paths(tmp_path):
    missing = tmp_path / "does_not_exist"
    with pytest.raises(ImageError) as info:
        load_folder(missing)
    assert str(missing) in str(info.value)
    with pytest.raises(ImageError) as info:
        load_image(missing / "a.png")
    assert str(missing / "a.png") in str(info.value)
    with pytest.raises(ImageError):
        resolve_images(str(missing))


def test_patch_sampler_small_image_named():
    images = [("big.png", torch.rand(3, 40, 40)), ("tiny.png", torch.rand(3, 20, 50))]
    with pytest.raises(ImageError, match="tiny.png"):
        PatchSampler(images, patch=32, batch_size=2, generator=torch.Generator().manual_seed(0))


def test_patch_sampler_reproducible_and_real_crops():
    g = torch.Generator().manual_seed(0)
    images = [("a", torch.rand(3, 20, 24, generator=g)), ("b", torch.rand(3, 17, 19, generator=g))]
    s1 = PatchSampler(images, 8, 4, torch.Generator().manual_seed(42))
    s2 = PatchSampler(images, 8, 4, torch.Generator().manual_seed(42))
    for _ in range(3):
        b1, b2 = s1.sample(), s2.sample()
        assert b1.shape == (4, 3, 8, 8)
        torch.testing.assert_close(b1, b2, rtol=0, atol=0)
    s3 = PatchSampler(images, 8, 4, torch.Generator().manual_seed(43))
    assert not torch.equal(s3.sample(), PatchSampler(images, 8, 4, torch.Generator().manual_seed(42)).sample())

    plain = PatchSampler(images, 8, 6, torch.Generator().manual_seed(7), augment=False)
    batch = plain.sample()
    for patch in batch:
        found = False
        for _, img in images:  # brute-force search of all positions
            h, w = img.shape[-2:]
            for top in range(h - 8 + 1):
                for left in range(w - 8 + 1):
                    if torch.equal(img[:, top: top + 8, left: left + 8], patch):
                        found = True
        assert found, "patch is not a crop of any source image"


def test_patch_sampler_augmented_patch_is_transformed_crop():
    img = torch.rand(3, 12, 12, generator=torch.Generator().manual_seed(1))
    batch = PatchSampler([("a", img)], 6, 8, torch.Generator().manual_seed(3)).sample()
    crops = [img[:, t: t + 6, l: l + 6] for t in range(7) for l in range(7)]
    variants = []
    for c in crops:
        for x in (c, c.transpose(-1, -2)):
            variants += [x, x.flip(-1), x.flip(-2), x.flip(-1).flip(-2)]
    for patch in batch:
        assert any(torch.equal(patch, v) for v in variants)


def test_embedded_astronaut():
    [(name, img)] = embedded_images(("astronaut",))
    assert name == "astronaut"
    assert img.shape == (3, 512, 512) and img.dtype == torch.float32
    assert float(img.min()) >= 0.0 and float(img.max()) <= 1.0
    assert float(img.max()) > 0.9 and float(img.std()) > 0.05  # really an 8-bit photo scaled to [0, 1]


def test_embedded_unknown_name():
    with pytest.raises(ImageError, match="no_such_photo"):
        embedded_images(("no_such_photo",))


def test_resolve_images_two_folders(tmp_path):
    d1, d2 = tmp_path / "setA", tmp_path / "setB"
    d1.mkdir()
    d2.mkdir()
    Image.fromarray(_rgb(6, 6, 1)).save(d1 / "x.png")
    Image.fromarray(_rgb(6, 6, 2)).save(d2 / "x.png")
    Image.fromarray(_rgb(7, 6, 3)).save(d2 / "y.png")
    out = resolve_images(f"{d1}{os.pathsep}{d2}", scale=2)
    assert [n for n, _ in out] == ["setA/x.png", "setB/x.png", "setB/y.png"]
    assert tuple(out[2][1].shape) == (3, 6, 6)
    np.testing.assert_allclose(_as_hwc(out[1][1]), _rgb(6, 6, 2) / 255.0, atol=1e-6)
    # a single folder keeps plain names
    assert [n for n, _ in resolve_images(str(d2))] == ["x.png", "y.png"]
