"""GradientHistograms against scikit-image's ``skimage.feature.hog`` (the independent reference)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.feature import hog

from ssl_train.recipes.gradient_histograms import GradientHistograms


def _reference(image: np.ndarray, bins: int, cell: int, block: int) -> np.ndarray:
    return hog(image, orientations=bins, pixels_per_cell=(cell, cell), cells_per_block=(block, block),
               block_norm="L2-Hys", feature_vector=True)  # fmt: skip


@pytest.mark.parametrize(("size", "bins", "cell", "block"), [((28, 28), 9, 4, 2), ((28, 31), 9, 4, 2), ((20, 24), 6, 5, 3)])
def test_grey_images_equal_skimage_hog(size: tuple[int, int], bins: int, cell: int, block: int) -> None:
    rng = np.random.default_rng(0)
    images = rng.normal(size=(3, *size))
    images[1] = np.kron(rng.normal(size=(size[0] // 4, size[1] // 4 + 1)), np.ones((4, 4)))[: size[0], : size[1]]  # flat patches, axis-aligned edges
    got = GradientHistograms(bins, cell, block)(torch.from_numpy(images)[:, None]).numpy()
    for image, row in zip(images, got, strict=True):
        expected = _reference(image, bins, cell, block)
        assert row.shape == expected.shape
        np.testing.assert_allclose(row, expected, rtol=0, atol=1e-6)


def test_colour_images_use_the_channel_mean() -> None:
    rng = np.random.default_rng(1)
    images = rng.normal(size=(2, 3, 28, 28))
    got = GradientHistograms()(torch.from_numpy(images)).numpy()
    for image, row in zip(images, got, strict=True):
        np.testing.assert_allclose(row, _reference(image.mean(axis=0), 9, 4, 2), rtol=0, atol=1e-6)


def test_large_images_are_pooled_to_max_side_first() -> None:
    rng = np.random.default_rng(2)
    images = rng.normal(size=(1, 1, 64, 64))
    pooled = images.reshape(1, 1, 32, 2, 32, 2).mean(axis=(3, 5))[0, 0]  # 2x2 means by hand
    got = GradientHistograms()(torch.from_numpy(images)).numpy()[0]
    np.testing.assert_allclose(got, _reference(pooled, 9, 4, 2), rtol=0, atol=1e-6)
    assert got.shape == (7 * 7 * 4 * 9,)


def test_bad_arguments_and_too_small_images() -> None:
    with pytest.raises(ValueError, match="must be >= 1"):
        GradientHistograms(bins=0)
    with pytest.raises(ValueError, match="fewer than 2 x 2 cells"):
        GradientHistograms()(torch.zeros(1, 1, 6, 6))
