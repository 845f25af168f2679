"""``ssl run``'s second half: benchmark a freshly pretrained trunk against the same architecture at
random init, assemble results.json and report.md."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ssl_evaluation.suites.batchnorm import reestimate_batchnorm
from ssl_evaluation.suites.benchmark_data import feature_batches
from ssl_evaluation.suites.probes import data_record, open_probe_data, probe_protocol, probe_trunk
from ssl_evaluation.suites.progress import ProgressFn
from ssl_evaluation.suites.protocols import ProbeSuite

__all__ = ["benchmark_pretrained"]

_RUN_PROBES = ("knn", "linear")


def benchmark_pretrained(
    out: str | Path,
    recipe: str,
    pretrain: dict[str, Any],
    trunk: nn.Module,
    data: str,
    image_size: int,
    suite: ProbeSuite | None = None,
    random_trunk: Callable[[], nn.Module] | None = None,
    loss_history: Sequence[float] = (),
    started: float | None = None,
    autocast_dtype: torch.dtype | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Probe ``trunk`` (kNN + linear probe) on ``data``; when ``suite.random_init_baseline``,
    probe ``random_trunk()`` too after re-estimating its BatchNorm statistics on
    ``suite.bn_batches`` shuffled batches of train images. Writes ``out/results.json`` and
    ``out/report.md`` (+ loss curve) atomically and returns the results.

    Args:
        pretrain: ``{"minutes", "epochs", "steps", "final_loss", "checkpoint", ...}`` of the run.
        random_trunk: builds the same architecture with the run's seed, untrained.
        started: ``time.perf_counter()`` at the start of the whole run (for ``total_minutes``).
    """
    import ssl_evaluation

    started = time.perf_counter() if started is None else started
    suite = suite or ProbeSuite()
    train, test = open_probe_data(data, image_size, suite)
    results: dict[str, Any] = {
        "recipe": recipe,
        "data": data_record(data, image_size, train, test),
        "pretrain": dict(pretrain),
        "benchmarks": probe_trunk(trunk, train, test, suite, _RUN_PROBES, progress, autocast_dtype),
    }
    protocol = probe_protocol(suite, _RUN_PROBES)
    if suite.random_init_baseline and random_trunk is not None:
        baseline = random_trunk()
        batches = feature_batches(train, suite.extraction.batch_size, shuffle_seed=0)
        used = reestimate_batchnorm(baseline, batches, suite.bn_batches)
        results["random_init"] = probe_trunk(baseline, train, test, suite, _RUN_PROBES, progress, autocast_dtype)
        protocol["random_init"] = (
            "same architecture and seed, untrained weights, BatchNorm statistics re-estimated on "
            f"{used} batches of {suite.extraction.batch_size} shuffled train images"
        )
    results["protocol"] = protocol
    results["environment"] = {
        "torch": torch.__version__, "threads": torch.get_num_threads(), "python": platform.python_version(),
        "machine": platform.machine(), "precision": "bf16" if autocast_dtype == torch.bfloat16 else "fp32",
    }  # fmt: skip
    results["total_minutes"] = round((time.perf_counter() - started) / 60, 2)
    ssl_evaluation.write_results(out, results)
    ssl_evaluation.write_report(out, results, list(loss_history))
    return results
