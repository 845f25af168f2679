"""VOC07 linear SVMs on frozen features, full and low-shot (VOC07 / Places205): VISSL's protocol."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from ssl_evaluation.suites.image_splits import (
    ImageData,
    checked_trunk,
    data_summary,
    layer_features,
    open_train_test,
    suite_result,
)
from ssl_evaluation.progress import ProgressFn

__all__ = ["LowShotDataset", "LowShotProtocol", "SvmProtocol", "run_low_shot", "run_svm"]


@dataclass
class SvmProtocol(ImageData):
    """One-vs-rest ``LinearSVC`` per class on L2-normalised features of ``layer``; the cost of each
    class chosen by ``cross_val_folds``-fold cross-validated AP; VOC-style AP on the test split,
    "difficult" (-1) rows ignored.

    Defaults: VISSL's ``SVM`` config (``costs_list [0.1, 0.01]``, ``cross_val_folds 3``,
    ``max_iter 2000``, ``squared_hinge``, ``l2``, ``dual True``) and its VOC07 benchmark on
    ``res5avg``. ``workers``: classes trained in parallel threads (VISSL: threads).
    """

    layer: str = "res5avg"
    costs: list[float] = field(default_factory=lambda: [0.1, 0.01])
    cross_val_folds: int = 3
    max_iter: int = 2000
    workers: int = 1


class LowShotDataset(str, enum.Enum):
    """How low-shot training subsets are drawn: ``voc`` (k positives + 19k negatives per class of a
    ``[N, C]`` matrix), ``places205`` (k images per class id), ``auto`` (by the label shape)."""

    auto = "auto"
    voc = "voc"
    places205 = "places205"


@dataclass
class LowShotProtocol(ImageData):
    """Low-shot SVMs: for every ``k``, ``num_samples`` seeded subsets, mean/min/max/std test mAP of
    the cost with the best mean.

    Defaults: VISSL's ``SVM.low_shot`` (``k_values [1, 2, 4, 8, 16, 32, 64, 96]``,
    ``sample_inds [1..5]``) and ``create_voc_low_shot_samples.py`` (k positives + 19k negatives).
    """

    layer: str = "res5avg"
    ks: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16, 32, 64, 96])
    num_samples: int = 5
    costs: list[float] = field(default_factory=lambda: [0.1, 0.01])
    dataset: LowShotDataset = LowShotDataset.auto
    max_iter: int = 2000


def _features(checkpoint: str | Path | nn.Module, data: str, p: ImageData, layer: str,
              progress: ProgressFn | None) -> tuple[dict[str, Any], Any, Any, Any, Any]:
    trunk, size = checked_trunk(checkpoint, p.image_size, [] if layer == "res5avg" else [layer], f"layer {layer!r}")
    train, test = open_train_test(data, size, p)
    train_x = layer_features(trunk, train, p.batch_size, layer, progress, "features (train)")
    test_x = layer_features(trunk, test, p.batch_size, layer, progress, "features (test)")
    # class ids, or a preparer's VOC / COCO matrix already in ssl-eval's 1 / 0 / -1 (VISSL's)
    return data_summary(data, size, train=train, test=test), train_x, train.targets, test_x, test.targets


def run_svm(checkpoint: str | Path | nn.Module, data: str, protocol: SvmProtocol | None = None,
            progress: ProgressFn | None = None) -> dict[str, Any]:
    """VOC07 SVM mean AP (percent) of the trunk's ``protocol.layer`` features on ``data``.

    Returns ``{metrics: {"svm": {"mAP", "per_class_ap", "chosen_cost"}}, protocol, data, checkpoint, seconds}``.
    """
    import ssl_evaluation

    started, p = time.perf_counter(), protocol or SvmProtocol()
    if not p.costs:
        raise ValueError("costs is empty")
    summary, train_x, train_t, test_x, test_t = _features(checkpoint, data, p, p.layer, progress)
    res = ssl_evaluation.voc07_svm(train_x.numpy(), train_t.numpy(), test_x.numpy(), test_t.numpy(), costs=list(p.costs),
                                   cross_val_folds=p.cross_val_folds, max_iter=p.max_iter, num_workers=p.workers,
                                   progress=progress)
    return suite_result("svm", {k: res[k] for k in ("mAP", "per_class_ap", "chosen_cost")}, p, summary, checkpoint,
                        started, class_weight={"1": 2, "-1": 1}, loss="squared_hinge", penalty="l2", dual=True,
                        tol=1e-4, intercept_scaling=1, normalize="L2 (norm + 1e-5)", ap="VOC-style",
                        difficult="ignored")


def run_low_shot(checkpoint: str | Path | nn.Module, data: str, protocol: LowShotProtocol | None = None,
                 progress: ProgressFn | None = None) -> dict[str, Any]:
    """Low-shot SVM mAP per ``k`` (``{"k=K": {mean, min, max, std}}``) in the suite result shape."""
    import ssl_evaluation

    started, p = time.perf_counter(), protocol or LowShotProtocol()
    if not p.ks or not p.costs:
        raise ValueError("ks and costs must not be empty")
    summary, train_x, train_t, test_x, test_t = _features(checkpoint, data, p, p.layer, progress)
    dataset = p.dataset.value if p.dataset != LowShotDataset.auto else ("voc" if train_t.ndim == 2 else "places205")
    if dataset == "places205" and train_t.ndim != 1:
        raise ValueError("dataset places205 needs class ids, but the data has a [N, C] label matrix")
    res = ssl_evaluation.low_shot_svm(train_x.numpy(), train_t.numpy(), test_x.numpy(), test_t.numpy(), ks=list(p.ks),
                                      num_samples=p.num_samples, costs=list(p.costs), dataset=dataset,
                                      max_iter=p.max_iter, seed=p.seed, progress=progress)
    return suite_result("low-shot", {k: v for k, v in res.items() if k != "tables"}, p, summary, checkpoint, started,
                        dataset_used=dataset, statistic="mean/min/max/std over samples, cost with the best mean",
                        sampling="k positives + 19k negatives per class" if dataset == "voc" else "k images per class")


