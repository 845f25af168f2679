"""``ssl run``'s second half: benchmark a freshly pretrained trunk against the same architecture at
random init and against kNN on the images' own pixels, assemble results.json and report.md (+ PNGs)."""

from __future__ import annotations

import platform
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ssl_evaluation.suites.pixel_baselines import pixel_knn_baselines
from ssl_evaluation.suites.probes import data_record, open_probe_data, probe_protocol, probe_trunk_keeping_features
from ssl_evaluation.progress import ProgressFn
from ssl_evaluation.suites.protocols import ProbeSuite
from ssl_evaluation.suites.random_init_probes import random_init_probes
from ssl_evaluation.suites.report_data import (
    ViewPlanLike,
    augmented_views,
    class_names,
    confusion_matrix,
    embed_2d,
)

__all__ = ["benchmark_pretrained"]

_RUN_PROBES = ("knn", "linear")
#: distributions whose versions a run records (those installed)
_PACKAGES = ("ssl-cli", "ssl-train", "ssl-evaluation", "ssl-models", "ssl-data", "ssl-losses", "torch", "torchvision",
             "numpy", "scikit-learn", "matplotlib")  # fmt: skip
#: attributes of ``ssl_train.PretrainResult`` that results.json keeps under ``pretrain``
_RUN_FIELDS = ("data_description", "precision", "images_per_second", "train_images", "monitor_history", "epoch_log")


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
    run: Any = None,
    config: Mapping[str, Any] | None = None,
    view_plan: ViewPlanLike | None = None,
    augment_batch: Callable[..., Sequence[torch.Tensor]] | None = None,
) -> dict[str, Any]:
    """Probe ``trunk`` (kNN + linear probe) on ``data``; when ``suite.random_init_baseline``,
    probe ``random_trunk()`` too after re-estimating its BatchNorm statistics on
    ``suite.bn_batches`` shuffled batches of train images. Writes ``out/results.json`` and
    ``out/report.md`` (+ loss curve) atomically and returns the results.

    Args:
        pretrain: ``{"minutes", "epochs", "steps", "final_loss", "checkpoint", ...}`` of the run.
        random_trunk: builds the same architecture with the run's seed, untrained.
        started: ``time.perf_counter()`` at the start of the whole run (for ``total_minutes``).
        run: the ``ssl_train.PretrainResult`` (read by attribute): the data actually used, the
            online kNN monitor's history and the per-epoch log go to results.json and the report.
        config: the resolved recipe (``ssl_train.config_to_dict(cfg)``): the report's recipe
            section and the seed (``config["train"]["seed"]``).
        view_plan, augment_batch: the recipe's ``ssl_train.ViewPlan`` and
            ``ssl_train.views.augment_batch``: the report's grid of augmented views.

    Besides the probes, results.json gets ``pixel_baselines`` (the same kNN on raw and on
    standardised pixels), ``verdict`` (signed differences of kNN top-1), ``linear_confusion``
    and ``environment`` (package versions, git commit, seed); floats are rounded to two decimals
    (two significant digits below 0.1).
    """
    import ssl_evaluation

    started = time.perf_counter() if started is None else started
    suite = suite or ProbeSuite()
    train, test = open_probe_data(data, image_size, suite)
    # the features and the linear probe's predictions are the figures' too
    probes, features, predictions = probe_trunk_keeping_features(trunk, train, test, suite, _RUN_PROBES, progress, autocast_dtype)
    assert predictions is not None  # "linear" is one of _RUN_PROBES
    results: dict[str, Any] = {
        "recipe": recipe,
        "data": data_record(data, image_size, train, test),
        "pretrain": {**dict(pretrain), **_run_record(run)},
        **({"config": dict(config)} if config is not None else {}),
        "benchmarks": probes,
    }
    protocol = probe_protocol(suite, _RUN_PROBES)
    if suite.random_init_baseline and random_trunk is not None:
        # a random trunk's kNN depends strongly on its BatchNorm statistics (ResNet-18 w0.25 on
        # Fashion-MNIST: 71.43 % with the initial ones, 60.21 % re-estimated): measure both, and
        # the verdict compares with the better one
        baseline = random_init_probes(random_trunk(), train, test, suite, _RUN_PROBES, progress, autocast_dtype)
        results["random_init_initial_bn"] = baseline["initial_bn"]
        protocol["random_init_initial_bn"] = (
            "same architecture and seed, untrained weights, the initial BatchNorm statistics (mean 0, variance 1)"
        )
        results["random_init"] = baseline["reestimated"]
        protocol["random_init"] = (
            "same architecture and seed, untrained weights, BatchNorm statistics re-estimated on "
            f"{baseline['bn_batches']} batches of {suite.extraction.batch_size} shuffled train images"
        )
    results["pixel_baselines"] = pixel_knn_baselines(data, image_size, suite, progress)
    protocol["pixel_baselines"] = (
        f"the same kNN on flattened pixels at {image_size} px (grey images: one channel): raw values, and "
        "standardised with the train split's per-pixel mean and std"
    )
    results["protocol"] = protocol
    results["verdict"] = _verdict(round_numbers(results))  # differences of the numbers shown
    embedding, views = _figure_data(results, features, predictions, train, data, image_size, view_plan, augment_batch,
                                    _seed(config))  # fmt: skip
    results["environment"] = {
        "torch": torch.__version__, "threads": torch.get_num_threads(), "python": platform.python_version(),
        "machine": platform.machine(), "precision": "bf16" if autocast_dtype == torch.bfloat16 else "fp32",
        "seed": _seed(config), "git_commit": _git_commit(), "packages": _package_versions(),
    }  # fmt: skip
    results["total_minutes"] = (time.perf_counter() - started) / 60
    results = round_numbers(results)
    ssl_evaluation.write_results(out, results)
    ssl_evaluation.write_report(out, results, list(loss_history), embedding=embedding, views=views)
    return results


