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


def _loop_reference(image: np.ndarray, bins: int, cell: int, block: int, interpolate: bool) -> np.ndarray:
    """Dalal and Triggs' descriptor pixel by pixel, in scikit-image's layout (central differences,
    zero border gradient, cell means, L2-Hys 2-D blocks, block-major order). ``interpolate``: each
    magnitude split linearly between the two orientation bins whose centres enclose it."""
    h, w = image.shape
    g_row, g_col = np.zeros_like(image), np.zeros_like(image)
    g_row[1:-1] = image[2:] - image[:-2]
    g_col[:, 1:-1] = image[:, 2:] - image[:, :-2]
    rows, cols, width = h // cell, w // cell, 180.0 / bins
    cells = np.zeros((rows, cols, bins))
    for r in range(rows * cell):
        for c in range(cols * cell):
            magnitude = np.hypot(g_row[r, c], g_col[r, c])
            angle = np.degrees(np.arctan2(g_row[r, c], g_col[r, c])) % 180.0
            if not interpolate:
                cells[r // cell, c // cell, min(int(angle // width), bins - 1)] += magnitude
                continue
            for centre_index in range(-1, bins + 1):  # the centres either side of the angle, wrapped
                distance = abs(angle - (centre_index + 0.5) * width)
                if distance < width:
                    cells[r // cell, c // cell, centre_index % bins] += magnitude * (1.0 - distance / width)
    cells /= cell * cell
    out = []
    for br in range(rows - block + 1):
        for bc in range(cols - block + 1):
            v = cells[br : br + block, bc : bc + block].ravel()
            v = np.minimum(v / np.sqrt(np.sum(v**2) + 1e-10), 0.2)
            out.append(v / np.sqrt(np.sum(v**2) + 1e-10))
    return np.concatenate(out)


def test_the_loop_reference_is_skimage_with_hard_binning() -> None:
    image = np.random.default_rng(3).normal(size=(20, 24))
    np.testing.assert_allclose(_loop_reference(image, 6, 5, 3, False), _reference(image, 6, 5, 3), rtol=0, atol=1e-6)


@pytest.mark.parametrize(("size", "bins", "cell", "block"), [((28, 28), 9, 4, 2), ((20, 24), 6, 5, 3)])
def test_interpolated_orientations_equal_the_per_pixel_loop(size: tuple[int, int], bins: int, cell: int, block: int) -> None:
    rng = np.random.default_rng(4)
    images = rng.normal(size=(2, *size))
    images[1] = np.kron(rng.normal(size=(size[0] // 4, size[1] // 4 + 1)), np.ones((4, 4)))[: size[0], : size[1]]
    got = GradientHistograms(bins, cell, block, interpolate=True)(torch.from_numpy(images)[:, None]).numpy()
    for image, row in zip(images, got, strict=True):
        np.testing.assert_allclose(row, _loop_reference(image, bins, cell, block, True), rtol=0, atol=1e-6)
    hard = GradientHistograms(bins, cell, block)(torch.from_numpy(images)[:, None]).numpy()
    assert np.abs(got - hard).max() > 0.05  # the binning is not scikit-image's


def test_an_orientation_at_a_bin_centre_votes_for_that_bin_alone() -> None:
    """Vertical ramps: every interior gradient points at 90 degrees, the centre of bin 4 of 9
    (80-100 degrees): interpolated and hard binning give the same histograms."""
    ramp = np.tile(np.arange(28.0)[:, None], (1, 28))[None, None]
    ramp_t = torch.from_numpy(ramp)
    np.testing.assert_allclose(GradientHistograms(interpolate=True)(ramp_t).numpy(), GradientHistograms()(ramp_t).numpy(), atol=1e-6)
