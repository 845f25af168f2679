"""Weighted kNN against a NumPy implementation written from the NPID/DINO definition."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssl_evaluation import knn_classify, knn_classify_multi_k


def numpy_weighted_knn(train_x, train_y, test_x, test_y, k, temperature, num_classes):
    """Per-query loop: cosine similarities, k most similar, class score = sum exp(sim / T)."""
    train = train_x / np.linalg.norm(train_x, axis=1, keepdims=True)
    test = test_x / np.linalg.norm(test_x, axis=1, keepdims=True)
    top1 = top5 = 0
    for query, label in zip(test, test_y):
        sims = train @ query
        nearest = np.argsort(-sims, kind="stable")[:k]
        scores = np.zeros(num_classes)
        for j in nearest:
            scores[train_y[j]] += np.exp(sims[j] / temperature)
        ranking = np.argsort(-scores, kind="stable")  # ties -> lower class id first
        top1 += ranking[0] == label
        top5 += label in ranking[: min(5, num_classes)]
    return 100.0 * top1 / len(test_y), 100.0 * top5 / len(test_y)


@pytest.mark.parametrize("k", [1, 7, 50])
def test_matches_numpy_reference(k: int) -> None:
    rng = np.random.default_rng(k)
    centres = rng.normal(size=(8, 16))
    train_y = rng.integers(0, 8, 400)
    test_y = rng.integers(0, 8, 120)
    train_x = (centres[train_y] + 1.5 * rng.normal(size=(400, 16))).astype(np.float32)
    test_x = (centres[test_y] + 1.5 * rng.normal(size=(120, 16))).astype(np.float32)
    ours = knn_classify(
        torch.from_numpy(train_x), torch.from_numpy(train_y),
        torch.from_numpy(test_x), torch.from_numpy(test_y), k=k, temperature=0.07,
    )
    ref1, ref5 = numpy_weighted_knn(train_x, train_y, test_x, test_y, k, 0.07, 8)
    assert ours["top1"] == pytest.approx(ref1, abs=1e-4)
    assert ours["top5"] == pytest.approx(ref5, abs=1e-4)
    assert 0 < ours["top1"] < 100  # a non-trivial case


def test_several_k_from_one_search_equal_single_runs() -> None:
    rng = np.random.default_rng(3)
    train_x = torch.from_numpy(rng.normal(size=(300, 8)).astype(np.float32))
    train_y = torch.from_numpy(rng.integers(0, 6, 300))
    test_x = torch.from_numpy(rng.normal(size=(50, 8)).astype(np.float32))
    test_y = torch.from_numpy(rng.integers(0, 6, 50))
    multi = knn_classify_multi_k(train_x, train_y, test_x, test_y, ks=(1, 5, 20, 300))
    for k, res in multi.items():
        ref1, ref5 = numpy_weighted_knn(
            train_x.numpy(), train_y.numpy(), test_x.numpy(), test_y.numpy(), k, 0.1, 6
        )
        assert res["top1"] == pytest.approx(ref1, abs=1e-4)
        assert res["top5"] == pytest.approx(ref5, abs=1e-4)


def test_tied_votes_by_hand() -> None:
    # Query (1, 1) is equally similar (cos 0.707) to (1, 0) of class 1 and (0, 1) of class 0 and
    # far from (-1, 0) of class 2. With k=2 both classes score exp(0.707/T): a tie, which goes to
    # the lower class id (0). Duplicated train rows with one label make neighbour ties harmless.
    train = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [-1.0, 0.0]])
    train_y = torch.tensor([1, 0, 2, 2])
    query = torch.tensor([[1.0, 1.0], [1.0, 1.0], [-2.0, 0.1]])
    # labels: 0 (tie broken towards it), 1 (loses the tie, but in the top 2), 2 (clear win)
    res = knn_classify(train, train_y, query, torch.tensor([0, 1, 2]), k=2, num_classes=3)
    assert res["top1"] == pytest.approx(200.0 / 3.0, abs=1e-4)
    assert res["top5"] == pytest.approx(100.0)
    ref1, ref5 = numpy_weighted_knn(
        train.numpy(), train_y.numpy(), query.numpy(), np.array([0, 1, 2]), 2, 0.1, 3
    )
    assert (res["top1"], res["top5"]) == pytest.approx((ref1, ref5))


def test_clear_errors() -> None:
    x, y = torch.randn(10, 4), torch.zeros(10, dtype=torch.int64)
    with pytest.raises(ValueError, match="train_features has 10 rows but train_labels has 9"):
        knn_classify(x, y[:9], x, y)
    with pytest.raises(ValueError, match="test_features is empty"):
        knn_classify(x, y, x[:0], y[:0])
    with pytest.raises(ValueError, match="columns"):
        knn_classify(x, y, torch.randn(10, 5), y)
    with pytest.raises(ValueError, match="num_classes"):
        knn_classify(x, y + 3, x, y, num_classes=2)
