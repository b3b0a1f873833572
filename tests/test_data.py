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


# ---- 16-bit PNGs at full precision, integer training images, analysis size guard (issue 12, part 2) ------------
def _write_png16(path, arr, filters=(0, 1, 2, 3, 4)):
    """A minimal 16-bit PNG encoder (PIL cannot write 16-bit RGB): colour type 2 (RGB) or 6 (RGBA), every
    scanline filter type in turn, so that a reader has to undo each of them with 6- or 8-byte pixels."""
    import struct
    import zlib

    h, w, c = arr.shape
    raw = arr.astype(">u2").tobytes()
    stride, bpp = w * c * 2, c * 2
    rows, prev = [], bytes(stride)
    for y in range(h):
        line, kind = raw[y * stride: (y + 1) * stride], filters[y % len(filters)]
        out = bytearray(stride)
        for i in range(stride):
            a, b = (line[i - bpp] if i >= bpp else 0), prev[i]
            cc = prev[i - bpp] if i >= bpp else 0
            p = a + b - cc
            paeth = a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - cc) else b if abs(p - b) <= abs(p - cc) else cc
            out[i] = (line[i] - (0, a, b, (a + b) // 2, paeth)[kind]) % 256
        rows.append(bytes([kind]) + bytes(out))
        prev = line

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 16, {3: 2, 4: 6}[c], 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows)))
                     + chunk(b"IEND", b""))


@pytest.mark.parametrize("channels", [3, 4])
def test_load_16bit_rgb_png_at_full_precision(tmp_path, channels):
    arr = np.random.default_rng(3).integers(0, 65536, (7, 9, channels), dtype=np.uint16)
    arr[0, 0, :3] = (1, 255, 65535)  # values that 8 bits cannot tell apart from 0 / 0 / 255
    _write_png16(tmp_path / "deep.png", arr)
    assert Image.open(tmp_path / "deep.png").mode == ("RGB" if channels == 3 else "RGBA")  # PIL's 8-bit view
    t = load_image(tmp_path / "deep.png")
    expected = torch.from_numpy((arr[..., :3].astype(np.float32) / 65535.0).transpose(2, 0, 1).copy())
    assert torch.equal(t, expected)
    raw = load_image(tmp_path / "deep.png", raw=True)
    assert raw.dtype == torch.uint16 and torch.equal(raw.to(torch.int32), torch.from_numpy(
        arr[..., :3].astype(np.int32).transpose(2, 0, 1).copy()))


def test_load_16bit_gray_png_raw_and_float(tmp_path):
    arr = (np.arange(12).reshape(3, 4) * 5000 + 123).astype(np.uint16)
    Image.fromarray(arr).save(tmp_path / "d.png")  # PIL writes 16-bit gray (I;16)
    raw = load_image(tmp_path / "d.png", raw=True)
    assert raw.dtype == torch.uint16 and raw.shape == (3, 3, 4)
    assert torch.equal(raw[1].to(torch.int32), torch.from_numpy(arr.astype(np.int32)))
    assert torch.equal(load_image(tmp_path / "d.png")[0], torch.from_numpy(arr.astype(np.float32) / 65535.0))


def test_training_images_stay_integer_and_sample_bit_identical_patches(tmp_path):
    for i, (h, w) in enumerate([(40, 44), (37, 50)]):
        Image.fromarray(_rgb(h, w, seed=10 + i)).save(tmp_path / f"im{i}.png")
    _write_png16(tmp_path / "deep.png", np.random.default_rng(4).integers(0, 65536, (36, 36, 3), dtype=np.uint16),
                 filters=(0,))
    floats = load_folder(tmp_path, scale=2)
    raws = load_folder(tmp_path, scale=2, raw=True)
    assert [n for n, _ in raws] == [n for n, _ in floats]
    assert [t.dtype for _, t in raws] == [torch.uint16, torch.uint8, torch.uint8]  # 2 resp. 1 byte per value
    assert [t.shape for _, t in raws] == [t.shape for _, t in floats]
    for augment in (True, False):
        a = PatchSampler(floats, 16, 6, torch.Generator().manual_seed(5), augment=augment)
        b = PatchSampler(raws, 16, 6, torch.Generator().manual_seed(5), augment=augment)
        for _ in range(4):
            pa, pb = a.sample(), b.sample()
            assert pb.dtype == torch.float32 and torch.equal(pa, pb)
    every_byte = torch.arange(256, dtype=torch.uint8).view(1, 16, 16).expand(3, 16, 16)
    expected = torch.from_numpy(np.arange(256, dtype=np.uint8).astype(np.float32) / 255.0).view(16, 16)
    assert torch.equal(PatchSampler([("b", every_byte)], 16, 1, torch.Generator(), augment=False).sample()[0, 0], expected)
    skimage_raw = embedded_images(("camera",), scale=2, raw=True)[0][1]
    assert skimage_raw.dtype == torch.uint8
    assert torch.equal(skimage_raw.float() / 255, embedded_images(("camera",), scale=2)[0][1])


def test_analysis_size_guard_names_the_image_its_size_and_the_remedy():
    from faiglib.data.images import check_analysis_size

    images = [("small.png", torch.rand(3, 20, 30)), ("huge.png", torch.rand(3, 40, 50))]
    check_analysis_size(images, max_pixels=2000)  # 40x50 = 2000 pixels is allowed
    check_analysis_size(images, max_pixels=None)  # no limit
    with pytest.raises(ImageError, match=r"huge\.png.*40x50.*1999.*analysis_crop.*smaller images"):
        check_analysis_size(images, max_pixels=1999)
    with pytest.raises(ValueError, match="max_pixels"):
        check_analysis_size(images, max_pixels=0)


def test_save_image_round_trip_and_refusals(tmp_path):
    from faiglib.data.images import save_image

    img = torch.rand(3, 5, 7, generator=torch.Generator().manual_seed(0))
    img[0, 0, 0], img[1, 0, 0] = 0.0, 1.0
    back = load_image(save_image(img, tmp_path / "x.png"))
    assert back.shape == (3, 5, 7) and (back - img).abs().max() <= 0.5 / 255 + 1e-7
    assert back[0, 0, 0] == 0.0 and back[1, 0, 0] == 1.0
    assert torch.equal(back * 255, torch.round(img * 255))  # nearest of 0 … 255
    with pytest.raises(ValueError, match="RGB image"):
        save_image(torch.rand(1, 4, 4), tmp_path / "g.png")
    with pytest.raises(ValueError, match="NaN"):
        save_image(torch.full((3, 2, 2), float("nan")), tmp_path / "n.png")
