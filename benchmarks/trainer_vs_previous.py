"""The default ``ssl run simclr`` pretraining with the new trainer against the previous trainer
(commit ad0e0fc: whole split in RAM, one recipe, one process), interleaved, same machine.

Each round runs both trainers (order alternating) as child processes on the same recipe values
(ResNet-18 at width 0.25, 28 px, batch 256, two views, 8 epochs, Fashion-MNIST), then measures
kNN top-1 (k=200, T=0.1) of each final trunk on the 10,000 test images. Prints JSON and writes
benchmarks/results/trainer_vs_previous.json.

    hatch run python benchmarks/trainer_vs_previous.py [--epochs 8] [--rounds 1] [--limit N] [--no-knn]

``--limit N`` trains on a seeded subset of N images (both trainers read ``data.limit``) to compare
step times quickly; ``--no-knn`` skips the kNN evaluation (meaningless after such a short run).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ssl_models

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fashion_mnist_knn import knn_of_trunk, provenance  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PREVIOUS = "ad0e0fc"

NEW = """
import json, sys, ssl_train
from ssl_train.recipes.simclr import SimCLRConfig
cfg = ssl_train.load_config(SimCLRConfig(), [f"train.epochs={sys.argv[2]}", f"data.limit={sys.argv[3]}", "train.tensorboard=false", "monitor.knn_every_epochs=0"])
r = ssl_train.pretrain("simclr", cfg, sys.argv[1], progress=False)
print(json.dumps({"steps": r.steps, "train_minutes": r.minutes, "final_loss": r.final_loss, "precision": r.precision}))
"""
OLD = """
import json, sys, ssl_train
from ssl_train.recipes.simclr import SimCLRConfig
cfg = ssl_train.load_config(SimCLRConfig(), [f"train.epochs={sys.argv[2]}", f"data.limit={sys.argv[3]}", "train.tensorboard=false"])
r = ssl_train.pretrain("simclr", cfg, sys.argv[1], progress=False)
print(json.dumps({"steps": r.steps, "train_minutes": r.minutes, "final_loss": r.final_loss, "precision": "fp32"}))
"""


def _previous_tree() -> Path:
    tree = Path(tempfile.gettempdir()) / f"ssl-previous-{PREVIOUS}"
    if not tree.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), PREVIOUS], cwd=ROOT, check=True, capture_output=True)
    return tree


def _run(kind: str, out: Path, epochs: int, limit: int, knn: bool) -> dict:
    env = dict(os.environ)
    if kind == "previous":
        tree = _previous_tree()
        env["PYTHONPATH"] = os.pathsep.join(str(tree / "packages" / p / "src") for p in ("ssl-train", "ssl-data", "ssl-models", "ssl-losses"))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", NEW if kind == "new" else OLD, str(out), str(epochs), str(limit)],
                          env=env, capture_output=True, text=True)  # fmt: skip
    if proc.returncode:
        raise SystemExit(f"{kind} trainer failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_seconds"] = time.perf_counter() - start
    if knn:
        result["knn"] = knn_of_trunk(ssl_models.trunk_from_checkpoint(ssl_models.load_checkpoint(out / "checkpoints" / "final.pt")))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--no-knn", action="store_true")
    args = parser.parse_args()
    record = provenance(sys.argv)
    runs: dict[str, list[dict]] = {"new": [], "previous": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = ("new", "previous") if r % 2 == 0 else ("previous", "new")
            for kind in order:
                runs[kind].append(_run(kind, Path(tmp) / f"{kind}{r}", args.epochs, args.limit, not args.no_knn))
                print(kind, json.dumps(runs[kind][-1]), file=sys.stderr, flush=True)
    per_step = {k: sum(x["train_minutes"] * 60 / x["steps"] for x in v) / len(v) for k, v in runs.items()}
    record.update(epochs=args.epochs, limit=args.limit, runs=runs, seconds_per_step=per_step,
                  step_time_ratio_new_over_previous=per_step["new"] / per_step["previous"])  # fmt: skip
    out = ROOT / "benchmarks" / "results" / "trainer_vs_previous.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
