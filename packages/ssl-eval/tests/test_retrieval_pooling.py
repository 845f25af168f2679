"""GeM, R-MAC regions and pooling, PCA whitening against hand values and NumPy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssl_evaluation.retrieval import PCAWhitening, gem_pool, rmac_pool, rmac_regions


def test_gem_matches_numpy_definition():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 4, 5, generator=g, dtype=torch.float64)
    ref = np.power(np.mean(np.power(np.clip(x.numpy(), 1e-6, None), 4.0), axis=(2, 3)), 0.25)
    np.testing.assert_allclose(gem_pool(x, 4.0).numpy(), ref, rtol=1e-12)
    np.testing.assert_allclose(gem_pool(x, 1.0).numpy(), x.numpy().mean(axis=(2, 3)), rtol=1e-12)
    np.testing.assert_allclose(gem_pool(x, float("inf")).numpy(), x.numpy().max(axis=(2, 3)))
    with pytest.raises(ValueError, match="feature map"):
        gem_pool(torch.zeros(2, 3))


def test_rmac_regions_by_hand():
    # square 6x6, 2 levels: one 6x6 square, then four 4x4 squares with stride 2
    assert rmac_regions(6, 6, 2) == [(0, 0, 6, 6), (0, 0, 4, 4), (0, 2, 4, 4), (2, 0, 4, 4), (2, 2, 4, 4)]
    # 4x8: candidate strides 4, 2, 4/3, ... give overlaps 0, .5, .67, ...; .5 is nearest to .4,
    # i.e. 3 positions along the long side: squares of 4 at 0, 2, 4
    assert rmac_regions(4, 8, 1) == [(0, 0, 4, 4), (0, 2, 4, 4), (0, 4, 4, 4)]
    assert len(rmac_regions(7, 7, 3)) == 1 + 4 + 9


def test_rmac_pool_matches_loop_over_regions():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 5, 4, 8, generator=g, dtype=torch.float64)
    arr = x.numpy()
    regions = [(0, 0, 4, 4), (0, 2, 4, 4), (0, 4, 4, 4)]  # worked out above for 4x8, one level
    ref = np.zeros((2, 5))
    for t, l, h, w in regions:
        v = arr[:, :, t : t + h, l : l + w].max(axis=(2, 3))
        ref += v / np.linalg.norm(v, axis=1, keepdims=True)
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    np.testing.assert_allclose(rmac_pool(x, levels=1).numpy(), ref, rtol=1e-10)


def test_pca_whitening_matches_eigendecomposition():
    rng = np.random.default_rng(0)
    train = rng.normal(size=(200, 6)) @ rng.normal(size=(6, 6))
    test = rng.normal(size=(10, 6))
    w = PCAWhitening(num_components=3).fit(torch.from_numpy(train))
    got = w.transform(torch.from_numpy(test)).numpy()
    mean = train.mean(0)
    cov = np.cov(train - mean, rowvar=False)
    vals, vecs = np.linalg.eigh(cov)
    order = np.argsort(vals)[::-1][:3]
    proj = (test - mean) @ vecs[:, order] / np.sqrt(vals[order])
    proj /= np.linalg.norm(proj, axis=1, keepdims=True)
    signs = np.sign(np.sum(got * proj, axis=0))  # each axis is defined up to its sign
    np.testing.assert_allclose(got, proj * signs, atol=1e-5)
    with pytest.raises(RuntimeError, match="before fit"):
        PCAWhitening(4).transform(torch.zeros(2, 6))
    with pytest.raises(ValueError, match="at least 2"):
        PCAWhitening(4).fit(torch.zeros(1, 6))
    with pytest.raises(ValueError, match=r"\[M, 6\]"):
        w.transform(torch.zeros(2, 5))
