"""PSNR / SSIM / Y channel against scikit-image."""
import math

import numpy as np
import pytest
import torch
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from faiglib.measures.metrics import psnr, rgb_to_y, ssim


def _pair(h=24, w=20, seed=0, batch=None):
    g = torch.Generator().manual_seed(seed)
    shape = (3, h, w) if batch is None else (batch, 3, h, w)
    a = torch.rand(shape, generator=g, dtype=torch.float64)
    b = (a + 0.08 * torch.randn(shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    return a, b


def _u8(t: torch.Tensor) -> np.ndarray:
    """(3, H, W) in [0, 1] -> (H, W, 3) float64 on [0, 255], rounded to 8 bits (independently of faiglib)."""
    return np.round(np.clip(t.permute(1, 2, 0).numpy(), 0, 1) * 255).astype(np.float64)


@pytest.mark.parametrize("crop", [0, 3])
def test_psnr_matches_skimage(crop):
    a, b = _pair()
    ua, ub = _u8(a), _u8(b)
    if crop:
        ua, ub = ua[crop:-crop, crop:-crop], ub[crop:-crop, crop:-crop]
    ref = peak_signal_noise_ratio(ua, ub, data_range=255)
    got = psnr(a, b, crop_border=crop)
    assert got.shape == ()
    assert float(got) == pytest.approx(ref, abs=1e-9)


def test_psnr_cropping_changes_value():
    a, b = _pair()
    b = b.clone()
    b[:, :2, :] = 1 - a[:, :2, :]  # big error only at the border
    assert float(psnr(a, b, crop_border=2)) > float(psnr(a, b)) + 3


def test_psnr_known_value():
    a = torch.zeros(3, 8, 8)
    b = torch.full((3, 8, 8), 1 / 255)  # MSE = 1 on [0, 255]
    assert float(psnr(a, b)) == pytest.approx(10 * math.log10(255 ** 2), abs=1e-9)


def test_psnr_identical_is_inf():
    a, _ = _pair()
    assert math.isinf(float(psnr(a, a.clone()))) and float(psnr(a, a)) > 0


def test_psnr_shape_mismatch():
    with pytest.raises(ValueError):
        psnr(torch.rand(3, 8, 8), torch.rand(3, 8, 9))


@pytest.mark.parametrize("crop", [0, 2])
def test_ssim_matches_skimage(crop):
    a, b = _pair(28, 26, seed=1)
    ua, ub = _u8(a), _u8(b)
    if crop:
        ua, ub = ua[crop:-crop, crop:-crop], ub[crop:-crop, crop:-crop]
    per_channel = [structural_similarity(ua[..., c], ub[..., c], gaussian_weights=True, sigma=1.5,
                                         use_sample_covariance=False, data_range=255) for c in range(3)]
    ref_all = structural_similarity(ua, ub, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                    data_range=255, channel_axis=-1)
    assert ref_all == pytest.approx(np.mean(per_channel), abs=1e-12)
    got = ssim(a, b, crop_border=crop)
    assert got.shape == ()
    assert float(got) == pytest.approx(ref_all, abs=1e-6)


def test_ssim_identical_is_one_and_y_channel_matches_skimage():
    a, b = _pair(24, 24, seed=2)
    assert float(ssim(a, a)) == pytest.approx(1.0, abs=1e-12)
    ya = rgb2ycbcr(_u8(a) / 255.0)[..., 0]
    yb = rgb2ycbcr(_u8(b) / 255.0)[..., 0]
    ref = structural_similarity(ya, yb, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                data_range=255)
    assert float(ssim(a, b, y_channel=True)) == pytest.approx(ref, abs=1e-6)
    ref_psnr = 10 * np.log10(255 ** 2 / np.mean((ya - yb) ** 2))
    assert float(psnr(a, b, y_channel=True)) == pytest.approx(ref_psnr, abs=1e-9)


def test_ssim_too_small_raises():
    with pytest.raises(ValueError):
        ssim(torch.rand(3, 10, 10), torch.rand(3, 10, 10))


def test_rgb_to_y_matches_skimage():
    g = torch.Generator().manual_seed(3)
    img = torch.rand(3, 5, 7, generator=g, dtype=torch.float64)
    ref = rgb2ycbcr(img.permute(1, 2, 0).numpy())[..., 0]
    y = rgb_to_y(img)
    assert y.shape == (1, 5, 7)
    np.testing.assert_allclose(y[0].numpy(), ref, rtol=0, atol=1e-10)
    # known points of BT.601 studio swing
    assert float(rgb_to_y(torch.zeros(3, 1, 1))) == pytest.approx(16.0)
    assert float(rgb_to_y(torch.ones(3, 1, 1, dtype=torch.float64))) == pytest.approx(235.0, abs=1e-9)
    # batched
    assert rgb_to_y(img[None].repeat(2, 1, 1, 1)).shape == (2, 1, 5, 7)


def test_batched_gives_one_value_per_image():
    a, b = _pair(16, 16, seed=4, batch=3)
    p, s = psnr(a, b, crop_border=1), ssim(a, b)
    assert p.shape == (3,) and s.shape == (3,)
    for i in range(3):
        assert float(p[i]) == pytest.approx(float(psnr(a[i], b[i], crop_border=1)), abs=1e-12)
        assert float(s[i]) == pytest.approx(float(ssim(a[i], b[i])), abs=1e-12)
        ref = peak_signal_noise_ratio(_u8(a[i])[1:-1, 1:-1], _u8(b[i])[1:-1, 1:-1], data_range=255)
        assert float(p[i]) == pytest.approx(ref, abs=1e-9)
    # a batch mixing identical and different images
    b2 = b.clone()
    b2[1] = a[1]
    p2 = psnr(a, b2)
    assert math.isinf(float(p2[1])) and math.isfinite(float(p2[0]))
