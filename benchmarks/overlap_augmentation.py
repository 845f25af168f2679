"""Training speed with and without ``train.overlap_augmentation``, interleaved on one machine.

SimCLR and DINO with their default recipes (Fashion-MNIST in memory, batch 256) train
``--warmup + --steps`` steps through ``ssl_train.pretrain`` with the next batch's views computed
on a side thread (``on``) and on the main thread between steps (``off``). The two take turns
(on, off, off, on, ... for ``--rounds`` rounds); per round the median time of the timed steps and
the process's CPU use over them (user + system CPU seconds per wall second: 200 % fills two
cores) are recorded. Prints JSON and writes it atomically with the command, commit, machine and
load average (default benchmarks/results/overlap_augmentation.json).

    hatch run python benchmarks/overlap_augmentation.py [--steps 20] [--warmup 3] [--rounds 4]

A smoke run (seconds, not a measurement): ``--steps 2 --warmup 1 --rounds 2 --set data.batch_size=32
--out /tmp/overlap_smoke.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

import ssl_train
from ssl_models.atomic_files import atomic_write_text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fashion_mnist_knn import provenance  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("simclr", "dino")


class _Stamps(ssl_train.hooks.Hook):
    """Wall time and process CPU time at the end of every step."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def on_step_end(self, run, metrics) -> None:
        times = os.times()
        self.wall.append(time.perf_counter())
        self.cpu.append(times.user + times.system)


def _run(method: str, overlap: bool, steps: int, warmup: int, extra: list[str], out: Path) -> dict[str, float]:
    recipe = ssl_train.get_recipe(method)
    cfg = ssl_train.load_config(recipe.config_class(), [
        f"train.max_steps={warmup + steps + 1}", "train.tensorboard=false", "monitor.knn_every_epochs=0",
        f"train.overlap_augmentation={str(overlap).lower()}", *extra,
    ])  # fmt: skip
    stamps = _Stamps()
    ssl_train.pretrain(method, cfg, out, progress=False, hooks=[stamps])
    wall, cpu = stamps.wall[warmup:], stamps.cpu[warmup:]
    per_step = [b - a for a, b in zip(wall, wall[1:])]
    return {"seconds_per_step": statistics.median(per_step), "cpu_percent": 100.0 * (cpu[-1] - cpu[0]) / (wall[-1] - wall[0])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--rounds", type=int, default=4, help="runs of each setting, interleaved")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override for every run")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "overlap_augmentation.json")
    args = parser.parse_args()
    if args.steps < 2 or args.warmup < 0 or args.rounds < 1:
        parser.error("--steps must be >= 2, --warmup >= 0 and --rounds >= 1")
    record = provenance(sys.argv)
    rounds: dict[str, dict[str, list[dict[str, float]]]] = {m: {"on": [], "off": []} for m in args.methods}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for method in args.methods:
                order = ("on", "off") if r % 2 == 0 else ("off", "on")
                for setting in order:
                    result = _run(method, setting == "on", args.steps, args.warmup, args.set, Path(tmp) / f"{method}-{setting}-{r}")
                    rounds[method][setting].append(result)
                    print(method, setting, {k: round(v, 4) for k, v in result.items()}, file=sys.stderr, flush=True)
    summary = {}
    for method, by in rounds.items():
        step = {s: statistics.median(x["seconds_per_step"] for x in runs) for s, runs in by.items()}
        cpu = {s: statistics.median(x["cpu_percent"] for x in runs) for s, runs in by.items()}
        summary[method] = {
            "seconds_per_step": step, "cpu_percent": cpu, "speedup_on_over_off": step["off"] / step["on"],
            "rounds": by,
        }  # fmt: skip
    record.update(threads=torch.get_num_threads(), steps=args.steps, warmup=args.warmup, rounds=args.rounds, overrides=args.set, results=summary)
    atomic_write_text(args.out, json.dumps(record, indent=2) + "\n")
    print(json.dumps({m: {k: v for k, v in s.items() if k != "rounds"} for m, s in summary.items()}, indent=2))


if __name__ == "__main__":
    main()
