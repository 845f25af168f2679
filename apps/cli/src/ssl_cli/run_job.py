"""`ssl run`: pretrain, extract features, kNN and linear probes, the same probes at random init.

Wiring only: every computation is a call into ssl-train or ssl-eval.
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

import ssl_evaluation
import ssl_train
from ssl_cli.bench_data import ImageBatches
from ssl_train import ImageSplit, normalize_images

__all__ = ["benchmark_trunk", "check_out_dir", "run_recipe"]


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def check_out_dir(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to overwrite a previous run's results unless asked to resume or overwrite."""
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"output path exists and is not a folder: {out}")
    previous = [p for p in (out / "results.json", out / "checkpoints" / "last.pt") if p.exists()]
    if previous and not (resume or overwrite):
        raise FileExistsError(
            f"{out} already holds a run ({previous[0].name}); pass --resume to continue it "
            "or --overwrite to replace it"
        )


def _recalibrate_batchnorm(trunk: torch.nn.Module, split: ImageSplit, batches: int, batch_size: int) -> None:
    """Re-estimate BatchNorm running statistics on clean training images (no weights change)."""
    norms = [m for m in trunk.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    trunk.train()
    gen = torch.Generator().manual_seed(0)
    order = torch.randperm(len(split), generator=gen)
    with torch.no_grad():
        for b in range(min(batches, len(split) // batch_size)):
            idx = order[b * batch_size : (b + 1) * batch_size]
            trunk(normalize_images(split.images[idx]))
    trunk.eval()


def benchmark_trunk(
    trunk: torch.nn.Module,
    train: ImageSplit,
    test: ImageSplit,
    protocol: Any,
    which: tuple[str, ...] = ("knn", "linear"),
    precision: str = "fp32",
) -> dict[str, Any]:
    """Extract features of both splits with a frozen trunk, then run the asked benchmarks."""
    trunk = trunk.eval()
    t0 = time.perf_counter()
    bs = protocol.batch_size
    dtype = torch.bfloat16 if precision == "bf16" else None
    train_x, train_y = ssl_evaluation.extract_features(trunk, ImageBatches(train.images, train.labels, bs), autocast_dtype=dtype)
    test_x, test_y = ssl_evaluation.extract_features(trunk, ImageBatches(test.images, test.labels, bs), autocast_dtype=dtype)
    out: dict[str, Any] = {"feature_dim": int(train_x.shape[1]), "extract_seconds": round(time.perf_counter() - t0, 1)}
    if "knn" in which:
        knn = ssl_evaluation.knn_classify(
            train_x, train_y, test_x, test_y, k=protocol.knn_k, temperature=protocol.knn_temperature
        )
        out["knn"] = {"top1": knn["top1"], "top5": knn["top5"], "k": protocol.knn_k, "temperature": protocol.knn_temperature}
        _log(f"  knn (k={protocol.knn_k}, T={protocol.knn_temperature}): top-1 {knn['top1']:.2f} %")
    if "linear" in which:
        lin = ssl_evaluation.linear_probe(
            train_x, train_y, test_x, test_y, epochs=protocol.linear_epochs, lr=protocol.linear_lr,
            batch_size=protocol.linear_batch_size,
        )
        out["linear"] = {"top1": lin["top1"], "top5": lin["top5"], "epochs": protocol.linear_epochs}
        _log(f"  linear probe ({protocol.linear_epochs} epochs): top-1 {lin['top1']:.2f} %")
    if "clustering" in which:
        num_classes = int(train_y.max()) + 1
        clusters = ssl_evaluation.cluster_features(
            test_x, test_y, num_clusters=protocol.clusters or num_classes, seed=0, l2_normalize=True
        )
        out["clustering"] = {k: clusters[k] for k in ("num_clusters", "nmi", "ari")}
        _log(f"  k-means ({clusters['num_clusters']} clusters, test split): NMI {clusters['nmi']:.3f}, ARI {clusters['ari']:.3f}")
    return out


def run_recipe(recipe_name: str, config: Any, out: Path, resume: bool, progress: bool) -> dict[str, Any]:
    """Pretrain ``recipe_name`` with ``config``, benchmark it and a random-init twin, write the report."""
    started = time.perf_counter()
    recipe = ssl_train.get_recipe(recipe_name)
    data = config.data
    seed = config.train.seed
    pretrain_split = ssl_train.load_split(
        data.source, "train", data.image_size, data.limit, data.val_fraction, seed, data.num_workers
    )
    bench_train = pretrain_split if data.limit <= 0 else ssl_train.load_split(
        data.source, "train", data.image_size, 0, data.val_fraction, seed, data.num_workers
    )
    test = ssl_train.load_split(data.source, "test", data.image_size, 0, data.val_fraction, seed, data.num_workers)
    if len(test) == 0 or len(bench_train) == 0:
        raise ValueError(f"data source {data.source} has an empty train or test split")
    _log(f"data: {pretrain_split.source}: {len(pretrain_split)} pretraining images, "
         f"{len(bench_train)} / {len(test)} train / test images for the benchmarks")

    result = ssl_train.pretrain(recipe_name, config, out, resume=resume, progress=progress, train_split=pretrain_split)
    _log(f"pretrained in {result.minutes:.1f} min; benchmarking the pretrained trunk")
    results: dict[str, Any] = {
        "recipe": recipe_name,
        "data": {
            "source": pretrain_split.source,
            "pretrain_images": len(pretrain_split),
            "train_images": len(bench_train),
            "test_images": len(test),
            "image_size": data.image_size,
        },
        "pretrain": {
            "minutes": round(result.minutes, 2),
            "epochs": result.epochs,
            "steps": result.steps,
            "final_loss": result.final_loss,
            "checkpoint": str(result.checkpoint),
        },
        "benchmarks": benchmark_trunk(result.trunk, bench_train, test, config.benchmark, precision=config.train.precision),
    }
    if config.benchmark.random_init_baseline:
        _log("benchmarking the same trunk at random init (BatchNorm statistics re-estimated on train images)")
        torch.manual_seed(seed)
        random_trunk = recipe.build(config).trunk
        _recalibrate_batchnorm(random_trunk, bench_train, batches=20, batch_size=config.benchmark.batch_size)
        results["random_init"] = benchmark_trunk(
            random_trunk, bench_train, test, config.benchmark, precision=config.train.precision
        )
    results["protocol"] = {
        "knn": {"k": config.benchmark.knn_k, "temperature": config.benchmark.knn_temperature, "similarity": "cosine",
                "features": "trunk pooled output (res5avg)"},
        "linear": {"epochs": config.benchmark.linear_epochs, "lr": config.benchmark.linear_lr,
                   "batch_size": config.benchmark.linear_batch_size, "features": "standardised, frozen trunk"},
        "random_init": "same architecture and seed, untrained weights, BatchNorm statistics re-estimated on 20 batches of train images",
        "test_split": "official test split" if data.source in ("fashion-mnist", "digits") else "val/test folder or held-out fraction",
    }
    results["environment"] = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "precision": config.train.precision,
    }
    results["total_minutes"] = round((time.perf_counter() - started) / 60, 2)
    ssl_evaluation.write_results(out, results)
    ssl_evaluation.write_report(out, results, result.loss_history)
    return results
