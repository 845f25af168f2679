"""Linear heads on frozen features of several layers or configs: VISSL's multi-layer linear eval
(conv1..res5avg) and ViRB's batched linear-head grid."""

from __future__ import annotations

import dataclasses
import enum
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ssl_evaluation.suites.benchmark_data import feature_batches
from ssl_evaluation.suites.image_splits import (
    ImageData,
    checked_trunk,
    class_ids_only,
    data_summary,
    layer_features,
    open_train_test,
    suite_result,
)
from ssl_evaluation.progress import ProgressFn

__all__ = ["LayerPooling", "MultiLayerLinearProtocol", "VirbGridProtocol", "run_multi_layer_linear", "run_virb_grid"]


#: ``vissl``: VISSL's ResNet-50 224 px average-pool preset (about 9k dims per layer); ``global``:
#: global average pooling; ``auto``: ``vissl`` for images of 224 px and more. Built with the
#: functional API because ``global`` is a Python keyword and OmegaConf matches members by name.
LayerPooling = enum.Enum("LayerPooling", {"auto": "auto", "vissl": "vissl", "global": "global"}, type=str)


@dataclass
class MultiLayerLinearProtocol(ImageData):
    """One ``eval_mlp`` head (BatchNorm + Linear) per trunk layer, all trained together with SGD
    (Nesterov, momentum 0.9), lr x0.1 at ``milestones``.

    Defaults: VISSL's ``benchmark/linear_image_classification/imagenet1k/eval_resnet_8gpu_transfer_in1k_linear``
    (28 epochs, lr 0.01, steps at 8/16/24, weight decay 5e-4, batch 256 = 32 x 8 GPUs, heads on
    conv1, res2, res3, res4, res5, res5avg).
    """

    layers: list[str] = field(default_factory=lambda: ["conv1", "res2", "res3", "res4", "res5", "res5avg"])
    pooling: LayerPooling = LayerPooling.auto
    epochs: int = 28
    lr: float = 0.01
    milestones: list[int] = field(default_factory=lambda: [8, 16, 24])
    weight_decay: float = 5e-4
    linear_batch_size: int = 256


@dataclass
class VirbGridProtocol(ImageData):
    """ViRB's linear evaluation: encode once, train the whole grid (adam/sgd x learning rates x
    StepLR/OneCycle/Poly) in one batched pass, report the config best on a held-out
    ``val_fraction_grid`` of train. Defaults: ViRB's ``configs/experiment_configs`` linear grid
    (``ssl_evaluation.virb_grid``), 30 epochs, batch 256; features read 512 images at a time."""

    batch_size: int = 512
    epochs: int = 30
    val_fraction_grid: float = 0.1
    linear_batch_size: int = 256


def run_multi_layer_linear(checkpoint: str | Path | nn.Module, data: str,
                           protocol: MultiLayerLinearProtocol | None = None,
                           progress: ProgressFn | None = None) -> dict[str, Any]:
    """Top-1/top-5 of one head per layer, ``{metrics: {"multi-layer-linear": {LAYER: {...}}}, ...}``."""
    import ssl_evaluation

    started, p = time.perf_counter(), protocol or MultiLayerLinearProtocol()
    if not p.layers:
        raise ValueError("layers is empty")
    trunk, size = checked_trunk(checkpoint, p.image_size, p.layers, "multi-layer-linear")
    train, test = open_train_test(data, size, p)
    class_ids_only("multi-layer linear eval", train, test)
    use_vissl = p.pooling == LayerPooling.vissl or (p.pooling == LayerPooling.auto and size >= 224)
    preset = ssl_evaluation.VISSL_RESNET50_POOLING if use_vissl else {}
    with torch.no_grad():
        maps = trunk.forward_features(torch.zeros(1, 3, size, size), list(p.layers))
    channels = {n: int(maps[n].shape[1]) for n in p.layers}
    t0 = time.perf_counter()
    tr, te = (ssl_evaluation.extract_layer_features(
        trunk, feature_batches(split, p.batch_size, progress=progress, stage=f"features ({name})"), list(p.layers),
        pooling=preset) for name, split in (("train", train), ("test", test)))
    extract_seconds = round(time.perf_counter() - t0, 1)
    scores = ssl_evaluation.multi_layer_linear_eval(
        tr.features, tr.labels, te.features, te.labels, channels=channels, epochs=p.epochs, lr=p.lr,
        milestones=list(p.milestones), weight_decay=p.weight_decay, batch_size=p.linear_batch_size,
        progress=progress,
    )
    metrics: dict[str, Any] = {n: {**scores[n], "dim": int(tr.features[n].shape[1])} for n in p.layers}
    metrics["extract_seconds"] = extract_seconds
    return suite_result(
        "multi-layer-linear", metrics, p, data_summary(data, size, train=train, test=test), checkpoint, started,
        pooling_used={n: list(preset[n]) if n in preset else "global average" for n in p.layers},
        head="eval_mlp (BatchNorm per channel + Linear)", gamma=0.1, momentum=0.9, nesterov=True, regularize_bn=False,
    )


def run_virb_grid(checkpoint: str | Path | nn.Module, data: str, protocol: VirbGridProtocol | None = None,
                  progress: ProgressFn | None = None) -> dict[str, Any]:
    """The best grid config's top-1 and every config's, ``{metrics: {"virb-grid": {"best", "configs"}}, ...}``."""
    import ssl_evaluation

    started, p = time.perf_counter(), protocol or VirbGridProtocol()
    trunk, size = checked_trunk(checkpoint, p.image_size)
    train, test = open_train_test(data, size, p)
    class_ids_only("the ViRB grid", train, test)
    train_x = layer_features(trunk, train, p.batch_size, progress=progress, stage="features (train)")
    test_x = layer_features(trunk, test, p.batch_size, progress=progress, stage="features (test)")
    grid = ssl_evaluation.virb_grid(epochs=p.epochs)
    res = ssl_evaluation.linear_grid_search(train_x, train.targets, test_x, test.targets, grid, epochs=p.epochs,
                                            batch_size=p.linear_batch_size, val_fraction=p.val_fraction_grid,
                                            progress=progress)
    return suite_result(
        "virb-grid", {"best": res["best"], "configs": res["configs"]}, p,
        data_summary(data, size, train=train, test=test), checkpoint, started,
        configs={c.name: dataclasses.asdict(c) for c in grid}, selection="best validation top-1",
        features="trunk pooled output, standardised",
    )
