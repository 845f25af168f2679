"""BatchedSimCLRAugment against a per-sample torchvision.transforms.v2.functional reference."""

from __future__ import annotations

import math

import pytest
import torch
from torchvision.transforms.v2 import functional as F

from ssl_data import BatchedSimCLRAugment
from ssl_data.transforms.batched_simclr import AugmentParams

MEAN = (0.5, 0.4, 0.3)
STD = (0.2, 0.25, 0.3)


def _images(b: int = 6, h: int = 20, w: int = 24, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, h, w, generator=g)


def _reference(img: torch.Tensor, p: AugmentParams, i: int, size: int, blur_kernel: int) -> torch.Tensor:
    """One sample, written with torchvision's per-sample functional ops and scalar parameters."""
    out = F.resized_crop(
        img, int(p.top[i]), int(p.left[i]), int(p.height[i]), int(p.width[i]), [size, size], antialias=True
    )
    if bool(p.flip[i]):
        out = F.horizontal_flip(out)
    if bool(p.jitter[i]):
        for op in p.order[i].tolist():
            if op == 0:
                out = F.adjust_brightness(out, float(p.brightness[i]))
            elif op == 1:
                out = F.adjust_contrast(out, float(p.contrast[i]))
            elif op == 2:
                out = F.adjust_saturation(out, float(p.saturation[i]))
            else:
                out = F.adjust_hue(out, float(p.hue[i]))
    if bool(p.grey[i]):
        out = F.rgb_to_grayscale(out, num_output_channels=3)
    if bool(p.blur[i]):
        s = float(p.sigma[i])
        out = F.gaussian_blur(out, [blur_kernel, blur_kernel], [s, s])
    return F.normalize(out, list(MEAN), list(STD))


@pytest.mark.parametrize("size", [16, 32])  # downscaling (antialias) and upscaling
def test_matches_per_sample_torchvision_reference(size: int) -> None:
    aug = BatchedSimCLRAugment(size, jitter_strength=1.0, blur=True, p_blur=0.5, mean=MEAN, std=STD)
    x = _images(b=24)
    params = aug.sample_params(24, 20, 24, torch.Generator().manual_seed(3))
    # make sure every branch is exercised in this batch
    assert params.flip.any() and (~params.flip).any() and params.jitter.any() and params.grey.any() and params.blur.any()
    got = aug.apply(x, params)
    for i in range(24):
        ref = _reference(x[i], params, i, size, aug.blur_kernel)
        torch.testing.assert_close(got[i], ref, atol=2e-5, rtol=1e-5, msg=f"sample {i}")


@pytest.mark.parametrize("size", [12, 28])
def test_grey_input_equals_the_reference_for_its_replicated_rgb_image(size: int) -> None:
    """A [B, 1, H, W] batch is augmented on one channel (no hue conversion); the result must be
    torchvision's per-sample result for the RGB image with three equal channels, and exactly what
    the RGB path gives for that image."""
    aug = BatchedSimCLRAugment(size, jitter_strength=1.0, blur=True, p_blur=0.5, mean=MEAN, std=STD)
    grey = torch.rand(24, 1, 20, 24, generator=torch.Generator().manual_seed(4))
    params = aug.sample_params(24, 20, 24, torch.Generator().manual_seed(5))
    assert params.jitter.any() and params.grey.any() and params.blur.any() and (params.hue.abs() > 0.05).any()
    got = aug.apply(grey, params)
    rgb = grey.expand(-1, 3, -1, -1)
    assert got.shape == (24, 3, size, size)
    for i in range(24):
        ref = _reference(rgb[i], params, i, size, aug.blur_kernel)
        torch.testing.assert_close(got[i], ref, atol=2e-5, rtol=1e-5, msg=f"sample {i}")
    assert torch.equal(got, aug.apply(rgb.contiguous(), params))


def test_identity_crop_reproduces_input() -> None:
    aug = BatchedSimCLRAugment(
        20, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), p_jitter=0.0, p_gray=0.0, p_flip=0.0, mean=(0, 0, 0), std=(1, 1, 1)
    )
    x = torch.randint(0, 256, (5, 3, 20, 20), dtype=torch.uint8)
    y = aug(x, torch.Generator().manual_seed(0))
    torch.testing.assert_close(y, x.float() / 255.0, atol=1e-6, rtol=0)


