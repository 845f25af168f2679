"""The random-init baseline's probes: the same untrained trunk measured with its initial BatchNorm
statistics, then with them re-estimated on clean train images (``ssl run``'s baseline and the
methods table's)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ssl_evaluation.progress import ProgressFn
from ssl_evaluation.suites.batchnorm import reestimate_batchnorm
from ssl_evaluation.suites.benchmark_data import BenchmarkSplit, feature_batches
from ssl_evaluation.suites.probes import probe_trunk
from ssl_evaluation.suites.protocols import ProbeSuite

__all__ = ["random_init_probes"]


def random_init_probes(
    trunk: nn.Module,
    train: BenchmarkSplit,
    test: BenchmarkSplit,
    suite: ProbeSuite,
    which: Sequence[str] = ("knn", "linear"),
    progress: ProgressFn | None = None,
    autocast_dtype: torch.dtype | None = None,
) -> dict[str, Any]:
    """Probe the untrained ``trunk`` twice: kNN with its initial BatchNorm statistics (mean 0,
    variance 1), then the probes in ``which`` after :func:`reestimate_batchnorm` on
    ``suite.bn_batches`` batches of ``suite.extraction.batch_size`` shuffled ``train`` images
    (shuffle seed 0). A random trunk's kNN depends strongly on those statistics, so a "beats random
    init" verdict compares with the better of the two. The trunk's statistics are changed in place.

    Returns:
        ``{"initial_bn": probe_trunk(..., ("knn",)), "reestimated": probe_trunk(..., which),
        "bn_batches": batches used}``.
    """
    initial = probe_trunk(trunk, train, test, suite, ("knn",), progress, autocast_dtype)
    batches = feature_batches(train, suite.extraction.batch_size, shuffle_seed=0)
    used = reestimate_batchnorm(trunk, batches, suite.bn_batches, progress)
    reestimated = probe_trunk(trunk, train, test, suite, which, progress, autocast_dtype)
    return {"initial_bn": initial, "reestimated": reestimated, "bn_batches": used}
