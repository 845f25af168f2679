"""Linear probe: separable data, and agreement with scikit-learn's LogisticRegression."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from ssl_evaluation import linear_probe


def _blobs(seed: int, n: int, dim: int, classes: int, spread: float):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)) * 2.0
    y = rng.integers(0, classes, n)
    x = centres[y] + spread * rng.normal(size=(n, dim))
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y)


def test_linearly_separable_reaches_near_100() -> None:
    # Labels are the sign pattern of a fixed linear map plus a margin: separable by construction.
    rng = np.random.default_rng(0)
    w = rng.normal(size=(2, 12))
    x = rng.normal(size=(1200, 12))
    score = x @ w.T
    keep = np.abs(score).min(axis=1) > 0.3
    x, score = x[keep], score[keep]
    y = (score[:, 0] > 0).astype(np.int64) * 2 + (score[:, 1] > 0)
    xt = torch.from_numpy(x.astype(np.float32))
    yt = torch.from_numpy(y)
    res = linear_probe(xt[:700], yt[:700], xt[700:], yt[700:], epochs=60, batch_size=128)
    assert res["top1"] >= 98.0
    assert res["top5"] == 100.0
    assert len(res["train_loss"]) == 60
    assert res["train_loss"][-1] < res["train_loss"][0]


def test_close_to_sklearn_logistic_regression_on_a_hard_set() -> None:
    x, y = _blobs(1, 3000, 20, 6, spread=3.0)
    train_x, train_y, test_x, test_y = x[:2000], y[:2000], x[2000:], y[2000:]
    ours = linear_probe(train_x, train_y, test_x, test_y, epochs=40, batch_size=256)
    ref = LogisticRegression(max_iter=3000).fit(train_x.numpy(), train_y.numpy())
    ref_top1 = 100.0 * float((ref.predict(test_x.numpy()) == test_y.numpy()).mean())
    assert 30.0 < ref_top1 < 95.0  # genuinely hard, not trivial
    assert abs(ours["top1"] - ref_top1) < 3.0


def test_clear_errors() -> None:
    x, y = _blobs(2, 50, 4, 3, 1.0)
    with pytest.raises(ValueError, match="train_features has 50 rows but train_labels has 49"):
        linear_probe(x, y[:49], x, y)
    with pytest.raises(ValueError, match="train_features is empty"):
        linear_probe(x[:0], y[:0], x, y)
    with pytest.raises(ValueError, match="test_labels must have shape"):
        linear_probe(x, y, x, y[:, None])
