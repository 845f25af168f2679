"""Low-shot linear SVMs (VISSL's ``SVMLowShotTrainer``): VOC07 and Places205.

For each ``k`` and each of ``num_samples`` independent draws, SVMs (VISSL's ``LinearSVC``
settings, see ``ssl_evaluation.svm``) are trained for every cost on the sampled train rows only, and
the test mean AP is recorded per cost. Across the draws the mean / min / max / std per
``(k, cost)`` are taken; per ``k`` the cost with the best mean is reported (in percent, rounded
to 2 decimals, as VISSL does).

Sampling: ``"voc"`` (multi-label ``[N, C]`` in {1, 0, -1}): per class, ``k`` positives and
``19 k`` negatives (difficult rows excluded), the class's SVM sees only those. ``"places205"``
(class ids ``[N]``): ``k`` images per class, shared by every one-vs-rest SVM.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from ssl_evaluation.average_precision import voc_average_precision
from ssl_evaluation.progress import ProgressFn, Ticker
from ssl_evaluation.svm import as_svm_targets, fit_linear_svc, normalize_rows, svm_costs

__all__ = ["LOW_SHOT_KS", "low_shot_samples", "low_shot_svm"]

LOW_SHOT_KS = (1, 2, 4, 8, 16, 32, 64, 96)


def low_shot_samples(
    targets: ArrayLike, k: int, sample: int, dataset: str = "voc", seed: int = 0
) -> list[np.ndarray]:
    """Train row indices per class for draw ``sample`` (deterministic in seed, sample, k).

    ``"voc"``: one index array per class (k positives + 19k negatives). ``"places205"``: the same
    array (k rows of every class) repeated for each class.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    rng = np.random.default_rng([seed, sample, k])
    t = np.asarray(targets)
    if dataset == "voc":
        t = as_svm_targets(t)
        rows = []
        for c in range(t.shape[1]):
            pos, neg = np.flatnonzero(t[:, c] == 1), np.flatnonzero(t[:, c] == 0)
            if len(pos) < k:
                raise ValueError(f"class {c} has {len(pos)} positives, fewer than k={k}")
            chosen_neg = rng.choice(neg, size=min(19 * k, len(neg)), replace=False)
            rows.append(np.concatenate([rng.choice(pos, size=k, replace=False), chosen_neg]))
        return rows
    if dataset == "places205":
        if t.ndim != 1:
            raise ValueError("places205 low-shot needs class ids [N]")
        shared = []
        for c in range(int(t.max()) + 1):
            members = np.flatnonzero(t == c)
            if len(members) < k:
                raise ValueError(f"class {c} has {len(members)} images, fewer than k={k}")
            shared.append(rng.choice(members, size=k, replace=False))
        picked = np.concatenate(shared)
        return [picked] * (int(t.max()) + 1)
    raise ValueError(f"dataset must be 'voc' or 'places205', got {dataset!r}")


def low_shot_svm(
    train_features: ArrayLike,
    train_targets: ArrayLike,
    test_features: ArrayLike,
    test_targets: ArrayLike,
    ks: Sequence[int] = LOW_SHOT_KS,
    num_samples: int = 5,
    costs: Sequence[float] = (0.1, 0.01),
    dataset: str = "voc",
    normalize: bool = True,
    max_iter: int = 2000,
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> dict[str, object]:
    """Low-shot SVM mean AP per ``k``: ``{"k=K": {"mean", "min", "max", "std", "cost"}}`` (%).

    ``progress("low-shot SVMs", draws x costs done, len(ks) * num_samples * len(costs))``.

    Shapes: features ``[N, D]`` / ``[M, D]``; targets ``[N, C]`` in {1, 0, -1} (``"voc"``) or
    class ids ``[N]`` (``"places205"``). Also returns the full ``[#k, #costs]`` tables under
    ``"tables"`` (``mean``, ``min``, ``max``, ``std``, fractions).
    """
    train_x = np.asarray(train_features)
    test_x = np.asarray(test_features)
    if len(train_x) != len(np.asarray(train_targets)):
        raise ValueError(
            f"train_features has {len(train_x)} rows but train_targets has "
            f"{len(np.asarray(train_targets))}"
        )
    if len(test_x) != len(np.asarray(test_targets)):
        raise ValueError(
            f"test_features has {len(test_x)} rows but test_targets has "
            f"{len(np.asarray(test_targets))}"
        )
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    costs = svm_costs(costs)
    if normalize:
        train_x, test_x = normalize_rows(train_x), normalize_rows(test_x)
    train_t = as_svm_targets(train_targets)
    test_t = as_svm_targets(test_targets, num_classes=train_t.shape[1])
    # test_ap[k, sample, cost]: mean AP over classes
    test_ap = np.zeros((len(ks), num_samples, len(costs)))
    ticker = Ticker(progress, "low-shot SVMs", test_ap.size)
    for ki, k in enumerate(ks):
        for sample in range(num_samples):
            rows = low_shot_samples(train_targets, k, sample, dataset, seed)
            for ci, cost in enumerate(costs):
                aps = []
                for c, idx in enumerate(rows):
                    column = train_t[idx, c]
                    keep = column != -1
                    y = np.where(column[keep] == 1, 1, -1)
                    svc = fit_linear_svc(train_x[idx][keep], y, cost, max_iter)
                    aps.append(voc_average_precision(svc.decision_function(test_x), test_t[:, c]))
                test_ap[ki, sample, ci] = np.mean(aps)
                ticker.advance()
    tables = {
        "mean": test_ap.mean(axis=1),
        "min": test_ap.min(axis=1),
        "max": test_ap.max(axis=1),
        "std": test_ap.std(axis=1),
    }
    results: dict[str, object] = {}
    for ki, k in enumerate(ks):
        best = int(np.argmax(tables["mean"][ki]))
        results[f"k={k}"] = {
            **{name: round(100.0 * float(tab[ki, best]), 2) for name, tab in tables.items()},
            "cost": costs[best],
        }
    results["tables"] = {name: tab.tolist() for name, tab in tables.items()}
    results["costs"] = costs
    return results
