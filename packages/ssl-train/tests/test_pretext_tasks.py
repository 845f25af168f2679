"""The pretext tasks built inside the steps, checked against independent references: grid tiles
against per-sample slicing, rotations against NumPy, colour bins against a brute-force NumPy
search, Lab against scikit-image, Jigsaw's shuffle against its permutation table."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssl_train import StepContext, get_recipe, load_config
from ssl_train.recipes.base import Batch
from ssl_train.recipes.colorization import nearest_bins
from ssl_train.recipes.patch_grid import cut_grid_patches, permutation_from_uniforms
from ssl_train.recipes.rotnet import rotate_batch

from .conftest import TINY


def test_grid_patches_match_per_sample_slicing() -> None:
    g = torch.Generator().manual_seed(0)
    images = torch.randn(5, 3, 31, 31, generator=g)
    u = torch.rand(5, 18, generator=g, dtype=torch.float64)
    got = cut_grid_patches(images, 3, 2, u)
    assert got.shape == (5, 9, 3, 8, 8)  # cell 10, tile 8
    for b in range(5):
        for k in range(9):
            dy, dx = int(u[b, 2 * k] * 3), int(u[b, 2 * k + 1] * 3)
            top, left = (k // 3) * 10 + dy, (k % 3) * 10 + dx
            assert torch.equal(got[b, k], images[b, :, top:top + 8, left:left + 8])
    with pytest.raises(ValueError, match="too small"):
        cut_grid_patches(images[:, :, :5, :5], 3, 2, u)


def test_permutations_from_uniforms_are_permutations() -> None:
    perms = permutation_from_uniforms(torch.rand(100, 9, dtype=torch.float64))
    assert torch.equal(perms.sort(1).values, torch.arange(9).expand(100, 9))
    assert len({tuple(p.tolist()) for p in perms}) > 90


def test_rotations_match_numpy() -> None:
    images = torch.randn(8, 3, 6, 6)
    labels = torch.tensor([0, 1, 2, 3, 3, 2, 1, 0])
    got = rotate_batch(images, labels, 4)
    for b in range(8):
        want = np.rot90(images[b].numpy(), k=int(labels[b]), axes=(1, 2))
        np.testing.assert_array_equal(got[b].numpy(), want)
    np.testing.assert_array_equal(rotate_batch(images, torch.ones(8, dtype=torch.int64), 2)[0].numpy(),
                                  np.rot90(images[0].numpy(), k=2, axes=(1, 2)))  # fmt: skip


def test_nearest_bins_match_brute_force() -> None:
    g = torch.Generator().manual_seed(1)
    bins = torch.rand(30, 2, generator=g) * 200 - 100
    ab = torch.rand(2, 2, 3, 4, generator=g) * 200 - 100
    got = nearest_bins(ab, bins)
    a, bb = ab.numpy(), bins.numpy()
    for n in range(2):
        for i in range(3):
            for j in range(4):
                assert got[n, i, j] == np.argmin(((bb - a[n, :, i, j]) ** 2).sum(1))


def _ctx(seed: int = 0) -> StepContext:
    return StepContext(torch.nn.Identity(), 0, 0, 1, 1, {}, lambda: torch.autocast("cpu", enabled=False), torch.device("cpu"), seed=seed)


def test_jigsaw_tiles_follow_their_permutation() -> None:
    cfg = load_config(get_recipe("jigsaw").config_class(), TINY["jigsaw"])
    method = get_recipe("jigsaw").build(cfg)
    crops = [torch.randn(4, 3, 24, 24)]
    batch = Batch(crops, torch.zeros(4, dtype=torch.int64), torch.tensor([3, 7, 11, 50]))
    tiles, labels = method.shuffled_tiles(batch, _ctx())
    again, labels_again = method.shuffled_tiles(batch, _ctx())
    assert torch.equal(tiles, again) and torch.equal(labels, labels_again)  # per-sample draws, not global RNG
    tiles = tiles.view(4, 9, 3, 7, 7)
    for b in range(4):
        perm = method.permutations[labels[b]]
        for k in range(9):
            # tile k came from cell perm[k]: it lies inside that cell of the crop
            cell = int(perm[k])
            top, left = (cell // 3) * 8, (cell % 3) * 8
            region = crops[0][b, :, top:top + 8, left:left + 8].unfold(1, 7, 1).unfold(2, 7, 1)  # [3, 2, 2, 7, 7]
            assert any(torch.equal(region[:, y, x], tiles[b, k]) for y in range(2) for x in range(2))


def test_colorization_lab_matches_scikit_image(recipe_test_files) -> None:
    skimage_color = pytest.importorskip("skimage.color")
    cfg = load_config(get_recipe("colorization").config_class(), TINY["colorization"])
    method = get_recipe("colorization").build(cfg)
    g = torch.Generator().manual_seed(2)
    rgb = torch.rand(2, 3, 8, 8, generator=g)
    mean = torch.tensor(method.plan.mean).view(1, 3, 1, 1)
    std = torch.tensor(method.plan.std).view(1, 3, 1, 1)
    x, ab = method.lightness_and_targets((rgb - mean) / std)
    want = np.stack([skimage_color.rgb2lab(im.permute(1, 2, 0).double().numpy()) for im in rgb])  # [B, H, W, 3]
    np.testing.assert_allclose(ab.permute(0, 2, 3, 1).numpy(), want[..., 1:], atol=0.05)
    lightness = (x * std + mean)[:, 0].numpy() * 100
    np.testing.assert_allclose(lightness, want[..., 0], atol=0.05)
    assert method.bins.shape[1] == 2 and method.bins.shape[0] >= 2


def test_colorization_trains_exactly_the_parameters_its_loss_reaches(recipe_test_files) -> None:
    """At 32 px the last feature map is ``res4`` (``layer3``): ``layer4`` never runs, so its parameters are
    frozen (DDP would wait for their gradients); every parameter left trainable gets one."""
    cfg = load_config(get_recipe("colorization").config_class(), TINY["colorization"])
    method = get_recipe("colorization").build(cfg)
    assert method.model.head_features == ["res4"]
    frozen = {n for n, p in method.model.named_parameters() if not p.requires_grad}
    assert frozen and all(n.startswith("trunk.layer4.") for n in frozen)
    x, _ = method.lightness_and_targets(torch.randn(4, 3, 32, 32))
    (logits,) = method.model(x)
    logits.square().mean().backward()
    assert all(p.grad is not None for p in method.model.parameters() if p.requires_grad)