def round_numbers(tree: Any) -> Any:
    """Floats rounded to two decimals (two significant digits when smaller than 0.1, so that a
    learning rate of 0.096 or 1e-4 stays readable: the report plots the per-epoch lr from these);
    containers are rebuilt, other values kept."""
    if isinstance(tree, float):
        if tree != tree or tree in (float("inf"), float("-inf")) or tree == 0.0:
            return tree
        return round(tree, 2) if abs(tree) >= 0.1 else float(f"{tree:.2g}")
    if isinstance(tree, Mapping):
        return {k: round_numbers(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [round_numbers(v) for v in tree]
    return tree


def _run_record(run: Any) -> dict[str, Any]:
    if run is None:
        return {}
    record = {name: getattr(run, name) for name in _RUN_FIELDS if getattr(run, name, None) is not None}
    if "data_description" in record:
        record["data"] = record.pop("data_description")
    return record


def _seed(config: Mapping[str, Any] | None) -> int | None:
    train = (config or {}).get("train")
    return int(train["seed"]) if isinstance(train, Mapping) and "seed" in train else None


def _verdict(results: Mapping[str, Any]) -> dict[str, Any]:
    """Signed kNN top-1 differences: pretrained minus the better random-init variant (re-estimated
    or initial BatchNorm statistics), minus the best pixel baseline."""
    pretrained = results["benchmarks"]["knn"]["top1"]
    verdict: dict[str, Any] = {"metric": "knn/top1", "pretrained": pretrained}
    variants = {name: results[name]["knn"]["top1"] for name in ("random_init", "random_init_initial_bn")
                if "top1" in results.get(name, {}).get("knn", {})}  # fmt: skip
    if variants:
        best = max(variants, key=lambda name: variants[name])
        verdict["random_init"] = variants[best]
        verdict["random_init_variant"] = best
        verdict["minus_random_init"] = pretrained - variants[best]
    pixels = results["pixel_baselines"]
    best = max(("raw", "standardized"), key=lambda name: pixels[name]["knn"]["top1"])
    verdict["best_pixel_baseline"] = best
    verdict["best_pixels"] = pixels[best]["knn"]["top1"]
    verdict["minus_best_pixels"] = pretrained - pixels[best]["knn"]["top1"]
    return verdict


def _figure_data(
    results: dict[str, Any], features: tuple[torch.Tensor, ...], predictions: torch.Tensor, train: Any, data: str,
    image_size: int, view_plan: ViewPlanLike | None, augment_batch: Callable[..., Sequence[torch.Tensor]] | None,
    seed: int | None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:  # fmt: skip
    """Confusion matrix of the linear probe's ``predictions`` (into ``results["linear_confusion"]``),
    the t-SNE embedding of the pretrained trunk's test ``features`` and the views grid's images."""
    t0 = time.perf_counter()
    _, train_y, test_x, test_y = features
    num_classes = int(max(int(train_y.max()), int(test_y.max()))) + 1
    names = class_names(train, num_classes)
    matrix, top1 = confusion_matrix(test_y, predictions, num_classes)
    results["linear_confusion"] = {"classes": names, "matrix": matrix.tolist(), "top1": top1}
    points, labels, method = embed_2d(test_x, test_y, seed=seed or 0)
    embedding = {"points": points, "labels": labels, "classes": names, "method": method}
    views = None
    if view_plan is not None and augment_batch is not None:
        originals, crops = augmented_views(data, image_size, view_plan, augment_batch, seed or 0)
        views = {"originals": originals, "crops": crops, "names": [f"crop {i + 1}" for i in range(len(crops))]}
    results["report_seconds"] = time.perf_counter() - t0
    return embedding, views


def _git_commit() -> str | None:
    """``HEAD`` of the git checkout the working directory is in (``+dirty`` with local changes)."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")


def _package_versions() -> dict[str, str]:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions
