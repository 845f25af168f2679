"""Benchmark: kNN over 60,000 x 512 train features and a batched ViRB grid vs one-by-one heads.

Features are real-data derived: Fashion-MNIST pixels through a fixed random ReLU projection to
512 dimensions (random Gaussian features of the same size when the dataset files are absent).

    python packages/ssl-eval/benchmarks/eval_knn_linear.py [--train 60000] [--test 10000]
        [--epochs 30] [--threads 2] [--linear-threads 1] [--skip-knn] [--skip-probe]
        [--out results.json]

Prints one JSON object. Baselines run in the same process: a plain-PyTorch brute-force kNN
(matrix product + topk) and the same grid trained head after head with torch.optim + schedulers.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.optim import lr_scheduler

from ssl_evaluation import knn_classify, linear_probe
from ssl_evaluation.linear_grid import linear_grid_search, virb_grid
from ssl_evaluation.linear_heads import HeadConfig

FASHION = Path("/usr/share/datasets/fashion-mnist")


def _idx(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path) as handle:
        return np.frombuffer(handle.read(), dtype=np.uint8, offset=offset)


def load_features(n_train: int, n_test: int, dim: int = 512) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(0)
    if (FASHION / "train-images-idx3-ubyte.gz").exists():
        parts = []
        for prefix in ("train", "t10k"):
            x = _idx(FASHION / f"{prefix}-images-idx3-ubyte.gz", 16).reshape(-1, 784)
            y = _idx(FASHION / f"{prefix}-labels-idx1-ubyte.gz", 8)
            parts.append((torch.from_numpy(x.astype(np.float32) / 255.0), torch.from_numpy(y.astype(np.int64))))
        projection = torch.randn(784, dim, generator=gen) / math.sqrt(784)
        (xtr, ytr), (xte, yte) = parts
        xtr = torch.relu(xtr[:n_train] @ projection)
        xte = torch.relu(xte[:n_test] @ projection)
        return xtr, ytr[:n_train], xte, yte[:n_test], "fashion-mnist random-relu-512"
    xtr = torch.randn(n_train, dim, generator=gen)
    xte = torch.randn(n_test, dim, generator=gen)
    ytr = torch.randint(0, 10, (n_train,), generator=gen)
    yte = torch.randint(0, 10, (n_test,), generator=gen)
    return xtr, ytr, xte, yte, "random gaussian"


def torch_knn(train, train_y, test, test_y, k=200, temperature=0.1, classes=10, chunk=1000):
    """Plain-PyTorch baseline: normalise, matrix product, topk, weighted vote."""
    train = F.normalize(train, dim=1)
    hits1 = 0
    for start in range(0, test.shape[0], chunk):
        q = F.normalize(test[start : start + chunk], dim=1)
        sims, ids = (q @ train.t()).topk(k, dim=1)
        scores = torch.zeros(q.shape[0], classes).scatter_add_(1, train_y[ids], (sims / temperature).exp())
        hits1 += int((scores.argmax(1) == test_y[start : start + chunk]).sum())
    return 100.0 * hits1 / test.shape[0]


def sequential_heads(x, y, configs, classes, epochs, batch_size, seed=0):
    """Baseline: each config trained on its own with nn.Linear, torch.optim and a scheduler."""
    mean, std = x.mean(0), x.std(0, unbiased=False).clamp_min(1e-6)
    xs = (x - mean) / std
    steps = math.ceil(len(y) / batch_size)
    for cfg in configs:
        layer = torch.nn.Linear(x.shape[1], classes)
        if cfg.optimizer == "sgd":
            opt = torch.optim.SGD(layer.parameters(), lr=cfg.lr, momentum=cfg.momentum)
        else:
            opt = torch.optim.Adam(layer.parameters(), lr=cfg.lr)
        per_step = {
            "onecycle": lambda: lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=epochs * steps),
            "poly": lambda: lr_scheduler.PolynomialLR(opt, total_iters=epochs * steps, power=cfg.poly_power),
        }.get(cfg.scheduler)
        step_sched = per_step() if per_step else None
        epoch_sched = (
            lr_scheduler.StepLR(opt, cfg.step_size, cfg.gamma) if cfg.scheduler == "step" else None
        )
        gen = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            order = torch.randperm(len(y), generator=gen)
            for start in range(0, len(y), batch_size):
                rows = order[start : start + batch_size]
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(layer(xs[rows]), y[rows]).backward()
                opt.step()
                if step_sched is not None:
                    step_sched.step()
            if epoch_sched is not None:
                epoch_sched.step()


class Timer:
    """Wall-clock and process CPU seconds of a block (CPU time is steadier on a shared box)."""

    def __enter__(self) -> "Timer":
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu

    def record(self, **extra: object) -> dict[str, object]:
        row = {"seconds": round(self.wall, 3), "cpu_seconds": round(self.cpu, 3), **extra}
        print(json.dumps(row), file=sys.stderr, flush=True)
        return row


def run_knn(xtr, ytr, xte, yte, out: dict[str, object]) -> None:
    with Timer() as t:
        knn = knn_classify(xtr, ytr, xte, yte, k=200, temperature=0.1)
    out["knn_ssl_eval"] = t.record(stage="knn", top1=knn["top1"], top5=knn["top5"])
    with Timer() as t:
        top1 = torch_knn(xtr, ytr, xte, yte)
    out["knn_torch_baseline"] = t.record(stage="knn_torch", top1=top1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=60000)
    parser.add_argument("--test", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2, help="threads for kNN (faiss, BLAS)")
    parser.add_argument(
        "--linear-threads", type=int, default=1,
        help="threads for the linear heads (small ops: one thread is steadier on a busy box)",
    )
    parser.add_argument("--skip-knn", action="store_true")
    parser.add_argument("--skip-probe", action="store_true")
    parser.add_argument("--skip-sequential", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    xtr, ytr, xte, yte, source = load_features(args.train, args.test)
    out: dict[str, object] = {
        "features": source,
        "train_shape": list(xtr.shape),
        "test_shape": list(xte.shape),
        "threads": args.threads,
        "linear_threads": args.linear_threads,
    }
    if not args.skip_knn:
        run_knn(xtr, ytr, xte, yte, out)
    torch.set_num_threads(args.linear_threads)

    if not args.skip_probe:
        with Timer() as t:
            probe = linear_probe(xtr, ytr, xte, yte)
        out["linear_probe_defaults"] = t.record(
            stage="linear_probe", top1=probe["top1"], epochs=probe["epochs"],
            batch_size=probe["batch_size"],
        )

    grid = virb_grid(args.epochs)
    with Timer() as t:
        res = linear_grid_search(
            xtr, ytr, xte, yte, grid, epochs=args.epochs, batch_size=args.batch_size
        )
    out["virb_grid_batched"] = t.record(
        stage="grid_batched", configs=len(grid), epochs=args.epochs, batch_size=args.batch_size,
        best=res["best"],
    )
    if not args.skip_sequential:
        # Same rows as the batched run trains on (it holds 10% out for validation).
        n_fit = xtr.shape[0] - int(round(0.1 * xtr.shape[0]))
        with Timer() as t:
            sequential_heads(xtr[:n_fit], ytr[:n_fit], grid, 10, args.epochs, args.batch_size)
        out["virb_grid_sequential_torch"] = t.record(stage="grid_sequential")
        out["virb_grid_speedup_wall"] = (
            out["virb_grid_sequential_torch"]["seconds"] / out["virb_grid_batched"]["seconds"]
        )
        out["virb_grid_speedup_cpu"] = (
            out["virb_grid_sequential_torch"]["cpu_seconds"]
            / out["virb_grid_batched"]["cpu_seconds"]
        )
    text = json.dumps(out, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
