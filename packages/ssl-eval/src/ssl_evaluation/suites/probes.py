"""The probe suite's runner: kNN, linear probe and k-means clustering on a trunk's frozen pooled
features, in one result shape ``{metrics, protocol, data, checkpoint, seconds}``."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ssl_evaluation.suites.benchmark_data import BenchmarkSplit, feature_batches, open_split
from ssl_evaluation.suites.checkpoint_trunk import checkpoint_trunk, resolve_image_size
from ssl_evaluation.progress import ProgressFn
from ssl_evaluation.suites.protocol_loader import protocol_dict
from ssl_evaluation.suites.protocols import ProbeSuite

__all__ = [
    "PROBES", "data_record", "open_probe_data", "probe_features", "probe_protocol", "probe_trunk", "probe_trunk_keeping_features", "run_probes",
    "split_features",
]

#: the probes of ``ssl benchmark NAME``
PROBES: dict[str, tuple[str, ...]] = {
    "knn": ("knn",),
    "linear": ("linear",),
    "clustering": ("clustering",),
    "all": ("knn", "linear", "clustering"),
}


def open_probe_data(data: str, image_size: int, suite: ProbeSuite) -> tuple[BenchmarkSplit, BenchmarkSplit]:
    """The train (``suite.extraction.limit`` applied) and test splits of ``data``."""
    ex = suite.extraction
    train = open_split(data, "train", image_size, limit=ex.limit, seed=ex.seed, val_fraction=ex.val_fraction)
    test = open_split(data, "test", image_size, val_fraction=ex.val_fraction)
    for split in (train, test):
        if split.targets.ndim != 1:
            raise ValueError(f"kNN / linear / clustering need class ids, but {split.source} has a [N, C] label matrix")
    return train, test


def data_record(data: str, image_size: int, train: BenchmarkSplit, test: BenchmarkSplit) -> dict[str, Any]:
    """What results.json says about the data: source, sizes, unreadable files replaced."""
    return {
        "name": data, "source": train.source, "test_source": test.source, "image_size": image_size,
        "train_images": len(train), "test_images": len(test),
        "invalid_images": {"train": train.invalid_summary(), "test": test.invalid_summary()},
    }  # fmt: skip


def _check_probes(which: Sequence[str]) -> None:
    unknown = [w for w in which if w not in PROBES["all"]]
    if unknown:
        raise ValueError(f"unknown probe(s) {unknown}; choose from {', '.join(PROBES['all'])}")


def split_features(
    trunk: nn.Module,
    train: BenchmarkSplit,
    test: BenchmarkSplit,
    suite: ProbeSuite,
    progress: ProgressFn | None = None,
    autocast_dtype: torch.dtype | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Pooled features of both splits with the frozen ``trunk`` (streamed, eval mode):
    ``(train [N, D], train labels [N], test [M, D], test labels [M])``."""
    import ssl_evaluation

    ex = suite.extraction
    trunk = trunk.eval()
    train_x, train_y = ssl_evaluation.extract_features(
        trunk, feature_batches(train, ex.batch_size, ex.num_workers, progress, "features (train)"),
        autocast_dtype=autocast_dtype,
    )
    test_x, test_y = ssl_evaluation.extract_features(
        trunk, feature_batches(test, ex.batch_size, ex.num_workers, progress, "features (test)"),
        autocast_dtype=autocast_dtype,
    )
    return train_x, train_y, test_x, test_y


