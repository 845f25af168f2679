"""VOC-style average precision: area under the precision envelope, tie-aware.

Samples are ranked by score; tied scores form one threshold (all enter the ranking together),
so the result does not depend on how ties are ordered. At each distinct threshold,
``precision = TP / (TP + FP)`` and ``recall = TP / P``; the precision envelope makes precision
non-increasing in recall (``p_interp(r) = max_{r' >= r} p(r')``), and AP is the sum of
``(r_i - r_{i-1}) * p_interp(r_i)`` over the thresholds (the VOC 2010+ definition that VISSL's
``get_precision_recall`` follows). Targets: 1 positive, 0 negative, -1 ignored ("difficult").
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["voc_mean_average_precision", "voc_average_precision"]


def voc_average_precision(scores: ArrayLike, targets: ArrayLike) -> float:
    """AP in [0, 1] of ``scores [N]`` against ``targets [N]`` in {1, 0, -1} (-1 ignored).

    Raises ``ValueError`` for different lengths or when no positive is present.
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    t = np.asarray(targets).reshape(-1)
    if s.shape != t.shape:
        raise ValueError(f"scores has {s.size} entries but targets has {t.size}")
    if not np.isin(t, (-1, 0, 1)).all():
        raise ValueError("targets must be 1 (positive), 0 (negative) or -1 (ignored)")
    keep = t != -1
    s, t = s[keep], t[keep]
    positives = int((t == 1).sum())
    if positives == 0:
        raise ValueError("targets hold no positive sample: AP is undefined")
    order = np.argsort(-s, kind="stable")
    s, hit = s[order], (t[order] == 1)
    tp = np.cumsum(hit)
    fp = np.cumsum(~hit)
    # Keep the last row of every run of tied scores: one point per distinct threshold.
    last = np.r_[s[1:] != s[:-1], True]
    tp, fp = tp[last], fp[last]
    precision = tp / (tp + fp)
    recall = tp / positives
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.diff(np.r_[0.0, recall])
    return float((steps * envelope).sum())


def voc_mean_average_precision(scores: ArrayLike, targets: ArrayLike) -> tuple[float, np.ndarray]:
    """Classification mAP (VOC07 SVM benchmark): per-class VOC AP of ``scores [N, C]`` vs
    ``targets [N, C]``, averaged over classes; returns (mean, ``[C]``). Not the retrieval mAP over
    query rankings (``ssl_evaluation.retrieval.retrieval_mean_average_precision``)."""
    s = np.asarray(scores)
    t = np.asarray(targets)
    if s.ndim != 2 or s.shape != t.shape:
        raise ValueError(f"scores {s.shape} and targets {t.shape} must both be [N, C]")
    aps = np.array([voc_average_precision(s[:, c], t[:, c]) for c in range(s.shape[1])])
    return float(aps.mean()), aps
