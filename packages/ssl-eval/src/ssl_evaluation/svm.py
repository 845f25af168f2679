"""VOC07 linear SVM benchmark (VISSL's ``train_svm.py`` protocol) on extracted features.

One-vs-rest scikit-learn ``LinearSVC`` per class and cost with VISSL's settings
(``class_weight={1: 2, -1: 1}``, ``intercept_scaling=1``, l2 penalty, squared hinge,
``tol=1e-4``, dual, ``max_iter=2000``) on L2-normalised features (``norm + 1e-5``). For each
class the cost with the best 3-fold cross-validated average precision is chosen; the model
trained on all train rows with that cost scores the test split, and the VOC-style AP per class
gives the mean AP. Targets ``[N, C]``: 1 present, 0 absent, -1 "difficult" (ignored in training,
cross-validation and test). Single-label targets ``[N]`` are turned into one-vs-rest columns.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    from sklearn.svm import LinearSVC

from ssl_evaluation.average_precision import voc_average_precision
from ssl_evaluation.progress import ProgressFn, Ticker

__all__ = ["as_svm_targets", "fit_linear_svc", "svm_costs", "voc07_svm", "normalize_rows"]

VOC07_CLASS_WEIGHT = {1: 2, -1: 1}


def svm_costs(
    costs_list: Sequence[float] = (0.1, 0.01), base: float = -1.0, power_range: Sequence[int] = ()
) -> list[float]:
    """VISSL's cost list: ``costs_list`` plus ``base ** n`` for ``n`` in ``power_range`` when
    ``base > 0``."""
    costs = [float(c) for c in costs_list]
    if base > 0:
        costs += [float(base) ** n for n in power_range]
    if not costs or any(c <= 0 for c in costs):
        raise ValueError(f"SVM costs must be positive, got {costs}")
    return costs


def normalize_rows(features: ArrayLike) -> np.ndarray:
    """``[N, D]`` rows divided by their L2 norm + 1e-5 (VISSL's SVM normalisation)."""
    x = np.asarray(features, dtype=np.float32).reshape(len(features), -1)
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-5)


def as_svm_targets(targets: ArrayLike, num_classes: int | None = None) -> np.ndarray:
    """``[N]`` class ids -> one-vs-rest ``[N, C]`` in {1, 0}; ``[N, C]`` in {1, 0, -1} as is."""
    t = np.asarray(targets)
    if t.ndim == 1:
        classes = int(t.max()) + 1 if num_classes is None else num_classes
        return (t[:, None] == np.arange(classes)[None, :]).astype(np.int64)
    if t.ndim != 2 or not np.isin(t, (-1, 0, 1)).all():
        raise ValueError("targets must be class ids [N] or a [N, C] matrix of 1 / 0 / -1")
    return t.astype(np.int64)


def _linear_svc(cost: float, max_iter: int) -> LinearSVC:
    from sklearn.svm import LinearSVC  # imported on use: scikit-learn takes seconds to import

    return LinearSVC(
        C=cost,
        class_weight=VOC07_CLASS_WEIGHT,
        intercept_scaling=1.0,
        penalty="l2",
        loss="squared_hinge",
        tol=1e-4,
        dual=True,
        max_iter=max_iter,
    )


def fit_linear_svc(x: np.ndarray, y: np.ndarray, cost: float, max_iter: int = 2000) -> LinearSVC:
    """One VISSL-configured ``LinearSVC`` on rows ``x [n, D]``, labels ``y [n]`` in {1, -1}."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _linear_svc(cost, max_iter).fit(x, y)


def _svm_labels(column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = column != -1
    return keep, np.where(column[keep] == 1, 1, -1)


def _one_class(
    x: np.ndarray, column: np.ndarray, costs: Sequence[float], folds: int, max_iter: int
) -> tuple[np.ndarray, LinearSVC]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import cross_val_score

    keep, y = _svm_labels(column)
    xs = x[keep]
    n_pos, n_neg = int((y == 1).sum()), int((y == -1).sum())
    if min(n_pos, n_neg) < folds:
        raise ValueError(
            f"a class has {n_pos} positives and {n_neg} negatives; {folds}-fold "
            "cross-validation needs at least that many of each"
        )
    crossval = np.empty(len(costs))
    for i, cost in enumerate(costs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            crossval[i] = cross_val_score(
                _linear_svc(cost, max_iter), xs, y, cv=folds, scoring="average_precision"
            ).mean()
    best = int(np.argmax(crossval))
    return crossval, fit_linear_svc(xs, y, costs[best], max_iter)


def voc07_svm(
    train_features: ArrayLike,
    train_targets: ArrayLike,
    test_features: ArrayLike,
    test_targets: ArrayLike,
    costs: Sequence[float] = (0.1, 0.01),
    cross_val_folds: int = 3,
    normalize: bool = True,
    max_iter: int = 2000,
    num_workers: int = 1,
    progress: ProgressFn | None = None,
) -> dict[str, object]:
    """VOC07 SVM mean AP (percent) of features ``[N, D]`` / ``[M, D]``.

    Targets are ``[N, C]`` / ``[M, C]`` in {1, 0, -1} (or class ids ``[N]``); classes train in
    ``num_workers`` threads; ``progress("SVMs (classes)", classes done, C)`` as each finishes.

    Returns:
        ``{"mAP": %, "per_class_ap": [C] %, "chosen_cost": [C], "crossval_ap": [C][costs],
        "costs": [...]}``.
    """
    train_x, test_x = np.asarray(train_features), np.asarray(test_features)
    for name, x in (("train_features", train_x), ("test_features", test_x)):
        if x.ndim < 2 or len(x) == 0:
            raise ValueError(f"{name} must be a non-empty [N, D] array, got shape {x.shape}")
    train_t = as_svm_targets(train_targets)
    test_t = as_svm_targets(test_targets, num_classes=train_t.shape[1])
    if len(train_t) != len(train_x):
        raise ValueError(
            f"train_features has {len(train_x)} rows but train_targets has {len(train_t)}"
        )
    if len(test_t) != len(test_x):
        raise ValueError(f"test_features has {len(test_x)} rows but test_targets has {len(test_t)}")
    if train_t.shape[1] != test_t.shape[1]:
        raise ValueError(f"train has {train_t.shape[1]} classes but test has {test_t.shape[1]}")
    costs = svm_costs(costs)
    if normalize:
        train_x, test_x = normalize_rows(train_x), normalize_rows(test_x)
    else:
        train_x = train_x.reshape(len(train_x), -1).astype(np.float32)
        test_x = test_x.reshape(len(test_x), -1).astype(np.float32)
    classes = range(train_t.shape[1])
    ticker = Ticker(progress, "SVMs (classes)", len(classes))
    with ThreadPoolExecutor(max_workers=max(1, num_workers)) as pool:
        jobs = {pool.submit(_one_class, train_x, train_t[:, c], costs, cross_val_folds, max_iter): c for c in classes}
        done: dict[int, tuple[np.ndarray, LinearSVC]] = {}
        for job in as_completed(jobs):
            done[jobs[job]] = job.result()
            ticker.advance()
    fitted = [done[c] for c in classes]
    per_class = np.array(
        [voc_average_precision(svc.decision_function(test_x), test_t[:, c])
         for c, (_, svc) in zip(classes, fitted)]
    )
    crossval = np.stack([cv for cv, _ in fitted])
    return {
        "mAP": 100.0 * float(per_class.mean()),
        "per_class_ap": (100.0 * per_class).tolist(),
        "chosen_cost": [costs[int(np.argmax(cv))] for cv in crossval],
        "crossval_ap": crossval.tolist(),
        "costs": costs,
    }