def probe_features(
    features: tuple[Tensor, Tensor, Tensor, Tensor],
    suite: ProbeSuite,
    which: Sequence[str] = ("knn", "linear"),
    progress: ProgressFn | None = None,
) -> tuple[dict[str, Any], Tensor | None]:
    """Run the probes in ``which`` on ``features`` (:func:`split_features`' tuple).

    Returns:
        ``({"feature_dim", "knn": {...}, ...}, the linear probe's predicted class of every test
        row, int64 [M], or None when "linear" is not in which)``.
    """
    import ssl_evaluation

    _check_probes(which)
    train_x, train_y, test_x, test_y = features
    out: dict[str, Any] = {"feature_dim": int(train_x.shape[1])}
    predictions = None
    if "knn" in which:
        knn = ssl_evaluation.knn_classify(train_x, train_y, test_x, test_y, k=suite.knn.k, temperature=suite.knn.temperature,
                                          progress=progress)
        out["knn"] = {"top1": knn["top1"], "top5": knn["top5"]}
    if "linear" in which:
        lp = suite.linear
        lin = ssl_evaluation.linear_probe(
            train_x, train_y, test_x, test_y, epochs=lp.epochs, lr=lp.lr, batch_size=lp.batch_size,
            momentum=lp.momentum, weight_decay=lp.weight_decay, progress=progress, return_predictions=True,
        )  # fmt: skip
        out["linear"] = {"top1": lin["top1"], "top5": lin["top5"]}
        predictions = lin["predictions"]
    if "clustering" in which:
        cp = suite.clustering
        num_classes = int(max(int(train_y.max()), int(test_y.max()))) + 1
        clusters = ssl_evaluation.cluster_features(
            test_x, test_y, num_clusters=cp.num_clusters or num_classes, n_iter=cp.n_iter, seed=cp.seed,
            l2_normalize=cp.l2_normalize, progress=progress,
        )  # fmt: skip
        out["clustering"] = {k: clusters[k] for k in ("num_clusters", "nmi", "ari")}
    return out, predictions  # type: ignore[return-value]


def probe_trunk(
    trunk: nn.Module,
    train: BenchmarkSplit,
    test: BenchmarkSplit,
    suite: ProbeSuite,
    which: Sequence[str] = ("knn", "linear"),
    progress: ProgressFn | None = None,
    autocast_dtype: torch.dtype | None = None,
) -> dict[str, Any]:
    """Extract pooled features of both splits with the frozen ``trunk`` (streamed), then run the
    probes in ``which``. Returns ``{"feature_dim", "extract_seconds", "knn": {...}, ...}``."""
    return probe_trunk_keeping_features(trunk, train, test, suite, which, progress, autocast_dtype)[0]


def probe_trunk_keeping_features(
    trunk: nn.Module,
    train: BenchmarkSplit,
    test: BenchmarkSplit,
    suite: ProbeSuite,
    which: Sequence[str] = ("knn", "linear"),
    progress: ProgressFn | None = None,
    autocast_dtype: torch.dtype | None = None,
) -> tuple[dict[str, Any], tuple[Tensor, Tensor, Tensor, Tensor], Tensor | None]:
    """:func:`probe_trunk`, also returning what it computed on the way (for figures that must not
    extract or train again): ``(probe_trunk's record, split_features' tuple, the linear probe's
    predicted class of every test row int64 [M] or None)``."""
    _check_probes(which)
    t0 = time.perf_counter()
    features = split_features(trunk, train, test, suite, progress, autocast_dtype)
    extract_seconds = round(time.perf_counter() - t0, 1)
    metrics, predictions = probe_features(features, suite, which, progress)
    record = {"feature_dim": metrics.pop("feature_dim"), "extract_seconds": extract_seconds, **metrics}
    return record, features, predictions


def probe_protocol(suite: ProbeSuite, which: Sequence[str]) -> dict[str, Any]:
    """The protocol values a result was computed with (only the probes that ran)."""
    return {"extraction": protocol_dict(suite.extraction), **{w: protocol_dict(getattr(suite, w)) for w in which}}


def run_probes(
    which: Sequence[str],
    checkpoint: str | Path | nn.Module,
    data: str,
    suite: ProbeSuite | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Run ``which`` (names of :data:`PROBES` values) on a checkpoint file's trunk (or a trunk
    module) with ``data`` (see :func:`open_split`).

    Returns:
        ``{"metrics": {"knn": {"top1", "top5"}, ...}, "protocol": {...}, "data": {...},
        "checkpoint": path or None, "seconds": wall time}``.
    """
    started = time.perf_counter()
    suite = suite or ProbeSuite()
    if isinstance(checkpoint, nn.Module):
        trunk, trained, where = checkpoint, 0, None
    else:
        trunk, trained = checkpoint_trunk(checkpoint)
        where = str(checkpoint)
    size = resolve_image_size(suite.extraction.image_size, trained)
    train, test = open_probe_data(data, size, suite)
    metrics = probe_trunk(trunk, train, test, suite, which, progress)
    return {
        "metrics": metrics,
        "protocol": probe_protocol(suite, which),
        "data": data_record(data, size, train, test),
        "checkpoint": where,
        "seconds": round(time.perf_counter() - started, 2),
    }
