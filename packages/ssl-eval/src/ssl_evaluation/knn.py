"""Weighted k-nearest-neighbour classification (NPID / VISSL / DINO protocol).

Train and test features are L2-normalised; an exact search (matrix product + ``torch.topk`` over
chunks of test rows) finds the ``k`` train features with the highest inner product (cosine
similarity) for every test feature. Each neighbour votes for its class with
weight ``exp(similarity / temperature)``; the class scores are the summed weights and the
predicted ranking is by score (ties go to the lower class id). Several ``k`` share one search.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ssl_evaluation.progress import ProgressFn, Ticker
from ssl_evaluation.validation import check_splits

__all__ = ["knn_classify", "knn_classify_multi_k", "knn_search"]

#: similarities computed at once (float32: 16 MB) by a chunk of test rows x a block of train rows;
#: a chunk has at least _MIN_ROWS rows and a block at most _BLOCK_COLS rows (so at most 64 MB)
_MAX_SIMILARITIES, _MIN_ROWS, _BLOCK_COLS = 1 << 22, 128, 1 << 17


def knn_search(
    train_features: Tensor,
    test_features: Tensor,
    k: int,
    batch_size: int = 4096,
    progress: ProgressFn | None = None,
) -> tuple[Tensor, Tensor]:
    """Cosine top-``k`` search: train ``[N, D]``, test ``[M, D]`` -> (sims, ids) ``[M, k]``.

    Rows are L2-normalised first; similarities come back sorted in decreasing order. Chunks of
    test rows (at most ``batch_size``) are scored against blocks of train rows, about ``2**22``
    similarities (16 MB; at most 64 MB) at a time, keeping a running top-``k``: memory does not
    grow with the bank. ``progress("kNN search", test rows done, M)`` after each chunk.
    """
    train = _normalised(train_features)
    test = _normalised(test_features)
    cols = max(1, min(train.shape[0], _BLOCK_COLS))
    rows = max(1, min(batch_size, max(_MIN_ROWS, _MAX_SIMILARITIES // cols)))
    sims, ids = [], []
    ticker = Ticker(progress, "kNN search", test.shape[0])
    for start in range(0, test.shape[0], rows):
        query = test[start : start + rows]
        best_sims, best_ids = query.new_empty(query.shape[0], 0), torch.empty(query.shape[0], 0, dtype=torch.int64)
        for first in range(0, train.shape[0], cols):
            # sorted=True: on the CPU, torch.topk is faster sorted than unsorted
            block = query @ train[first : first + cols].T
            top = torch.topk(block, min(k, block.shape[1]), dim=1, sorted=True)
            if first == 0:
                best_sims, best_ids = top.values, top.indices
                continue
            merged = torch.topk(torch.cat([best_sims, top.values], dim=1), k, dim=1, sorted=True)
            best_ids = torch.cat([best_ids, top.indices + first], dim=1).gather(1, merged.indices)
            best_sims = merged.values
        sims.append(best_sims)
        ids.append(best_ids)
        ticker.advance(query.shape[0])
    if not sims:
        return torch.empty(0, k), torch.empty(0, k, dtype=torch.int64)
    return torch.cat(sims), torch.cat(ids)


def _normalised(features: Tensor) -> Tensor:
    array = features.detach().cpu().to(torch.float32)
    return array / array.norm(dim=1, keepdim=True).clamp_min(1e-12)


def knn_classify_multi_k(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    test_labels: Tensor,
    ks: Sequence[int] = (10, 20, 100, 200),
    temperature: float = 0.1,
    num_classes: int | None = None,
    progress: ProgressFn | None = None,
) -> dict[int, dict[str, float]]:
    """Weighted kNN accuracy for several ``k`` from one search.

    Args:
        train_features: ``[N, D]``; train_labels: int ``[N]``.
        test_features: ``[M, D]``; test_labels: int ``[M]``.
        ks: neighbour counts; each is capped at ``N``.
        temperature: weights are ``exp(cosine / temperature)``.
        num_classes: defaults to ``max(label) + 1`` over both splits.
        progress: ``progress("kNN search", test rows done, M)`` (see :func:`knn_search`).

    Returns:
        ``{k: {"top1": %, "top5": %}}`` (top-5 is top-``min(5, num_classes)``).
    """
    train_x, train_y, test_x, test_y, classes = check_splits(
        train_features, train_labels, test_features, test_labels, num_classes
    )
    if not ks or any(int(k) < 1 for k in ks):
        raise ValueError(f"ks must be positive neighbour counts, got {list(ks)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    k_max = min(max(int(k) for k in ks), train_x.shape[0])
    sims, ids = knn_search(train_x, test_x, k_max, progress=progress)
    weights = (sims / temperature).exp()
    neighbour_labels = train_y[ids]
    top_n = min(5, classes)
    results: dict[int, dict[str, float]] = {}
    for k in ks:
        kk = min(int(k), k_max)
        scores = torch.zeros(test_x.shape[0], classes, dtype=torch.float32)
        scores.scatter_add_(1, neighbour_labels[:, :kk], weights[:, :kk])
        # Stable descending sort: equal scores keep class order, so ties go to the lower id.
        ranking = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :top_n]
        hits = ranking == test_y[:, None]
        results[int(k)] = {
            "top1": 100.0 * hits[:, 0].float().mean().item(),
            "top5": 100.0 * hits.any(dim=1).float().mean().item(),
        }
    return results


def knn_classify(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    test_labels: Tensor,
    k: int = 200,
    temperature: float = 0.1,
    num_classes: int | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, float]:
    """Weighted kNN top-1/top-5 accuracy in percent (k=200, temperature 0.1 as in VISSL/DINO).

    Shapes: train ``[N, D]`` / ``[N]``, test ``[M, D]`` / ``[M]``. Returns
    ``{"top1", "top5", "k", "temperature"}``; ``progress`` as for :func:`knn_search`.
    """
    res = knn_classify_multi_k(
        train_features, train_labels, test_features, test_labels, (k,), temperature, num_classes, progress
    )[int(k)]
    return {**res, "k": int(k), "temperature": float(temperature)}
