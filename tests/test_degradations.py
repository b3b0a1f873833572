"""The degradation model (blur, resize, noise) against independently computed references."""
import numpy as np
import pytest
import torch
from PIL import Image

from faiglib.data.degradations import (DEGRADATION_KINDS, Degradation, add_noise, blur, build_analysis_set, downsample, gaussian_kernel, random_degrade, uniform_draws)


def _kernel_std(k: torch.Tensor) -> float:
    size = k.shape[0]
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    # marginal standard deviation along the columns (and, by symmetry, the rows)
    return float((k.double() * x[None, :] ** 2).sum().sqrt())


# ---------------------------------------------------------------- gaussian_kernel

@pytest.mark.parametrize("sigma,size", [(2.0, 21), (0.8, 5), (3.0, 15), (1.0, 1)])
def test_gaussian_kernel_basic(sigma, size):
    k = gaussian_kernel(sigma, size)
    assert k.shape == (size, size)
    assert float(k.sum()) == pytest.approx(1.0, abs=1e-12)
    assert (k >= 0).all()
    torch.testing.assert_close(k, k.T, rtol=0, atol=0)
    torch.testing.assert_close(k, k.flip(0), rtol=0, atol=0)
    torch.testing.assert_close(k, k.flip(1), rtol=0, atol=0)
    # maximum at the centre
    assert k.argmax() == (size // 2) * size + size // 2


def test_gaussian_kernel_std_close_to_sigma():
    err21 = abs(_kernel_std(gaussian_kernel(2.0, 21)) - 2.0)
    err9 = abs(_kernel_std(gaussian_kernel(2.0, 9)) - 2.0)
    err41 = abs(_kernel_std(gaussian_kernel(2.0, 41)) - 2.0)
    assert err21 < 1e-3
    assert err9 > err21  # truncation at 2 sigma shrinks the spread
    assert err41 <= err21
    assert err41 < 1e-8


def test_gaussian_kernel_is_separable_gaussian():
    # independent formula: outer product of normalised exp(-x^2 / 2 sigma^2)
    x = np.arange(7) - 3.0
    g = np.exp(-x ** 2 / (2 * 1.3 ** 2))
    g /= g.sum()
    np.testing.assert_allclose(gaussian_kernel(1.3, 7).numpy(), np.outer(g, g), rtol=0, atol=1e-14)


@pytest.mark.parametrize("sigma,size", [(2.0, 20), (2.0, 0), (2.0, -3), (0.0, 21), (-1.0, 21), (float("nan"), 21)])
def test_gaussian_kernel_rejects_bad_parameters(sigma, size):
    with pytest.raises(ValueError):
        gaussian_kernel(sigma, size)


# ---------------------------------------------------------------- blur

def test_blur_of_constant_is_constant():
    img = torch.full((3, 16, 18), 0.42, dtype=torch.float64)
    out = blur(img, 2.0, 21)
    assert out.shape == img.shape
    torch.testing.assert_close(out, img, rtol=0, atol=1e-12)


def test_blur_deterministic_and_batched():
    g = torch.Generator().manual_seed(1)
    img = torch.rand(2, 3, 16, 16, generator=g)
    a, b = blur(img), blur(img)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(blur(img[1]), a[1], rtol=0, atol=1e-6)


def test_blur_matches_numpy_reflect101_convolution():
    rng = np.random.default_rng(0)
    img = rng.random((1, 12, 13))
    sigma, size = 1.2, 7
    x = np.arange(size) - size // 2
    g = np.exp(-x ** 2 / (2 * sigma ** 2))
    g /= g.sum()
    pad = size // 2
    padded = np.pad(img[0], pad, mode="reflect")  # numpy 'reflect' == OpenCV reflect-101
    ref = np.zeros_like(img[0])
    for i in range(size):
        for j in range(size):
            ref += g[i] * g[j] * padded[i: i + 12, j: j + 13]
    out = blur(torch.from_numpy(img), sigma, size)
    np.testing.assert_allclose(out[0].numpy(), ref, rtol=0, atol=1e-12)


def test_blur_rejects_too_small_image():
    with pytest.raises(ValueError):
        blur(torch.rand(3, 8, 8), 2.0, 21)


# ---------------------------------------------------------------- downsample

def test_bilinear_x2_is_mean_of_2x2_blocks():
    g = torch.Generator().manual_seed(2)
    img = torch.rand(2, 3, 8, 10, generator=g, dtype=torch.float64)
    ref = img.reshape(2, 3, 4, 2, 5, 2).mean(dim=(3, 5))
    out = downsample(img, 2, "bilinear")
    assert out.shape == (2, 3, 4, 5)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    # unbatched input keeps its rank
    torch.testing.assert_close(downsample(img[0], 2), ref[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_preserves_constants(scale):
    img = torch.full((3, 12 * scale // 2, 6 * scale), 0.73, dtype=torch.float64)
    out = downsample(img, scale, "bicubic")
    assert out.shape == (3, img.shape[1] // scale, img.shape[2] // scale)
    torch.testing.assert_close(out, torch.full_like(out, 0.73), rtol=0, atol=1e-12)


@pytest.mark.parametrize("scale", [2, 3])
def test_bicubic_matches_pil_in_the_interior(scale):
    rng = np.random.default_rng(3)
    h, w = 16 * scale, 12 * scale
    arr = rng.random((h, w)).astype(np.float32)
    pil = Image.fromarray(arr)  # mode 'F'
    assert pil.mode == "F"
    ref = np.asarray(pil.resize((w // scale, h // scale), Image.BICUBIC), dtype=np.float64)
    img = torch.from_numpy(np.stack([arr] * 3).astype(np.float64))
    out = downsample(img, scale, "bicubic")[0].numpy()
    assert out.shape == ref.shape
    m = 3  # PIL clips the kernel at the borders, MATLAB mirrors: compare away from them
    value_range = float(arr.max() - arr.min())
    np.testing.assert_allclose(out[m:-m, m:-m], ref[m:-m, m:-m], rtol=0, atol=1e-4 * value_range)
    # and the borders differ only a little
    assert np.abs(out - ref).max() < 0.2


@pytest.mark.parametrize("resize", ["bilinear", "bicubic"])
def test_downsample_non_multiple_raises_with_size(resize):
    with pytest.raises(ValueError, match="15x16"):
        downsample(torch.rand(3, 15, 16), 2, resize)


def test_downsample_unknown_resize():
    with pytest.raises(ValueError):
        downsample(torch.rand(3, 4, 4), 2, "lanczos")


# ---------------------------------------------------------------- noise

def test_add_noise_std_and_reproducibility():
    img = torch.full((3, 64, 64), 0.5, dtype=torch.float64)
    out = add_noise(img, 0.1, torch.Generator().manual_seed(5), clip=False)
    noise = out - img
    assert float(noise.std()) == pytest.approx(0.1, rel=0.05)
    assert abs(float(noise.mean())) < 0.01
    again = add_noise(img, 0.1, torch.Generator().manual_seed(5), clip=False)
    torch.testing.assert_close(out, again, rtol=0, atol=0)
    other = add_noise(img, 0.1, torch.Generator().manual_seed(6), clip=False)
    assert not torch.equal(out, other)


def test_add_noise_clip():
    img = torch.full((3, 32, 32), 0.95)
    out = add_noise(img, 0.3, torch.Generator().manual_seed(0))
    assert out.min() >= 0 and out.max() <= 1
    assert (out == 1).any()


def test_add_noise_needs_generator():
    with pytest.raises(ValueError):
        add_noise(torch.rand(3, 4, 4), 0.1)
    with pytest.raises(ValueError):
        add_noise(torch.rand(3, 4, 4), -0.1, torch.Generator())


# ---------------------------------------------------------------- Degradation

@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("blur_on", [False, True])
@pytest.mark.parametrize("noise_on", [False, True])
def test_degradation_shapes(scale, blur_on, noise_on):
    deg = Degradation(scale=scale)
    g = torch.Generator().manual_seed(0)
    hr = torch.rand(3, 24, 32)
    lr = deg(hr, blur=blur_on, noise=noise_on, generator=g)
    assert lr.shape == (3, 24 // scale, 32 // scale)
    lr_b = deg(hr[None].expand(2, -1, -1, -1), blur=blur_on, noise=noise_on, generator=g)
    assert lr_b.shape == (2, 3, 24 // scale, 32 // scale)


def test_degradation_clean_is_plain_downsample_and_blur_differs():
    g = torch.Generator().manual_seed(0)
    hr = torch.rand(3, 24, 24, generator=g, dtype=torch.float64)
    deg = Degradation()
    clean = deg(hr, blur=False, noise=False)
    torch.testing.assert_close(clean, hr.reshape(3, 12, 2, 12, 2).mean(dim=(2, 4)), rtol=0, atol=1e-12)
    assert not torch.allclose(deg(hr, blur=True, noise=False), clean, atol=1e-3)


def test_degradation_validates():
    with pytest.raises(ValueError):
        Degradation(blur_size=4)
    with pytest.raises(ValueError):
        Degradation(resize="nearest")
    with pytest.raises(ValueError):
        Degradation(noise_sigma=-1)
    with pytest.raises(ValueError):
        Degradation().kind(torch.rand(3, 24, 24), "jpeg")


# ---------------------------------------------------------------- build_analysis_set

def _gray_images(n=2, size=24):
    g = torch.Generator().manual_seed(11)
    # mid-gray with mild texture: with sigma 0.1 noise, clipping is (practically) impossible
    return [(f"img{i}.png", 0.5 + 0.05 * (torch.rand(3, size, size, generator=g, dtype=torch.float64) - 0.5))
            for i in range(n)]


def test_analysis_set_deterministic_and_seeded():
    imgs = _gray_images()
    a = build_analysis_set(imgs, seed=0)
    b = build_analysis_set(imgs, seed=0)
    c = build_analysis_set(imgs, seed=1)
    assert set(a.lr) == set(DEGRADATION_KINDS) == {"clean", "blur", "noise", "blur+noise"}
    assert len(a) == 2 and a.names == ["img0.png", "img1.png"]
    for kind in DEGRADATION_KINDS:
        assert len(a.lr[kind]) == 2
        for x, y in zip(a.lr[kind], b.lr[kind]):
            assert x.shape == (3, 12, 12)
            torch.testing.assert_close(x, y, rtol=0, atol=0)
    for kind in ("clean", "blur"):
        for x, z in zip(a.lr[kind], c.lr[kind]):
            torch.testing.assert_close(x, z, rtol=0, atol=0)
    for kind in ("noise", "blur+noise"):
        for x, z in zip(a.lr[kind], c.lr[kind]):
            assert (x - z).abs().max() > 0.05
    # different images get different noise
    n0 = a.lr["noise"][0] - a.lr["clean"][0]
    n1 = a.lr["noise"][1] - a.lr["clean"][1]
    assert (n0 - n1).abs().max() > 0.05


def test_analysis_set_noise_shared_between_noise_and_blur_noise():
    s = build_analysis_set(_gray_images(), seed=3)
    for i in range(len(s)):
        clean, bl, no, bn = (s.lr[k][i] for k in ("clean", "blur", "noise", "blur+noise"))
        unclipped = (no > 0) & (no < 1) & (bn > 0) & (bn < 1)
        assert unclipped.float().mean() > 0.99
        n_a = (bn - bl)[unclipped]
        n_b = (no - clean)[unclipped]
        torch.testing.assert_close(n_a, n_b, rtol=0, atol=1e-6)
        assert float(n_b.std()) == pytest.approx(0.1, rel=0.2)


def test_analysis_set_empty_raises():
    with pytest.raises(ValueError):
        build_analysis_set([])


# ---------------------------------------------------------------- random_degrade

_SMALL = Degradation(blur_sigma=1.0, blur_size=5, noise_sigma=0.1)


def _batch(n=400):
    return torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(21), dtype=torch.float64)


def _classify(hr, lr, deg=_SMALL):
    """Per sample: (blurred?, noisy?) by comparing with the two noise-free candidates."""
    clean = downsample(hr, deg.scale, deg.resize)
    blurred = downsample(blur(hr, deg.blur_sigma, deg.blur_size), deg.scale, deg.resize)
    is_clean = (lr - clean).flatten(1).abs().amax(1) < 1e-9
    is_blur = (lr - blurred).flatten(1).abs().amax(1) < 1e-9
    assert not (is_clean & is_blur).any()
    return is_clean, is_blur


def test_random_degrade_blur_probability():
    hr = _batch()
    lr = random_degrade(hr, _SMALL, torch.Generator().manual_seed(0), p_blur=0.5, p_noise=0.0)
    assert lr.shape == (400, 3, 4, 4)
    is_clean, is_blur = _classify(hr, lr)
    assert (is_clean | is_blur).all()  # no noise anywhere
    assert 150 <= int(is_blur.sum()) <= 250


def test_random_degrade_noise_probability():
    hr = _batch()
    lr = random_degrade(hr, _SMALL, torch.Generator().manual_seed(1), p_blur=0.0, p_noise=0.5)
    is_clean, is_blur = _classify(hr, lr)
    assert not is_blur.any()
    assert 150 <= int((~is_clean).sum()) <= 250


def test_random_degrade_both_half():
    hr = _batch()
    lr = random_degrade(hr, _SMALL, torch.Generator().manual_seed(2), p_blur=0.5, p_noise=0.5)
    is_clean, is_blur = _classify(hr, lr)
    noise_free = is_clean | is_blur
    assert 150 <= int(noise_free.sum()) <= 250
    assert 0.3 <= float(is_blur.sum()) / float(noise_free.sum()) <= 0.7


def test_random_degrade_p_zero_and_one():
    hr = _batch()
    lr = random_degrade(hr, _SMALL, torch.Generator().manual_seed(3), p_blur=0.0, p_noise=0.0)
    is_clean, _ = _classify(hr, lr)
    assert is_clean.all()
    lr = random_degrade(hr, _SMALL, torch.Generator().manual_seed(3), p_blur=1.0, p_noise=0.0)
    _, is_blur = _classify(hr, lr)
    assert is_blur.all()


def test_random_degrade_deterministic():
    hr = _batch(16)
    a = random_degrade(hr, _SMALL, torch.Generator().manual_seed(9))
    b = random_degrade(hr, _SMALL, torch.Generator().manual_seed(9))
    torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("p_blur,p_noise", [(-0.1, 0.5), (1.5, 0.5), (0.5, -0.01), (0.5, 1.01)])
def test_random_degrade_rejects_bad_probability(p_blur, p_noise):
    with pytest.raises(ValueError):
        random_degrade(_batch(4), _SMALL, torch.Generator().manual_seed(0), p_blur=p_blur, p_noise=p_noise)


def test_random_degrade_needs_batch():
    with pytest.raises(ValueError):
        random_degrade(torch.rand(3, 8, 8), _SMALL, torch.Generator().manual_seed(0))


# ---------------------------------------------------------------- random sigmas (blind SR, Table 1)

def test_uniform_draws_in_range_and_reproducible():
    from faiglib.data.degradations import uniform_draws

    a = uniform_draws(1000, (0.2, 2.0), torch.Generator().manual_seed(3))
    b = uniform_draws(1000, (0.2, 2.0), torch.Generator().manual_seed(3))
    c = uniform_draws(1000, (0.2, 2.0), torch.Generator().manual_seed(4))
    assert a.shape == (1000,) and a.dtype == torch.float64
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.min()) >= 0.2 and float(a.max()) < 2.0
    assert abs(float(a.mean()) - 1.1) < 0.05  # uniform: mean at the middle of the range
    # a range of width 0 gives the value and consumes the same draws
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    assert torch.equal(uniform_draws(5, (0.5, 0.5), g1), torch.full((5,), 0.5, dtype=torch.float64))
    uniform_draws(5, (0.2, 2.0), g2)
    assert torch.equal(torch.rand(3, generator=g1), torch.rand(3, generator=g2))


def test_uniform_draws_refuses_bad_input():
    from faiglib.data.degradations import uniform_draws

    with pytest.raises(ValueError, match="low <= high"):
        uniform_draws(3, (2.0, 0.2), torch.Generator())
    with pytest.raises(ValueError, match="Generator"):
        uniform_draws(3, (0.2, 2.0), None)


def test_blind_degrade_each_sample_has_its_own_sigma():
    from faiglib.data.degradations import blind_degrade, uniform_draws

    g = torch.Generator().manual_seed(0)
    hr = torch.rand(4, 3, 32, 32, generator=g)
    lr, sigmas, noise = blind_degrade(hr, torch.Generator().manual_seed(7), blur_range=(0.2, 2.0), scale=2)
    assert lr.shape == (4, 3, 16, 16) and sigmas.shape == (4,) and torch.equal(noise, torch.zeros(4, dtype=torch.float64))
    # the sigmas are the generator's first draws, and each sample equals the fixed-sigma degradation
    assert torch.equal(sigmas, uniform_draws(4, (0.2, 2.0), torch.Generator().manual_seed(7)))
    for i in range(4):
        expected = Degradation(scale=2, blur_sigma=float(sigmas[i]))(hr[i], blur=True, noise=False)
        torch.testing.assert_close(lr[i], expected, rtol=0, atol=1e-6)
    again = blind_degrade(hr, torch.Generator().manual_seed(7), blur_range=(0.2, 2.0), scale=2)
    assert torch.equal(lr, again[0])


def test_blind_degrade_noise_level_is_drawn_per_sample():
    from faiglib.data.degradations import blind_degrade

    hr = torch.full((3, 3, 64, 64), 0.5)  # flat gray: blur changes nothing, the residual is the noise
    lr, sigmas, noise = blind_degrade(hr, torch.Generator().manual_seed(2), blur_range=(1.0, 1.0),
                                      noise_range=(0.0, 0.1), scale=2)
    assert torch.equal(sigmas, torch.ones(3, dtype=torch.float64))
    assert float(noise.min()) >= 0.0 and float(noise.max()) < 0.1 and len(set(noise.tolist())) == 3
    measured = (lr - 0.5).flatten(1).std(1)
    torch.testing.assert_close(measured.double(), noise, rtol=0.1, atol=2e-3)
    with pytest.raises(ValueError, match="batch"):
        blind_degrade(hr[0], torch.Generator(), blur_range=(1.0, 2.0))
    with pytest.raises(ValueError, match="sigma"):
        blind_degrade(hr, torch.Generator(), blur_range=(0.0, 0.0))


def test_random_degrade_ranges_give_each_sample_its_own_strength():
    hr = _batch(64)
    unclipped = Degradation(blur_sigma=1.0, blur_size=5, noise_sigma=0.1, clip=False)
    # noise only, always: each sample's residual std is its own sigma, inside the range, and they differ
    lr = random_degrade(hr, unclipped, torch.Generator().manual_seed(3), p_blur=0.0, p_noise=1.0,
                        noise_range=(0.05, 0.3))
    sigmas = (lr - downsample(hr, 2, "bilinear")).flatten(1).std(1)
    assert float(sigmas.min()) > 0.03 and float(sigmas.max()) < 0.4 and float(sigmas.std()) > 0.03
    # blur only, always: every sample is the blur of one sigma of the range, not the profile's fixed sigma
    wide = Degradation(blur_sigma=2.0, blur_size=9)
    lr = random_degrade(hr[:6], wide, torch.Generator().manual_seed(4), p_blur=1.0, p_noise=0.0, blur_range=(0.5, 3.0))
    fixed = downsample(blur(hr[:6], 2.0, 9), 2, "bilinear")
    assert not torch.allclose(lr, fixed)
    g = torch.Generator().manual_seed(4)
    torch.rand(6, generator=g), torch.rand(6, generator=g)  # the blur and noise flags come first
    sigmas = uniform_draws(6, (0.5, 3.0), g)
    for i in range(6):
        expected = downsample(blur(hr[i: i + 1], float(sigmas[i]), 9), 2, "bilinear")
        assert torch.allclose(lr[i: i + 1], expected, atol=1e-12)
    # a range of width 0 at the fixed strength gives the fixed-strength images
    same = random_degrade(hr[:6], wide, torch.Generator().manual_seed(5), p_blur=1.0, p_noise=0.0, blur_range=(2.0, 2.0))
    assert torch.allclose(same, fixed, atol=1e-12)
    with pytest.raises(ValueError, match="blur sigmas"):
        random_degrade(hr, _SMALL, torch.Generator().manual_seed(0), blur_range=(0.0, 1.0))
    with pytest.raises(ValueError, match="low <= high"):
        random_degrade(hr, _SMALL, torch.Generator().manual_seed(0), noise_range=(0.2, 0.1))


def test_image_too_small_for_the_blur_names_the_image_its_size_and_the_minimum():
    g = torch.Generator().manual_seed(0)
    images = [("big.png", torch.rand(3, 32, 32, generator=g)), ("folder/tiny.png", torch.rand(3, 8, 12, generator=g))]
    with pytest.raises(ValueError, match=r"folder/tiny\.png.*8x12.*21x21 blur.*at least 11"):
        build_analysis_set(images, Degradation())
    with pytest.raises(ValueError, match=r"8x12.*21x21 blur.*at least 11"):  # an unnamed image: its size
        blur(images[1][1])
    build_analysis_set(images[:1], Degradation())  # 32x32 is enough
