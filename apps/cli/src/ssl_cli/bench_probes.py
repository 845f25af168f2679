"""Benchmarks on frozen features of class-labelled splits: kNN, linear probe, k-means clustering,
VISSL's multi-layer linear eval (conv1..res5avg) and ViRB's batched linear-head grid."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import torch

from ssl_cli.bench_data import ImageBatches, data_summary, load_train_test
from ssl_cli.bench_options import parse_list
from ssl_cli.errors import UsageError
from ssl_evaluation.suites import PROBES, ProbeSuite

__all__ = ["PROBE_SUITES", "run_multi_layer_linear", "run_probes", "run_virb_grid"]

PROBE_SUITES = PROBES
_DEFAULTS = ProbeSuite()
KNN, LINEAR, CLUSTERING, EXTRACTION = _DEFAULTS.knn, _DEFAULTS.linear, _DEFAULTS.clustering, _DEFAULTS.extraction
_RESNET_LAYERS = "conv1,res2,res3,res4,res5,res5avg"


def _class_targets(name: str, *splits: Any) -> None:
    for split in splits:
        if split.targets.ndim != 1:
            raise UsageError(f"{name} needs class ids, but {split.source} has a [N, C] label matrix")


def run_probes(
    checkpoint: Path,
    data: str = "fashion-mnist",
    *,
    which: tuple[str, ...] = ("knn",),
    image_size: int = 0,
    limit: int = 0,
    knn_k: int = KNN.k,
    knn_temperature: float = KNN.temperature,
    linear_epochs: int = LINEAR.epochs,
    linear_lr: float = LINEAR.lr,
    linear_batch_size: int = LINEAR.batch_size,
    batch_size: int = EXTRACTION.batch_size,
    clusters: int = CLUSTERING.num_clusters,
) -> dict[str, Any]:
    """Suite-file entry of the probes: the flat option names of a suite file mapped onto
    :class:`ssl_evaluation.suites.ProbeSuite` (whose defaults these are), then
    :func:`ssl_evaluation.suites.run_probes`; ``benchmarks`` holds the metrics."""
    from ssl_evaluation import suites

    suite = suites.load_protocol(suites.ProbeSuite(), [
        f"knn.k={knn_k}", f"knn.temperature={knn_temperature}", f"linear.epochs={linear_epochs}",
        f"linear.lr={linear_lr}", f"linear.batch_size={linear_batch_size}", f"extraction.batch_size={batch_size}",
        f"extraction.image_size={image_size}", f"extraction.limit={limit}", f"clustering.num_clusters={clusters}",
    ])  # fmt: skip
    result = suites.run_probes(which, checkpoint, data, suite)
    return {**result, "benchmarks": result.pop("metrics")}


def run_multi_layer_linear(
    checkpoint: Path,
    data: str = "fashion-mnist",
    *,
    image_size: int = 0,
    limit: int = 0,
    layers: str = _RESNET_LAYERS,
    pooling: str = "auto",
    epochs: int = 28,
    lr: float = 0.01,
    milestones: str = "8,16,24",
    weight_decay: float = 5e-4,
    linear_batch_size: int = 256,
    batch_size: int = 256,
) -> dict[str, Any]:
    """VISSL's multi-layer linear eval: one ``eval_mlp`` head (BatchNorm + Linear) per trunk layer,
    all trained together (SGD Nesterov, momentum 0.9, lr x0.1 at ``milestones``).

    ``pooling``: ``vissl`` = VISSL's ResNet-50 224 px avg-pool preset (about 9k dims per layer),
    ``global`` = global average pooling, ``auto`` = ``vissl`` for images of 224 px and more.
    """
    import ssl_evaluation

    if pooling not in ("auto", "vissl", "global"):
        raise UsageError(f"--pooling must be auto, vissl or global, got {pooling!r}")
    names = parse_list(layers, str, "--layers")
    steps = parse_list(milestones, int, "--milestones", allow_empty=True)
    trunk, size, train, test = load_train_test(checkpoint, data, image_size, limit)
    _class_targets("multi-layer linear eval", train, test)
    use_vissl = pooling == "vissl" or (pooling == "auto" and size >= 224)
    preset = ssl_evaluation.VISSL_RESNET50_POOLING if use_vissl else {}
    known = trunk.feature_names()
    missing = [n for n in names if n not in known]
    if missing:
        raise UsageError(f"the trunk has no layer(s) {missing}; it has {', '.join(known)}")
    with torch.no_grad():
        maps = trunk.forward_features(torch.zeros(1, 3, size, size), names)
    channels = {n: int(maps[n].shape[1]) for n in names}
    t0 = time.perf_counter()
    tr = ssl_evaluation.extract_layer_features(trunk, ImageBatches.of(train, batch_size), names, pooling=preset)
    te = ssl_evaluation.extract_layer_features(trunk, ImageBatches.of(test, batch_size), names, pooling=preset)
    extract_seconds = round(time.perf_counter() - t0, 1)
    scores = ssl_evaluation.multi_layer_linear_eval(
        tr.features, tr.labels, te.features, te.labels, channels=channels, epochs=epochs, lr=lr,
        milestones=steps, weight_decay=weight_decay, batch_size=linear_batch_size,
    )
    metrics: dict[str, Any] = {n: {**scores[n], "dim": int(tr.features[n].shape[1])} for n in names}
    metrics["extract_seconds"] = extract_seconds
    return {
        "checkpoint": str(checkpoint),
        "data": data_summary(data, size, ("train", train), ("test", test)),
        "benchmarks": {"multi-layer-linear": metrics},
        "protocol": {"multi-layer-linear": {
            "layers": names, "pooling": {n: list(preset[n]) if n in preset else "global average" for n in names},
            "head": "eval_mlp (BatchNorm per channel + Linear)", "epochs": epochs, "lr": lr, "milestones": steps,
            "gamma": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": weight_decay, "regularize_bn": False,
            "batch_size": linear_batch_size,
        }},
    }


def run_virb_grid(
    checkpoint: Path,
    data: str = "fashion-mnist",
    *,
    image_size: int = 0,
    limit: int = 0,
    epochs: int = 30,
    val_fraction: float = 0.1,
    linear_batch_size: int = 256,
    batch_size: int = 512,
) -> dict[str, Any]:
    """ViRB's linear evaluation: encode train and test once, train the whole hyper-parameter grid
    (adam/sgd x learning rates x StepLR/OneCycle/Poly) in one batched pass, report the config
    that is best on a held-out ``val_fraction`` of train."""
    import ssl_evaluation

    trunk, size, train, test = load_train_test(checkpoint, data, image_size, limit)
    _class_targets("the ViRB grid", train, test)
    train_x, train_y = ssl_evaluation.extract_features(trunk, ImageBatches.of(train, batch_size))
    test_x, test_y = ssl_evaluation.extract_features(trunk, ImageBatches.of(test, batch_size))
    grid = ssl_evaluation.virb_grid(epochs=epochs)
    res = ssl_evaluation.linear_grid_search(
        train_x, train_y, test_x, test_y, grid, epochs=epochs, batch_size=linear_batch_size,
        val_fraction=val_fraction,
    )
    return {
        "checkpoint": str(checkpoint),
        "data": data_summary(data, size, ("train", train), ("test", test)),
        "benchmarks": {"virb-grid": {"best": res["best"], "configs": res["configs"]}},
        "protocol": {"virb-grid": {
            "configs": {c.name: dataclasses.asdict(c) for c in grid}, "epochs": epochs, "batch_size": linear_batch_size,
            "val_fraction": val_fraction, "selection": "best validation top-1",
            "features": "trunk pooled output, standardised",
        }},
    }
