"""VOC07 SVM against a per-class loop written with scikit-learn pieces directly."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from ssl_evaluation.average_precision import voc_average_precision
from ssl_evaluation.svm import svm_costs, voc07_svm


def _multilabel(seed: int, n: int, classes: int = 3, dim: int = 10):
    rng = np.random.default_rng(seed)
    directions = rng.normal(size=(classes, dim))
    targets = (rng.random((n, classes)) < 0.35).astype(np.int64)
    x = targets @ directions + 1.2 * rng.normal(size=(n, dim))
    difficult = rng.random((n, classes)) < 0.1
    targets[difficult] = -1
    return x.astype(np.float32), targets


def reference(train_x, train_t, test_x, test_t, costs):
    norm = lambda a: a / (np.linalg.norm(a, axis=1, keepdims=True) + 1e-5)  # noqa: E731
    train_x, test_x = norm(train_x), norm(test_x)
    chosen, aps = [], []
    for c in range(train_t.shape[1]):
        keep = train_t[:, c] != -1
        x, y = train_x[keep], np.where(train_t[keep, c] == 1, 1, -1)
        cv_scores = []
        for cost in costs:
            fold_ap = []
            for fit_rows, val_rows in StratifiedKFold(3).split(x, y):
                svc = LinearSVC(C=cost, class_weight={1: 2, -1: 1}, tol=1e-4, max_iter=2000)
                svc.fit(x[fit_rows], y[fit_rows])
                fold_ap.append(average_precision_score(y[val_rows], svc.decision_function(x[val_rows])))
            cv_scores.append(np.mean(fold_ap))
        best = costs[int(np.argmax(cv_scores))]
        chosen.append(best)
        svc = LinearSVC(C=best, class_weight={1: 2, -1: 1}, tol=1e-4, max_iter=2000).fit(x, y)
        aps.append(voc_average_precision(svc.decision_function(test_x), test_t[:, c]))
    return chosen, 100 * np.array(aps)


def test_matches_reference_loop() -> None:
    x, t = _multilabel(0, 360)
    train_x, train_t, test_x, test_t = x[:240], t[:240], x[240:], t[240:]
    costs = [0.001, 0.1, 10.0]
    res = voc07_svm(train_x, train_t, test_x, test_t, costs=costs, num_workers=2)
    chosen, aps = reference(train_x, train_t, test_x, test_t, costs)
    assert res["chosen_cost"] == chosen
    np.testing.assert_allclose(res["per_class_ap"], aps, atol=1e-6)
    assert res["mAP"] == pytest.approx(aps.mean())
    assert 50 < res["mAP"] < 100


def test_difficult_rows_are_ignored() -> None:
    x, t = _multilabel(2, 230, classes=2)
    train_x, train_t, test_x, test_t = x[:150], t[:150], x[150:], t[150:]
    train_t[:, 1] = np.where(train_t[:, 1] == -1, 0, train_t[:, 1])  # only class 0 has difficult
    base = voc07_svm(train_x, train_t, test_x, test_t, costs=[0.1])
    # Rows difficult for class 0 AND absent for class 1 may be anything: nothing reads them.
    noisy = train_x.copy()
    rows = (train_t[:, 0] == -1) & (train_t[:, 1] == 0)
    assert rows.any()
    moved = voc07_svm(np.where(rows[:, None], 0.0, noisy), np.where(rows[:, None], [-1, 0], train_t),
                      test_x, test_t, costs=[0.1])
    assert moved["per_class_ap"][0] == pytest.approx(base["per_class_ap"][0])


def test_single_label_ids_and_errors() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 90)
    x = np.eye(3)[labels] * 3 + rng.normal(size=(90, 3)) * 0.1
    res = voc07_svm(x[:60], labels[:60], x[60:], labels[60:], costs=[1.0])
    assert res["mAP"] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="train_features has 60 rows but train_targets has 59"):
        voc07_svm(x[:60], labels[:59], x[60:], labels[60:])
    with pytest.raises(ValueError, match="test_features must be a non-empty"):
        voc07_svm(x[:60], labels[:60], x[:0], labels[:0])
    assert svm_costs([1.0], base=2.0, power_range=[-1, 1]) == [1.0, 0.5, 2.0]
