"""ViRB's image-level end tasks on cached encodings: classification, counting, egomotion, ...

The train and test sets are encoded once (``extract_features``: ``[N, D]`` per image), then a small
head is trained on the encodings (ViRB's ``pre_encode``). ViRB's own task list
(``configs/virb_configs/all.yaml``) trains every image-level task with Adam, lr 1e-4, batch 32,
100 epochs (250 / 500 for SUN397 / Caltech-101), cross-entropy, metric accuracy:

- ``"classification"``: class ids (ImageNet, CIFAR-100, Caltech, Pets, EuroSAT, DTD, SUN397).
- ``"counting"``: classification over counts (CLEVR number of objects, THOR number of steps);
  the label *is* the count, so the mean absolute count error of the predicted class is reported
  too.
- ``"egomotion"``: two encodings per sample (frame before / after a move: THOR action
  prediction, nuScenes egomotion), concatenated ``[first, second] -> [2D]`` and classified into
  motion classes (``motion_bins`` turns continuous motion into per-bin classes).
- ``"regression"``: float targets ``[N]`` or ``[N, K]`` (e.g. a pair's continuous motion, or a
  count read as a number), a linear head fitted in closed form (ridge) or with Adam on the MSE;
  metrics MSE / RMSE / MAE / R^2.

Classification heads are linear layers on standardised encodings trained in one batched pass
(``train_linear_heads``): give several ``HeadConfig`` s for a ViRB-style grid, the best chosen on
``val_fraction`` of the train rows; one config trains on every train row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ssl_evaluation.accuracy import topk_accuracy
from ssl_evaluation.linear_grid import _split_validation
from ssl_evaluation.linear_heads import HeadConfig, predict_logits, train_linear_heads
from ssl_evaluation.progress import ProgressFn, Ticker
from ssl_evaluation.validation import as_feature_matrix, check_pair, resolve_num_classes

__all__ = [
    "IMAGE_TASK_KINDS",
    "VIRB_IMAGE_HEAD",
    "image_task",
    "motion_bins",
    "pair_features",
]

IMAGE_TASK_KINDS = ("classification", "counting", "egomotion", "regression")

#: ViRB's image-level training config (``all.yaml``: ``adam-0.0001``, constant learning rate).
VIRB_IMAGE_HEAD = HeadConfig(optimizer="adam", lr=1e-4, scheduler="constant")

FeatureInput = Tensor | np.ndarray | tuple[Tensor, Tensor]


def pair_features(first: Tensor, second: Tensor) -> Tensor:
    """Concatenate two encodings per sample: ``[N, D]``, ``[N, D]`` -> ``[N, 2D]``."""
    a = as_feature_matrix(first, "first")
    b = as_feature_matrix(second, "second")
    if a.shape != b.shape:
        raise ValueError(f"first has shape {tuple(a.shape)} but second has {tuple(b.shape)}")
    return torch.cat([a, b], dim=1)


def motion_bins(values: Tensor, edges: Sequence[float]) -> Tensor:
    """Class ids of continuous values ``[N]``: bin ``i`` holds ``edges[i-1] <= v < edges[i]``.

    ``len(edges) + 1`` classes; e.g. ``edges=(-15, 15)`` splits a yaw change in degrees into
    "left" (0), "straight" (1) and "right" (2).
    """
    boundaries = torch.as_tensor(list(edges), dtype=torch.float64)
    if boundaries.numel() == 0 or bool((boundaries[1:] <= boundaries[:-1]).any()):
        raise ValueError(f"edges must be a non-empty increasing sequence, got {list(edges)}")
    return torch.bucketize(torch.as_tensor(values, dtype=torch.float64), boundaries, right=True)


def _features(x: FeatureInput, name: str, kind: str) -> Tensor:
    if kind != "egomotion":
        return as_feature_matrix(x, name)  # type: ignore[arg-type]
    if isinstance(x, tuple):
        if len(x) != 2:
            raise ValueError(f"{name} for kind='egomotion' must be a pair (first, second)")
        return pair_features(*x)
    tensor = torch.as_tensor(x)
    if tensor.ndim != 3 or tensor.shape[1] != 2:
        raise ValueError(
            f"{name} for kind='egomotion' must be [N, 2, D] or a tuple of two [N, D] tensors, "
            f"got shape {tuple(tensor.shape)}"
        )
    return as_feature_matrix(tensor, name)  # row-major flatten = [first, second]


def _classify(
    train_x: Tensor,
    train_y: Tensor,
    test_x: Tensor,
    classes: int,
    configs: Sequence[HeadConfig],
    epochs: int,
    batch_size: int,
    val_fraction: float,
    seed: int,
    progress: ProgressFn | None = None,
) -> tuple[int, Tensor, dict[str, float]]:
    """Train the heads; return the chosen head's index, its test logits and validation top-1."""
    if len(configs) == 1:
        heads = train_linear_heads(
            train_x, train_y, configs, classes, epochs, batch_size, seed=seed, progress=progress,
            stage="image head",
        )
        return 0, predict_logits(heads, test_x)[0], {}
    fit_x, fit_y, val_x, val_y = _split_validation(train_x, train_y, val_fraction, seed)
    heads = train_linear_heads(fit_x, fit_y, configs, classes, epochs, batch_size, seed=seed, progress=progress,
                               stage="image heads (grid)")
    val_logits = predict_logits(heads, val_x)
    val_top1 = {
        cfg.name: topk_accuracy(val_logits[i], val_y)["top1"] for i, cfg in enumerate(configs)
    }
    best = max(range(len(configs)), key=lambda i: (val_top1[configs[i].name], -i))
    return best, predict_logits(heads, test_x)[best], val_top1


