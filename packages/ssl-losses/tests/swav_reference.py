"""NumPy references for Sinkhorn-Knopp and the SwAV swapped prediction (paper's Algorithm 1).

Written from the SwAV paper's pseudo-code, independently of ssl_losses; float64.
"""

import numpy as np

__all__ = ["log_softmax", "sinkhorn", "swapped_prediction"]


def sinkhorn(scores: np.ndarray, epsilon: float, num_iters: int) -> np.ndarray:
    """``scores`` ``[N, K]`` of the whole (global) batch -> codes ``[N, K]``, rows sum to 1."""
    q = np.exp(scores.astype(np.float64) / epsilon).T  # [K, N]
    q /= q.sum()
    k, n = q.shape
    for _ in range(num_iters):
        q /= q.sum(axis=1, keepdims=True)
        q /= k
        q /= q.sum(axis=0, keepdims=True)
        q /= n
    q /= q.sum(axis=0, keepdims=True)  # each sample's code sums to 1 (= q * n after >= 1 iteration)
    return q.T


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def swapped_prediction(
    student: list[np.ndarray],
    targets: list[list[np.ndarray]],
    crops_for_assign: list[int],
    num_crops: int,
    temperature: float,
    epsilon: float,
    num_iters: int,
    queue_scores: list[list[np.ndarray]] | None = None,
    hard: bool = False,
) -> float:
    """Loss of one batch.

    ``student[h]``: ``[num_crops, B, K]`` per head; ``targets[h][a]``: ``[B, K]`` scores whose
    codes crop ``crops_for_assign[a]`` must be predicted; ``queue_scores[h][a]``: extra rows
    appended before Sinkhorn (their codes are dropped); ``hard``: one-hot argmax codes.
    """
    head_losses = []
    for h, scores in enumerate(student):
        crop_losses = []
        for a, crop in enumerate(crops_for_assign):
            target = targets[h][a]
            batch = target.shape[0]
            if queue_scores is not None:
                target = np.concatenate([target, queue_scores[h][a]])
            codes = sinkhorn(target, epsilon, num_iters)[:batch]
            if hard:
                codes = np.eye(codes.shape[1])[codes.argmax(axis=1)]
            terms = []
            for p in range(num_crops):
                if p == crop:
                    continue
                logp = log_softmax(scores[p] / temperature)
                per_sample = [-(codes[i] * logp[i]).sum() for i in range(batch)]
                terms.append(np.mean(per_sample))
            crop_losses.append(np.mean(terms))
        head_losses.append(np.mean(crop_losses))
    return float(np.mean(head_losses))
