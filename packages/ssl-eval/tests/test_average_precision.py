"""VOC AP against a brute-force reference written from the definition, and by hand."""

from __future__ import annotations

import numpy as np
import pytest

from ssl_evaluation.average_precision import voc_mean_average_precision, voc_average_precision


def brute_force_ap(scores, targets) -> float:
    """For every distinct threshold count TP/FP directly; interpolate by an explicit max."""
    pairs = [(s, t) for s, t in zip(scores, targets) if t != -1]
    positives = sum(1 for _, t in pairs if t == 1)
    points = []  # (recall, precision) at each distinct threshold
    for threshold in sorted({s for s, _ in pairs}, reverse=True):
        chosen = [t for s, t in pairs if s >= threshold]
        tp = sum(1 for t in chosen if t == 1)
        points.append((tp / positives, tp / len(chosen)))
    ap, previous = 0.0, 0.0
    for recall, _ in sorted(points):
        if recall > previous:
            best = max(p for r, p in points if r >= recall)
            ap += (recall - previous) * best
            previous = recall
    return ap


def test_by_hand() -> None:
    # Ranking +, -, +: P = 1, 1/2, 2/3 at R = 1/2, 1/2, 1 -> AP = 0.5 * 1 + 0.5 * 2/3.
    assert voc_average_precision([0.9, 0.8, 0.7], [1, 0, 1]) == pytest.approx(0.5 + 1 / 3)
    # A tie between a positive and a negative is one threshold: P = 1/2 at R = 1.
    assert voc_average_precision([0.9, 0.9], [1, 0]) == pytest.approx(0.5)
    assert voc_average_precision([0.9, 0.9], [0, 1]) == pytest.approx(0.5)
    # A difficult (-1) sample ranked first is ignored.
    assert voc_average_precision([5.0, 0.9, 0.8], [-1, 1, 0]) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(6))
def test_matches_brute_force_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 6, 40).astype(float)  # many ties
    targets = rng.choice([1, 0, 0, -1], 40)
    targets[0] = 1
    assert voc_average_precision(scores, targets) == pytest.approx(brute_force_ap(scores, targets))
    continuous = rng.normal(size=40)
    assert voc_average_precision(continuous, targets) == pytest.approx(
        brute_force_ap(continuous, targets)
    )


def test_mean_and_errors() -> None:
    scores = np.array([[0.9, 0.1], [0.8, 0.7], [0.7, 0.9]])
    targets = np.array([[1, 0], [0, 1], [1, 1]])
    mean, per_class = voc_mean_average_precision(scores, targets)
    assert per_class[0] == pytest.approx(0.5 + 1 / 3)
    assert per_class[1] == pytest.approx(1.0)
    assert mean == pytest.approx((0.5 + 1 / 3 + 1.0) / 2)
    with pytest.raises(ValueError, match="no positive"):
        voc_average_precision([0.1, 0.2], [0, -1])
    with pytest.raises(ValueError, match="3 entries"):
        voc_average_precision([0.1, 0.2, 0.3], [0, 1])