def _as_targets(y: Tensor | np.ndarray, name: str) -> Tensor:
    tensor = torch.as_tensor(y).to(device="cpu", dtype=torch.float64)
    if tensor.ndim not in (1, 2):
        raise ValueError(f"{name} must have shape [N] or [N, K], got {tuple(tensor.shape)}")
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return tensor.reshape(tensor.shape[0], -1)


def _fit_regression(
    x: Tensor,
    y: Tensor,
    solver: str,
    alpha: float,
    lr: float,
    epochs: int,
    batch_size: int,
    seed: int,
    progress: ProgressFn | None = None,
) -> tuple[Tensor, Tensor]:
    """Linear map on standardised ``x [N, D]`` to ``y [N, K]``: weight ``[D, K]``, bias ``[K]``."""
    y_mean = y.mean(dim=0)
    if solver == "ridge":
        # min |x w - (y - mean)|^2 + alpha |w|^2 as one least-squares system (alpha 0 is plain
        # least squares, minimum norm when x is rank deficient).
        d = x.shape[1]
        a = torch.cat([x, math.sqrt(alpha) * torch.eye(d, dtype=x.dtype)])
        b = torch.cat([y - y_mean, torch.zeros(d, y.shape[1], dtype=y.dtype)])
        weight = torch.linalg.lstsq(a, b, driver="gelsd").solution
        return weight, y_mean
    y_scale = y.std(dim=0, unbiased=False).clamp_min(1e-12)
    target = ((y - y_mean) / y_scale).float()
    layer = torch.nn.Linear(x.shape[1], y.shape[1])
    torch.nn.init.zeros_(layer.weight)
    torch.nn.init.zeros_(layer.bias)
    optimizer = torch.optim.Adam(layer.parameters(), lr=lr)
    xf = x.float()
    generator = torch.Generator().manual_seed(seed)
    ticker = Ticker(progress, "regression head", epochs * math.ceil(x.shape[0] / batch_size))
    for _ in range(epochs):
        order = torch.randperm(x.shape[0], generator=generator)
        for start in range(0, x.shape[0], batch_size):
            rows = order[start : start + batch_size]
            loss = F.mse_loss(layer(xf[rows]), target[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            ticker.advance()
    weight = layer.weight.detach().double().t() * y_scale
    bias = layer.bias.detach().double() * y_scale + y_mean
    return weight, bias


def _regression_scores(pred: Tensor, target: Tensor) -> dict[str, float]:
    err = pred - target
    total = (target - target.mean(dim=0)).square().sum(dim=0)
    r2 = 1.0 - err.square().sum(dim=0) / total.clamp_min(1e-300)
    return {
        "mse": float(err.square().mean()),
        "rmse": math.sqrt(float(err.square().mean())),
        "mae": float(err.abs().mean()),
        "r2": float(r2.mean()),
    }


def image_task(
    train_features: FeatureInput,
    train_targets: Tensor | np.ndarray,
    test_features: FeatureInput,
    test_targets: Tensor | np.ndarray,
    kind: str = "classification",
    configs: Sequence[HeadConfig] | None = None,
    epochs: int = 100,
    batch_size: int = 32,
    val_fraction: float = 0.1,
    num_classes: int | None = None,
    solver: str = "ridge",
    alpha: float = 1.0,
    lr: float = 1e-3,
    return_predictions: bool = False,
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> dict[str, object]:
    """Train a head on cached encodings for one ViRB image-level task and score it on test
    (``progress(stage, iterations done, total)`` while a head trains).

    Shapes: features ``[N, D]`` (``kind="egomotion"``: ``[N, 2, D]`` or a tuple of two ``[N, D]``,
    concatenated), targets ``[N]`` int class ids / counts, or for ``"regression"`` float ``[N]``
    or ``[N, K]``; test likewise with ``M`` rows.

    Args:
        kind: one of ``IMAGE_TASK_KINDS``.
        configs: classification heads (default ``[VIRB_IMAGE_HEAD]``, ViRB's Adam lr 1e-4);
            several are a grid, chosen by top-1 on ``val_fraction`` of the train rows.
        epochs, batch_size: training length (ViRB: 100 epochs, batch 32).
        solver: regression only, ``"ridge"`` (closed form, penalty ``alpha`` on standardised
            features) or ``"adam"`` (``epochs`` of Adam at ``lr`` on the MSE, zero init).
        return_predictions: add ``"predictions"``: test class ids ``[M]`` (regression: values
            ``[M, K]``).

    Returns:
        classification kinds: ``{"kind", "top1": %, "top5": %, "best_config", "val_top1":
        {config: %} (grids), "protocol": {...}}``, counting adds ``"count_mae"`` and
        ``"count_rmse"`` of the predicted count; regression: ``{"kind", "mse", "rmse", "mae",
        "r2", "protocol"}``.
    """
    if kind not in IMAGE_TASK_KINDS:
        raise ValueError(f"kind must be one of {IMAGE_TASK_KINDS}, got {kind!r}")
    train_x = _features(train_features, "train_features", kind)
    test_x = _features(test_features, "test_features", kind)
    if train_x.shape[1] != test_x.shape[1]:
        raise ValueError(
            f"train_features has {train_x.shape[1]} columns but test_features has "
            f"{test_x.shape[1]}"
        )
    protocol: dict[str, object] = {"head": "linear", "standardize": True}
    if not (kind == "regression" and solver == "ridge"):  # the closed form has no epochs
        protocol.update(epochs=epochs, batch_size=batch_size, seed=seed)
    if kind == "egomotion":
        protocol["pair"] = "concatenate [first, second]"
    if kind == "regression":
        if solver not in ("ridge", "adam"):
            raise ValueError(f"solver must be 'ridge' or 'adam', got {solver!r}")
        train_t = _as_targets(train_targets, "train_targets")
        test_t = _as_targets(test_targets, "test_targets")
        for x, t, split in ((train_x, train_t, "train"), (test_x, test_t, "test")):
            if x.shape[0] != t.shape[0]:
                raise ValueError(
                    f"{split}_features has {x.shape[0]} rows but {split}_targets has "
                    f"{t.shape[0]}; they must have the same length"
                )
        if train_t.shape[1] != test_t.shape[1]:
            raise ValueError("train_targets and test_targets have different widths")
        mean = train_x.double().mean(dim=0)
        std = train_x.double().std(dim=0, unbiased=False).clamp_min(1e-6)
        weight, bias = _fit_regression(
            (train_x.double() - mean) / std, train_t, solver, alpha, lr, epochs, batch_size, seed, progress
        )
        pred = ((test_x.double() - mean) / std) @ weight + bias
        protocol.update(solver=solver, loss="mse")
        if solver == "ridge":
            protocol.update(alpha=alpha)
        else:
            protocol.update(optimizer="adam", lr=lr)
        result = {"kind": kind, **_regression_scores(pred, test_t), "protocol": protocol}
        if return_predictions:
            result["predictions"] = pred
        return result

    train_x, train_y = check_pair(train_x, train_targets, "train")
    test_x, test_y = check_pair(test_x, test_targets, "test")
    classes = resolve_num_classes([train_y, test_y], num_classes)
    configs = list(configs) if configs is not None else [VIRB_IMAGE_HEAD]
    if not configs:
        raise ValueError("configs must name at least one head")
    best, logits, val_top1 = _classify(
        train_x, train_y, test_x, classes, configs, epochs, batch_size, val_fraction, seed, progress
    )
    result: dict[str, object] = {"kind": kind, **topk_accuracy(logits, test_y)}
    result["best_config"] = configs[best].name
    if val_top1:
        result["val_top1"] = val_top1
    if kind == "counting":
        err = (logits.argmax(dim=1) - test_y).double()
        result["count_mae"] = float(err.abs().mean())
        result["count_rmse"] = math.sqrt(float(err.square().mean()))
    protocol.update(
        loss="cross_entropy",
        configs=[cfg.name for cfg in configs],
        selection="validation" if len(configs) > 1 else "none",
        val_fraction=val_fraction if len(configs) > 1 else None,
        num_classes=classes,
    )
    result["protocol"] = protocol
    if return_predictions:
        result["predictions"] = logits.argmax(dim=1)
    return result
