"""ViRB's test-only datasets: a head trained on one task scores another test set with the same
classes (ImageNet-v2 read with the ImageNet head; no training on the test-only set).

``train_image_head`` keeps the head ``image_task`` would train (standardised encodings, ViRB's
Adam lr 1e-4); ``evaluate_image_head`` applies it to any ``[M, D]`` encodings of the same
trunk and layer. ImageNet-v2's folders are named by ImageNet class index ("0" ... "999"), so
its folder order is not the class order: pass ``label_map`` (test label id -> head class id)
when the two numberings differ.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from ssl_evaluation.accuracy import topk_accuracy
from ssl_evaluation.linear_heads import HeadConfig, LinearHeads, predict_logits, train_linear_heads
from ssl_evaluation.progress import ProgressFn
from ssl_evaluation.validation import as_feature_matrix, check_pair, resolve_num_classes
from ssl_evaluation.virb.image_tasks import VIRB_IMAGE_HEAD

__all__ = ["evaluate_image_head", "train_image_head"]


def train_image_head(
    features: Tensor,
    labels: Tensor,
    num_classes: int | None = None,
    config: HeadConfig = VIRB_IMAGE_HEAD,
    epochs: int = 100,
    batch_size: int = 32,
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> LinearHeads:
    """A linear head on standardised encodings ``[N, D]`` with class ids ``[N]`` (kept for reuse);
    ``progress("image head", iterations done, epochs * ceil(N / batch_size))`` while it trains."""
    x, y = check_pair(as_feature_matrix(features, "features"), labels, "train")
    classes = resolve_num_classes([y], num_classes)
    return train_linear_heads(x, y, [config], classes, epochs, batch_size, seed=seed, progress=progress,
                              stage="image head")


def evaluate_image_head(
    head: LinearHeads, features: Tensor, labels: Tensor, label_map: Mapping[int, int] | None = None
) -> dict[str, object]:
    """Score a trained head on a test-only set: encodings ``[M, D]``, labels ``[M]`` (mapped
    through ``label_map`` first). Returns ``{"top1": %, "top5": %, "num_samples"}``."""
    x = as_feature_matrix(features, "features")
    if x.shape[1] != head.weight.shape[2]:
        raise ValueError(f"features have {x.shape[1]} columns but the head was trained on {head.weight.shape[2]}")
    y = torch.as_tensor(labels).long().reshape(-1)
    if label_map is not None:
        unknown = sorted({int(v) for v in y.tolist()} - set(label_map))
        if unknown:
            raise ValueError(f"label_map has no entry for test label(s) {unknown[:5]}")
        y = torch.tensor([label_map[int(v)] for v in y.tolist()], dtype=torch.long)
    x, y = check_pair(x, y, "test")
    classes = head.weight.shape[1]
    if int(y.max()) >= classes or int(y.min()) < 0:
        raise ValueError(f"test labels must be class ids of the head, in [0, {classes})")
    return {**topk_accuracy(predict_logits(head, x)[0], y), "num_samples": int(y.shape[0])}
