"""What the run report's figures are drawn from, computed from the run's own trunk and data: the
linear probe's test predictions as a confusion matrix, a 2-D embedding of test features, and
augmented views of a few training images."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from ssl_evaluation.suites.benchmark_data import BenchmarkSplit, open_split

__all__ = ["ViewPlanLike", "augmented_views", "class_names", "confusion_matrix", "embed_2d"]


class ViewPlanLike(Protocol):
    """What the views figure needs of a recipe's view plan (``ssl_train.ViewPlan``)."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def batched_augments(self) -> list[Any]: ...


def confusion_matrix(test_y: Tensor, predicted: Tensor, num_classes: int) -> tuple[np.ndarray, float]:
    """Counts of (true class, predicted class) over the test rows: ``test_y`` and ``predicted``
    int64 ``[M]``.

    Returns:
        ``(confusion [C, C] counts, rows true class / columns predicted, top-1 % of these predictions)``.
    """
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (test_y.numpy(), predicted.numpy()), 1)
    return matrix, float(100.0 * (predicted == test_y).float().mean())


def embed_2d(features: Tensor, labels: Tensor, max_points: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """A seeded random subset of at most ``max_points`` rows of ``features [N, D]``, embedded in
    2-D with scikit-learn's t-SNE (PCA initialisation). Returns ``(points [n, 2], labels [n],
    method description)``."""
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        raise ImportError("the report's embedding needs scikit-learn: pip install 'ssl-evaluation[svm]'") from None
    generator = torch.Generator().manual_seed(seed)
    keep = torch.randperm(features.shape[0], generator=generator)[:max_points].sort().values
    x = torch.nn.functional.normalize(features[keep].float(), dim=1).numpy()
    perplexity = float(min(30.0, max(2.0, (x.shape[0] - 1) / 3.0)))
    points = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)
    return points, labels[keep].numpy(), f"t-SNE (perplexity {perplexity:g}) of {x.shape[0]} L2-normalised test features"


def class_names(split: BenchmarkSplit, num_classes: int) -> list[str]:
    """Folder names where the split has them, else the class ids."""
    if len(split.classes) == num_classes:
        return list(split.classes)
    return [str(c) for c in range(num_classes)]


def augmented_views(
    data: str,
    image_size: int,
    plan: ViewPlanLike,
    augment_batch: Callable[[list[Any], Tensor, Tensor, int, int], Sequence[Tensor]],
    seed: int,
    count: int = 6,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The recipe's crops of the first ``count`` training images, as training draws them in
    epoch 0 (``augment_batch(plan.batched_augments(), uint8 [B, C, S, S], indices, seed, 0)``),
    un-normalised with ``plan.mean`` / ``plan.std``.

    Returns:
        ``(images [B, S, S, 3], one [B, s, s, 3] array per crop)``, floats in [0, 1].
    """
    split = open_split(data, "train", image_size, normalize=False)
    batch = [split.dataset[i] for i in range(min(count, len(split)))]
    images = torch.stack([item[0] for item in batch])  # uint8 [B, 3, S, S]
    if bool((images[:, :1] == images).all()):
        images = images[:, :1]  # grey data: training sees one channel
    indices = torch.tensor([int(item[2]) for item in batch])
    crops = augment_batch(plan.batched_augments(), images, indices, seed, 0)
    mean = torch.tensor(plan.mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(plan.std, dtype=torch.float32).view(1, 3, 1, 1)
    shown = [(crop.float().cpu() * std + mean).clamp(0, 1).permute(0, 2, 3, 1).numpy() for crop in crops]
    originals = (images.float() / 255.0).expand(-1, 3, -1, -1).permute(0, 2, 3, 1).numpy()
    return originals, shown
