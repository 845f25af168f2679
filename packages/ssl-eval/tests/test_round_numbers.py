"""results.json's rounding: two decimals for scores, two significant digits for small numbers
such as a decaying learning rate (the report plots the per-epoch lr from the rounded values)."""

from __future__ import annotations

import math

from ssl_evaluation.suites.pretrained_run import round_numbers


def test_scores_keep_two_decimals_and_small_numbers_two_significant_digits() -> None:
    tree = {"knn": {"top1": 86.6149}, "loss": 2.35834, "lr": [0.1, 0.0962, 0.0476, 0.00482, 1.234e-4, 0.0], "p": 0.8}
    got = round_numbers(tree)
    assert got == {"knn": {"top1": 86.61}, "loss": 2.36, "lr": [0.1, 0.096, 0.048, 0.0048, 0.00012, 0.0], "p": 0.8}


def test_a_cosine_schedule_stays_distinct_epoch_by_epoch() -> None:
    """14 epochs of a cosine decay from 0.1: every epoch's rounded lr differs from the next (two
    decimals alone would show 0.10, 0.10, 0.09, 0.09 ... and a flat tail)."""
    lrs = [0.05 * (1 + math.cos(math.pi * e / 14)) for e in range(1, 14)]
    rounded = round_numbers(lrs)
    assert all(a > b for a, b in zip(rounded, rounded[1:], strict=False))
    assert all(abs(r - x) <= 0.05 * x for r, x in zip(rounded, lrs, strict=True))


def test_non_finite_values_and_other_types_are_kept() -> None:
    got = round_numbers({"a": float("nan"), "b": float("inf"), "c": "text", "d": 3, "e": (1.234,)})
    assert math.isnan(got["a"]) and got["b"] == float("inf") and got["c"] == "text" and got["d"] == 3 and got["e"] == [1.23]
