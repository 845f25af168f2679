"""Peak memory of a streaming pretraining run over 1,000 and over 8,000 real PNGs.

Builds two folders of symbolic links into the Debian package ``openclipart-png`` (mixed sizes and
modes; the first 1,000 and the first 8,000 files in sorted order, same class folders), then runs
the same short SimCLR pretraining (``train.max_steps`` steps, batch 32, 64 px crops, 2 loader
workers) on each, every run in a fresh child process, order interleaved over ``--rounds``. Peak
RSS is the child's own ``ru_maxrss`` plus the largest of its loader workers' (``RUSAGE_CHILDREN``).
Prints JSON and writes benchmarks/results/streaming_rss.json.

    hatch run python benchmarks/streaming_rss.py [--steps 40] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fashion_mnist_knn import provenance  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CLIPART = Path("/usr/share/openclipart/png")

CHILD = """
import json, resource, sys, ssl_train
from ssl_train.recipes.simclr import SimCLRConfig
cfg = ssl_train.load_config(SimCLRConfig(), [f"data.source={sys.argv[2]}", "data.image_size=64", "data.batch_size=32",
    "data.num_workers=2", f"train.max_steps={sys.argv[3]}", "train.epochs=1", "train.tensorboard=false",
    "monitor.knn_every_epochs=0", "model.width_multiplier=0.25"])
r = ssl_train.pretrain("simclr", cfg, sys.argv[1], progress=False)
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"steps": r.steps, "images": r.train_images, "invalid": r.invalid_images, "minutes": r.minutes,
                  "peak_rss_mib_main": own, "peak_rss_mib_largest_worker": workers}))
"""


def clipart_folder(tmp: Path, count: int, files: list[Path] | None = None, name: str = "") -> Path:
    """``tmp/NAME/CLASS/NNNNN.png`` (``NAME`` default ``clipartCOUNT``): links to ``files`` (default:
    the first ``count`` openclipart PNGs, sorted), in their 22 category folders (one class tree)."""
    files = sorted(CLIPART.rglob("*.png"))[:count] if files is None else files
    root = tmp / (name or f"clipart{count}")
    for i, f in enumerate(files):
        target = root / f.relative_to(CLIPART).parts[0] / f"{i:05d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(f)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if not CLIPART.is_dir():
        raise SystemExit("streaming_rss: install the Debian package openclipart-png first")
    record = provenance(sys.argv)
    runs: dict[str, list[dict]] = {"1000": [], "8000": []}
    with tempfile.TemporaryDirectory() as tmp:
        folders = {n: clipart_folder(Path(tmp), int(n)) for n in runs}
        for r in range(args.rounds):
            for n in (("1000", "8000") if r % 2 == 0 else ("8000", "1000")):
                out = Path(tmp) / f"run{n}-{r}"
                proc = subprocess.run([sys.executable, "-c", CHILD, str(out), str(folders[n]), str(args.steps)],
                                      capture_output=True, text=True, env=dict(os.environ))  # fmt: skip
                if proc.returncode:
                    raise SystemExit(f"run on {n} images failed:\n{proc.stderr[-3000:]}")
                runs[n].append(json.loads(proc.stdout.strip().splitlines()[-1]))
                print(n, runs[n][-1], file=sys.stderr, flush=True)
    peak = {n: max(x["peak_rss_mib_main"] + x["peak_rss_mib_largest_worker"] for x in v) for n, v in runs.items()}
    record.update(steps=args.steps, runs=runs, peak_rss_mib=peak, ratio_8000_over_1000=peak["8000"] / peak["1000"])
    (ROOT / "benchmarks" / "results" / "streaming_rss.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
