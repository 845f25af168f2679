"""ViRB-style hyper-parameter grid on cached features: every config's head trained in one pass.

The train and test sets are encoded once (see ``extract_features``); then all heads of the grid
(optimizers adam / sgd, schedulers StepLR / OneCycle / Poly, several learning rates) train
together on those features (``train_linear_heads``). A held-out part of the train split (or a
given validation split) picks the best config; its test accuracy is the reported number.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch
from torch import Tensor

from ssl_evaluation.accuracy import topk_accuracy
from ssl_evaluation.linear_heads import HeadConfig, predict_logits, train_linear_heads
from ssl_evaluation.progress import ProgressFn
from ssl_evaluation.validation import check_pair, check_splits, resolve_num_classes

__all__ = ["linear_grid_search", "virb_grid"]


def virb_grid(epochs: int = 30) -> list[HeadConfig]:
    """The default grid: 10 configs in the spirit of ViRB's ``imagenet_grid_search.yaml``.

    Adam at lr 1e-4 / 1e-3 / 1e-2 (constant); SGD (momentum 0.9) at lr 0.01 / 0.1 with StepLR
    (step at 2/3 of ``epochs``, gamma 0.1), with OneCycle, and with Poly (power 0.9).
    """
    step = max(1, (2 * epochs) // 3)
    grid = [HeadConfig(optimizer="adam", lr=lr, scheduler="constant") for lr in (1e-4, 1e-3, 1e-2)]
    for lr in (0.01, 0.1):
        grid.append(HeadConfig(optimizer="sgd", lr=lr, scheduler="step", step_size=step))
        grid.append(HeadConfig(optimizer="sgd", lr=lr, scheduler="onecycle"))
        grid.append(HeadConfig(optimizer="sgd", lr=lr, scheduler="poly", poly_power=0.9))
    grid.append(HeadConfig(optimizer="adam", lr=1e-3, scheduler="onecycle"))
    return grid


def _split_validation(
    features: Tensor, labels: Tensor, fraction: float, seed: int
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {fraction}")
    n = features.shape[0]
    n_val = max(1, int(round(fraction * n)))
    if n_val >= n:
        raise ValueError(f"val_fraction={fraction} leaves no training rows out of {n}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + 1))
    val, train = order[:n_val], order[n_val:]
    return features[train], labels[train], features[val], labels[val]


def linear_grid_search(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    test_labels: Tensor,
    configs: Sequence[HeadConfig] | None = None,
    epochs: int = 30,
    batch_size: int = 256,
    val_features: Tensor | None = None,
    val_labels: Tensor | None = None,
    val_fraction: float = 0.1,
    standardize: bool = True,
    num_classes: int | None = None,
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> dict[str, object]:
    """Train every config's linear head on cached features at once; pick the best by validation.

    Shapes: train ``[N, D]`` / ``[N]``, test ``[M, D]`` / ``[M]``, optional val ``[V, D]`` /
    ``[V]``. Without a validation split, ``val_fraction`` of the train rows are held out.
    ``progress("linear grid", iterations done, total)`` after every iteration.

    Returns:
        ``{"best": {"config", "val_top1", "top1", "top5"}, "configs": {name: {"val_top1",
        "top1", "top5", "final_loss"}}, "epochs", "batch_size", "seconds"}`` (accuracies in %).
    """
    configs = list(configs) if configs is not None else virb_grid(epochs)
    train_x, train_y, test_x, test_y, _ = check_splits(
        train_features, train_labels, test_features, test_labels
    )
    if (val_features is None) != (val_labels is None):
        raise ValueError("val_features and val_labels must be given together")
    if val_features is not None and val_labels is not None:
        val_x, val_y = check_pair(val_features, val_labels, "val")
    else:
        train_x, train_y, val_x, val_y = _split_validation(train_x, train_y, val_fraction, seed)
    if val_x.shape[1] != train_x.shape[1]:
        raise ValueError(f"val_features has {val_x.shape[1]} columns, train has {train_x.shape[1]}")
    classes = resolve_num_classes([train_y, test_y, val_y], num_classes)
    names = [cfg.name for cfg in configs]
    if len(set(names)) != len(names):
        raise ValueError(f"configs must differ in name (optimizer-lr-scheduler), got {names}")
    start = time.perf_counter()
    heads = train_linear_heads(
        train_x, train_y, configs, classes, epochs, batch_size, standardize=standardize, seed=seed,
        progress=progress, stage="linear grid",
    )
    val_logits = predict_logits(heads, val_x)
    test_logits = predict_logits(heads, test_x)
    table: dict[str, dict[str, float]] = {}
    for i, name in enumerate(names):
        test_acc = topk_accuracy(test_logits[i], test_y)
        table[name] = {
            "val_top1": topk_accuracy(val_logits[i], val_y)["top1"],
            **test_acc,
            "final_loss": float(heads.loss_history[-1, i]),
        }
    best = max(names, key=lambda n: (table[n]["val_top1"], -names.index(n)))
    return {
        "best": {"config": best, **{k: table[best][k] for k in ("val_top1", "top1", "top5")}},
        "configs": table,
        "epochs": epochs,
        "batch_size": batch_size,
        "seconds": time.perf_counter() - start,
    }
