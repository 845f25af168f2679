"""Benchmark batches of an in-memory split: per image (ssl_data.SSLDataset through a DataLoader,
the path every other source takes) against ssl-eval's batched path, interleaved, same batches.

Prints JSON and writes ``benchmarks/results/benchmark_batches.json``::

    hatch run python benchmarks/benchmark_batches.py --data fashion-mnist --rounds 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fashion_mnist_knn import provenance  # noqa: E402
from ssl_evaluation.suites import feature_batches, open_split  # noqa: E402
from ssl_models.atomic_files import atomic_write_text  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "benchmark_batches.json"


def _drain(batches) -> tuple[float, int]:
    start, n = time.perf_counter(), 0
    for images, _, _ in batches:
        n += int(images.shape[0])
    return time.perf_counter() - start, n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--split", default="train")
    parser.add_argument("--image-size", type=int, default=28)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    record = provenance(sys.argv)
    split = open_split(args.data, args.split, args.image_size)
    if split.in_memory is None:
        print(f"{args.data} is not held in memory: nothing to compare", file=sys.stderr)
        return 2
    seconds: dict[str, list[float]] = {"per_image": [], "batched": []}
    for _ in range(args.rounds):  # interleaved
        t, n = _drain(DataLoader(split.dataset, batch_size=args.batch_size))
        seconds["per_image"].append(t)
        t, n = _drain(feature_batches(split, args.batch_size))
        seconds["batched"].append(t)
    best = {k: min(v) for k, v in seconds.items()}
    record.update(
        data=split.source, split=args.split, images=n, image_size=args.image_size, batch_size=args.batch_size,
        threads=torch.get_num_threads(), seconds=seconds,
        images_per_second={k: round(n / v, 1) for k, v in best.items()},
        speedup=round(best["per_image"] / best["batched"], 2),
    )  # fmt: skip
    text = json.dumps(record, indent=2)
    atomic_write_text(OUT, text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
