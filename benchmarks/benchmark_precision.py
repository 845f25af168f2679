"""fp32 against bf16 autocast for real recipes on this CPU: the trainer's own steps, interleaved.

For each recipe and round, ``ssl_train.pretrain`` runs ``--warmup + --steps`` steps of the
recipe's defaults on Fashion-MNIST, once with ``train.precision=fp32`` and once with ``bf16``
(alternating which goes first), and a hook stamps the end of every step; a step's time is the
gap between two stamps after the warm-up (start-up work such as ClusterFit's stage 1 or a memory
fill is outside every gap). A run whose loss turns non-finite is recorded as diverged, with the
step. Prints JSON and writes it (atomically) to ``--out``::

    hatch run python benchmarks/benchmark_precision.py
    hatch run python benchmarks/benchmark_precision.py --recipes clusterfit simclr --steps 30 --rounds 2
    hatch run python benchmarks/benchmark_precision.py --recipes simclr --steps 5 --warmup 2 --rounds 2 \
        --set model.width_multiplier=1.0 model.trunk=resnet50 data.image_size=112 data.batch_size=32 \
        --out benchmarks/results/benchmark_precision_resnet50.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fashion_mnist_knn import provenance  # noqa: E402

import ssl_train  # noqa: E402
from ssl_models.atomic_files import atomic_write_text  # noqa: E402
from ssl_train.runtime import cpu_has_fast_bf16  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


class _StepStamps(ssl_train.hooks.Hook):
    def __init__(self) -> None:
        self.stamps: list[float] = []

    def on_step_end(self, run, metrics) -> None:
        self.stamps.append(time.perf_counter())


def timed_run(recipe: str, precision: str, steps: int, warmup: int, work: Path, overrides: list[str]) -> dict[str, Any]:
    """Median seconds per step (and images/s) of ``steps`` trainer steps after ``warmup``."""
    config_class = ssl_train.get_recipe(recipe).config_class
    cfg = ssl_train.load_config(config_class(), [*overrides, f"train.max_steps={warmup + steps + 1}", f"train.precision={precision}",
                                                 "train.tensorboard=false", "monitor.knn_every_epochs=0"])  # fmt: skip
    hook = _StepStamps()
    try:
        ssl_train.pretrain(recipe, cfg, work / f"{recipe}-{precision}", progress=False, hooks=[hook])
    except ssl_train.TrainingDivergedError as exc:
        return {"diverged": str(exc).splitlines()[0]}
    gaps = [b - a for a, b in zip(hook.stamps[warmup:], hook.stamps[warmup + 1 :])]
    median = statistics.median(gaps)
    return {"seconds_per_step": round(median, 4), "images_per_second": round(cfg.data.batch_size / median, 1), "steps_timed": len(gaps)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=["clusterfit", "simclr", "jigsaw", "pirl"])
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides of every run (e.g. a larger model)")
    parser.add_argument("--out", type=Path, default=RESULTS / "benchmark_precision.json")
    args = parser.parse_args()
    record: dict[str, Any] = {**provenance(["python", "benchmarks/benchmark_precision.py", *sys.argv[1:]]), "cpu_has_fast_bf16": cpu_has_fast_bf16(), "rounds": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for recipe in args.recipes:
            runs: dict[str, list[dict[str, Any]]] = {"fp32": [], "bf16": []}
            for r in range(args.rounds):
                order = ("fp32", "bf16") if r % 2 == 0 else ("bf16", "fp32")
                for precision in order:
                    runs[precision].append(timed_run(recipe, precision, args.steps, args.warmup, Path(tmp) / str(r), args.set))
                    print(recipe, precision, runs[precision][-1], file=sys.stderr, flush=True)
            summary: dict[str, Any] = {"runs": runs}
            done = {p: [x["seconds_per_step"] for x in v if "seconds_per_step" in x] for p, v in runs.items()}
            if done["fp32"] and done["bf16"]:
                summary["bf16_speedup"] = round(statistics.median(done["fp32"]) / statistics.median(done["bf16"]), 2)
            record["rounds"][recipe] = summary
    text = json.dumps(record, indent=1) + "\n"
    atomic_write_text(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
