"""VOC07 linear SVMs on frozen features, full and low-shot (VOC07 / Places205), VISSL's protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ssl_cli.bench_data import data_summary, layer_features, load_train_test
from ssl_cli.bench_options import parse_list
from ssl_cli.errors import UsageError

__all__ = ["run_low_shot", "run_svm"]


def _features(checkpoint: Path, data: str, image_size: int, limit: int, layer: str, batch_size: int):
    trunk, size, train, test = load_train_test(checkpoint, data, image_size, limit)
    train_x = layer_features(trunk, train, batch_size, layer)
    test_x = layer_features(trunk, test, batch_size, layer)
    summary = data_summary(data, size, ("train", train), ("test", test))
    # class ids, or a preparer's VOC / COCO matrix already in ssl-eval's 1 / 0 / -1 (VISSL's)
    return summary, train_x, train.targets, test_x, test.targets


def run_svm(
    checkpoint: Path,
    data: str = "fashion-mnist",
    *,
    image_size: int = 0,
    limit: int = 0,
    layer: str = "res5avg",
    costs: str = "0.1,0.01",
    folds: int = 3,
    max_iter: int = 2000,
    batch_size: int = 256,
    workers: int = 1,
) -> dict[str, Any]:
    """VOC07 SVM mean AP (percent): one-vs-rest LinearSVC per class, cost chosen per class by
    ``folds``-fold cross-validated AP, "difficult" rows ignored, VOC-style AP on the test split."""
    import ssl_evaluation

    cost_list = parse_list(costs, float, "--costs")
    summary, train_x, train_t, test_x, test_t = _features(checkpoint, data, image_size, limit, layer, batch_size)
    res = ssl_evaluation.voc07_svm(train_x.numpy(), train_t.numpy(), test_x.numpy(), test_t.numpy(), costs=cost_list,
                             cross_val_folds=folds, max_iter=max_iter, num_workers=workers)
    return {
        "checkpoint": str(checkpoint),
        "data": summary,
        "benchmarks": {"svm": {k: res[k] for k in ("mAP", "per_class_ap", "chosen_cost")}},
        "protocol": {"svm": {
            "layer": layer, "costs": res["costs"], "cross_val_folds": folds, "max_iter": max_iter,
            "class_weight": {"1": 2, "-1": 1}, "loss": "squared_hinge", "penalty": "l2", "dual": True,
            "tol": 1e-4, "intercept_scaling": 1, "normalize": "L2 (norm + 1e-5)", "ap": "VOC-style",
            "difficult": "ignored",
        }},
    }


def run_low_shot(
    checkpoint: Path,
    data: str = "fashion-mnist",
    *,
    image_size: int = 0,
    limit: int = 0,
    layer: str = "res5avg",
    ks: str = "1,2,4,8,16,32,64,96",
    samples: int = 5,
    costs: str = "0.1,0.01",
    protocol: str = "auto",
    max_iter: int = 2000,
    seed: int = 0,
    batch_size: int = 256,
) -> dict[str, Any]:
    """Low-shot SVMs: for every ``k``, ``samples`` seeded training subsets (``voc``: k positives +
    19k negatives per class on a ``[N, C]`` matrix; ``places205``: k images per class on class
    ids; ``auto`` picks by the label shape), mean/min/max/std test mAP of the best cost."""
    import ssl_evaluation

    if protocol not in ("auto", "voc", "places205"):
        raise UsageError(f"--protocol must be auto, voc or places205, got {protocol!r}")
    k_list = parse_list(ks, int, "--ks")
    cost_list = parse_list(costs, float, "--costs")
    summary, train_x, train_t, test_x, test_t = _features(checkpoint, data, image_size, limit, layer, batch_size)
    dataset = protocol if protocol != "auto" else ("voc" if train_t.ndim == 2 else "places205")
    if dataset == "places205" and train_t.ndim != 1:
        raise UsageError("--protocol places205 needs class ids, but the data has a [N, C] label matrix")
    res = ssl_evaluation.low_shot_svm(train_x.numpy(), train_t.numpy(), test_x.numpy(), test_t.numpy(), ks=k_list,
                                num_samples=samples, costs=cost_list, dataset=dataset, max_iter=max_iter, seed=seed)
    return {
        "checkpoint": str(checkpoint),
        "data": summary,
        "benchmarks": {"low-shot": {k: v for k, v in res.items() if k != "tables"}},
        "protocol": {"low-shot": {
            "dataset": dataset, "ks": k_list, "num_samples": samples, "costs": cost_list, "layer": layer,
            "max_iter": max_iter, "seed": seed,
            "sampling": "k positives + 19k negatives per class" if dataset == "voc" else "k images per class",
            "statistic": "mean/min/max/std over samples, cost with the best mean",
        }},
    }
