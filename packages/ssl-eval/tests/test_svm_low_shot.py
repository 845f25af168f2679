"""Low-shot SVM: sampling sizes, and the aggregation over samples (mean/min/max/std, best cost)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.svm import LinearSVC

from ssl_evaluation.average_precision import voc_average_precision
from ssl_evaluation.low_shot import low_shot_samples, low_shot_svm


def _data(seed: int, n: int):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    x = np.eye(3)[labels] * 1.0 + rng.normal(size=(n, 3)) * 0.8
    return x.astype(np.float32), labels


def test_voc_sampling_sizes_and_determinism() -> None:
    targets = (np.random.default_rng(0).random((400, 2)) < 0.3).astype(np.int64)
    targets[:5, 0] = -1
    rows = low_shot_samples(targets, k=2, sample=0, dataset="voc")
    for c, idx in enumerate(rows):
        assert (targets[idx, c] == 1).sum() == 2
        assert (targets[idx, c] == 0).sum() == 38  # 19 k negatives
        assert len(set(idx.tolist())) == len(idx)
    again = low_shot_samples(targets, k=2, sample=0, dataset="voc")
    other = low_shot_samples(targets, k=2, sample=1, dataset="voc")
    assert all(np.array_equal(a, b) for a, b in zip(rows, again))
    assert not all(np.array_equal(a, b) for a, b in zip(rows, other))
    with pytest.raises(ValueError, match="fewer than k=500"):
        low_shot_samples(targets, k=500, sample=0)


def test_places_aggregation_matches_reference() -> None:
    train_x, train_y = _data(0, 300)
    test_x, test_y = _data(1, 90)
    ks, costs, samples = (1, 4), [0.01, 1.0], 5
    res = low_shot_svm(train_x, train_y, test_x, test_y, ks=ks, num_samples=samples,
                       costs=costs, dataset="places205")
    norm = lambda a: a / (np.linalg.norm(a, axis=1, keepdims=True) + 1e-5)  # noqa: E731
    tx, sx = norm(train_x), norm(test_x)
    for k in ks:
        table = np.zeros((samples, len(costs)))
        for s in range(samples):
            idx = low_shot_samples(train_y, k, s, "places205")[0]
            assert len(idx) == 3 * k and all((train_y[idx] == c).sum() == k for c in range(3))
            for j, cost in enumerate(costs):
                aps = []
                for c in range(3):
                    y = np.where(train_y[idx] == c, 1, -1)
                    svc = LinearSVC(C=cost, class_weight={1: 2, -1: 1}, max_iter=2000).fit(tx[idx], y)
                    aps.append(voc_average_precision(svc.decision_function(sx), (test_y == c).astype(int)))
                table[s, j] = np.mean(aps)
        best = int(np.argmax(table.mean(0)))
        got = res[f"k={k}"]
        assert got["cost"] == costs[best]
        assert got["mean"] == round(100 * table[:, best].mean(), 2)
        assert got["min"] == round(100 * table[:, best].min(), 2)
        assert got["max"] == round(100 * table[:, best].max(), 2)
        assert got["std"] == round(100 * table[:, best].std(), 2)
    assert res["k=4"]["mean"] > 60
