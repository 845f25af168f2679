"""per_sample_uniforms against a NumPy uint64 SplitMix64 written from the published algorithm, and
per-sample independence of the batched augmentation drawn from it."""

from __future__ import annotations

import numpy as np
import torch

import ssl_data
from ssl_data.transforms.batched_simclr import BatchedSimCLRAugment

GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x + GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def reference(seed: int, epoch: int, indices: list[int], view: int, count: int) -> np.ndarray:
    out = np.zeros((len(indices), count))
    for row, index in enumerate(indices):
        key = splitmix64(np.array([seed], dtype=np.uint64))
        for part in (epoch, index, view):
            key = splitmix64(key ^ np.uint64(part))
        for col in range(count):
            with np.errstate(over="ignore"):
                bits = splitmix64(key + np.uint64(col + 1) * GOLDEN)
            out[row, col] = float(int(bits[0]) >> 11) / 2.0**53
    return out


def test_matches_numpy_uint64_reference() -> None:
    indices = [0, 1, 7, 59_999, 123_456_789]
    got = ssl_data.per_sample_uniforms(3, 5, torch.tensor(indices), view=2, count=6)
    np.testing.assert_array_equal(got.numpy(), reference(3, 5, indices, 2, 6))
    assert got.dtype == torch.float64 and float(got.min()) >= 0.0 and float(got.max()) < 1.0


def test_rows_depend_on_their_key_only_and_look_uniform() -> None:
    a = ssl_data.per_sample_uniforms(0, 1, torch.arange(10_000), view=0, count=4)
    b = ssl_data.per_sample_uniforms(0, 1, torch.arange(10_000).flip(0), view=0, count=4)
    torch.testing.assert_close(a, b.flip(0), rtol=0, atol=0)
    assert abs(float(a.mean()) - 0.5) < 0.01 and abs(float(a.var()) - 1 / 12) < 0.005
    other_view = ssl_data.per_sample_uniforms(0, 1, torch.arange(10_000), view=1, count=4)
    other_epoch = ssl_data.per_sample_uniforms(0, 2, torch.arange(10_000), view=0, count=4)
    assert not torch.equal(a, other_view) and not torch.equal(a, other_epoch)
    assert abs(float(np.corrcoef(a[:, 0], other_view[:, 0])[0, 1])) < 0.05


def test_batched_augment_from_uniforms_does_not_depend_on_batch_composition() -> None:
    aug = BatchedSimCLRAugment(12, crop_scale=(0.2, 1.0), blur=True, p_blur=0.5, p_solarize=0.5)
    images = torch.randint(0, 256, (8, 3, 20, 20), dtype=torch.uint8)
    idx = torch.arange(100, 108)
    u = ssl_data.per_sample_uniforms(0, 0, idx, 0, aug.NUM_UNIFORMS)
    full = aug.apply(images, aug.sample_params(8, 20, 20, uniforms=u))
    sub = [5, 2]
    u_sub = ssl_data.per_sample_uniforms(0, 0, idx[sub], 0, aug.NUM_UNIFORMS)
    part = aug.apply(images[sub], aug.sample_params(2, 20, 20, uniforms=u_sub))
    torch.testing.assert_close(part, full[sub])


def test_solarize_inverts_bright_pixels_like_torchvision() -> None:
    from torchvision.transforms.v2 import functional as F

    aug = BatchedSimCLRAugment(
        16, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), p_jitter=0.0, p_gray=0.0, p_flip=0.0,
        p_solarize=1.0, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
    )
    images = torch.randint(0, 256, (3, 3, 16, 16), dtype=torch.uint8)
    got = aug(images)
    expected = F.solarize(images, threshold=128).float() / 255.0
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
