"""The floor a representation must clear: the probe suite's kNN on the images' own pixels.

Two inputs, both at the probe's image size and with the probe's train ``limit``: raw pixels
(uint8 values as floats; cosine similarity ignores their scale) and standardised pixels (each
pixel minus its train-split mean, divided by its train-split standard deviation).
"""

from __future__ import annotations

from typing import Any

import torch

from ssl_evaluation.suites.benchmark_data import feature_batches, open_split
from ssl_evaluation.progress import ProgressFn
from ssl_evaluation.suites.protocols import ProbeSuite

__all__ = ["pixel_features", "pixel_knn_baselines", "standardize_pixels"]


def pixel_features(
    data: str, split: str, image_size: int, suite: ProbeSuite, progress: ProgressFn | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flattened uint8 pixels ``[N, C * S * S]`` and labels ``[N]`` of ``data``'s ``split``, the
    images opened exactly as the probes open them (same size, same train limit and seed).
    Grey images (all three channels equal in every image) keep one channel."""
    ex = suite.extraction
    limit = ex.limit if split == "train" else 0
    opened = open_split(data, split, image_size, limit=limit, seed=ex.seed, val_fraction=ex.val_fraction, normalize=False)
    images, labels = [], []
    for batch, targets, _ in feature_batches(opened, ex.batch_size, ex.num_workers, progress, f"pixels ({split})"):
        images.append(batch)
        labels.append(targets)
    pixels = torch.cat(images)
    return pixels, torch.cat(labels).to(torch.int64)


def _grey(pixels: torch.Tensor) -> bool:
    return bool((pixels[:, :1] == pixels).all())


def standardize_pixels(train: torch.Tensor, test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature standardisation with the train split's mean and std (a constant pixel gets
    std 1). Shapes: ``[N, D]``, ``[M, D]`` -> float32, same shapes."""
    train, test = train.float(), test.float()
    mean = train.mean(dim=0)
    std = train.std(dim=0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return (train - mean) / std, (test - mean) / std


def pixel_knn_baselines(
    data: str, image_size: int, suite: ProbeSuite, progress: ProgressFn | None = None
) -> dict[str, Any]:
    """The probe suite's kNN (``suite.knn.k``, ``suite.knn.temperature``, cosine) on raw and on
    standardised pixels of ``data``.

    Returns:
        ``{"raw": {"knn": {"top1", "top5"}}, "standardized": {"knn": {...}}, "feature_dim": D}``.
    """
    import ssl_evaluation

    train_x, train_y = pixel_features(data, "train", image_size, suite, progress)
    test_x, test_y = pixel_features(data, "test", image_size, suite, progress)
    if _grey(train_x) and _grey(test_x):
        train_x, test_x = train_x[:, :1], test_x[:, :1]
    train_x, test_x = train_x.flatten(1), test_x.flatten(1)
    out: dict[str, Any] = {}
    for name, (a, b) in (("raw", (train_x.float(), test_x.float())), ("standardized", standardize_pixels(train_x, test_x))):
        knn = ssl_evaluation.knn_classify(a, train_y, b, test_y, k=suite.knn.k, temperature=suite.knn.temperature)
        out[name] = {"knn": {"top1": knn["top1"], "top5": knn["top5"]}}
    out["feature_dim"] = int(train_x.shape[1])
    return out