def test_same_image_gets_different_crops() -> None:
    aug = BatchedSimCLRAugment(16, p_jitter=0.0, p_gray=0.0, p_flip=0.0, mean=(0, 0, 0), std=(1, 1, 1))
    one = _images(b=1, h=32, w=32)
    y = aug(one.expand(8, -1, -1, -1), torch.Generator().manual_seed(1))
    distinct = {tuple(y[i].flatten()[:50].round(decimals=4).tolist()) for i in range(8)}
    assert len(distinct) == 8


def test_generator_reproducible_and_shapes() -> None:
    aug = BatchedSimCLRAugment(12)
    x = torch.randint(0, 256, (7, 3, 28, 28), dtype=torch.uint8)
    a = aug(x, torch.Generator().manual_seed(5))
    b = aug(x, torch.Generator().manual_seed(5))
    c = aug(x, torch.Generator().manual_seed(6))
    assert a.shape == (7, 3, 12, 12) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    grey = aug(x[:, :1], torch.Generator().manual_seed(5))  # 1-channel input is replicated
    assert grey.shape == (7, 3, 12, 12)


def test_parameter_distributions() -> None:
    n = 20000
    aug = BatchedSimCLRAugment(8, crop_scale=(0.2, 0.6), jitter_strength=0.5, p_jitter=0.8, p_gray=0.2, p_flip=0.5)
    p = aug.sample_params(n, 64, 64, torch.Generator().manual_seed(0))
    area = (p.height * p.width).double() / (64 * 64)
    assert area.min() >= 0.2 - 0.03 and area.max() <= 0.6 + 0.03  # rounding of w, h
    ratio = p.width.double() / p.height.double()
    assert ratio.min() >= 0.75 * 0.9 and ratio.max() <= 4 / 3 * 1.1
    assert (p.top >= 0).all() and (p.top + p.height <= 64).all()
    assert (p.left >= 0).all() and (p.left + p.width <= 64).all()
    # crop positions cover the valid range (left edge 0 and the far edge both reached)
    assert (p.left == 0).any() and (p.left + p.width == 64).any()
    tol = 4 * math.sqrt(0.25 / n)
    assert abs(p.flip.double().mean() - 0.5) < tol
    assert abs(p.jitter.double().mean() - 0.8) < tol
    assert abs(p.grey.double().mean() - 0.2) < tol
    for f in (p.brightness, p.contrast, p.saturation):
        assert f.min() >= 0.6 and f.max() <= 1.4 and abs(f.double().mean() - 1.0) < 0.01
    assert p.hue.abs().max() <= 0.1 and abs(p.hue.double().mean()) < 0.005
    # each of the 24 orders appears, roughly uniformly
    codes = (p.order * torch.tensor([64, 16, 4, 1])).sum(1)
    counts = torch.bincount(codes, minlength=256)[torch.bincount(codes, minlength=256) > 0]
    assert counts.numel() == 24 and counts.min() > n / 24 * 0.8
    assert torch.equal(p.order.sort(1).values, torch.arange(4).expand(n, 4))


def test_fallback_crop_for_extreme_aspect() -> None:
    # no attempt can fit a ratio in [3/4, 4/3] with scale ~1 in a 4x40 image: central fallback
    aug = BatchedSimCLRAugment(8, crop_scale=(0.99, 1.0))
    p = aug.sample_params(50, 4, 40, torch.Generator().manual_seed(0))
    assert (p.height == 4).all() and (p.width == round(4 * 4 / 3)).all()
    assert (p.left == (40 - 5) // 2).all() and (p.top == 0).all()


def test_bad_input_errors() -> None:
    with pytest.raises(ValueError, match="size"):
        BatchedSimCLRAugment(0)
    with pytest.raises(ValueError, match="crop_scale"):
        BatchedSimCLRAugment(8, crop_scale=(0.5, 0.1))
    with pytest.raises(ValueError, match="p_gray"):
        BatchedSimCLRAugment(8, p_gray=1.5)
    with pytest.raises(ValueError, match="images"):
        BatchedSimCLRAugment(8)(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="uint8 or floating"):
        BatchedSimCLRAugment(8)(torch.zeros(2, 3, 8, 8, dtype=torch.int32))
