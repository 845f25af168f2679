"""Peak memory of `ssl benchmark knn` and `ssl benchmark linear` on 1,000 and on 8,000 real PNGs.

The folders are built with ``streaming_rss.py``'s ``clipart_folder`` (symbolic links into the Debian
package ``openclipart-png``: 22 category folders, mixed sizes and modes; one class tree, so the
benchmark holds out its stratified 20 % as the test split):

- ``8000``: the first 8,000 files (sorted), as streaming_rss.py uses;
- ``1000-first``: the first 1,000 files (mostly one category, the largest 2.25 Mpixels);
- ``1000-sample``: every 8th of the 8,000 with the 8,000's largest decodable image swapped in, so
  that both runs decode the same largest image and only the number of images differs.

Images are decoded one at a time, so a run's peak includes its largest decoded image (the 8,000
hold a 4940 x 8240 RGBA PNG: 155 MiB decoded); ``1000-first`` vs ``8000`` shows that effect,
``1000-sample`` vs ``8000`` the effect of the image count alone. The checkpoint is a random-init
ResNet-18 trunk (width 1/4). Every run is a fresh child process that runs the `ssl` command's
entry point in-process; its peak is the child's own ``ru_maxrss`` (no loader workers:
``num_workers`` 0; the child's only subprocess is the ``ldconfig -p`` that cuda.pathfinder spawns
at import, recorded apart). Runs are interleaved over ``--rounds``; the last round also runs
each folder with ``MALLOC_MMAP_THRESHOLD_=1048576`` (glibc: allocations of 1 MiB and more always
mmapped and returned on free, instead of a threshold that rises with the largest block freed, so
image-sized blocks stay in the heap). Prints JSON and writes benchmarks/results/benchmark_rss.json.

    nice -n 19 hatch run python benchmarks/benchmark_rss.py [--rounds 2] [--image-size 64]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fashion_mnist_knn import provenance  # noqa: E402
from streaming_rss import CLIPART, clipart_folder  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("1000-first", "1000-sample", "8000")
BENCHMARKS = ("knn", "linear")
FIXED_MMAP = {"MALLOC_MMAP_THRESHOLD_": str(1 << 20)}

CHILD = """
import json, resource, sys, time
from ssl_cli.main import main
started = time.perf_counter()
try:
    main(sys.argv[1:])
except SystemExit as exc:
    if exc.code:
        raise
print(json.dumps({"seconds": round(time.perf_counter() - started, 1),
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "peak_rss_mib_children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def _checkpoint(path: Path) -> Path:
    import torch

    import ssl_models
    from ssl_models import checkpoint as ckpt

    torch.manual_seed(0)
    trunk = ssl_models.build_trunk("resnet18", width_multiplier=0.25)
    return ckpt.save_checkpoint(ckpt.model_payload(trunk), path)


def _largest_decodable(files: list[Path]) -> tuple[Path, int]:
    """The file with the most pixels that ssl-data decodes (at most ``PIL.Image.MAX_IMAGE_PIXELS``)."""
    from PIL import Image

    best, pixels = files[0], 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for f in files:
            try:
                with Image.open(f) as im:
                    n = im.size[0] * im.size[1]
            except Exception:  # noqa: BLE001 - refused bombs and broken files are not decoded at all
                continue
            if pixels < n <= (Image.MAX_IMAGE_PIXELS or n):
                best, pixels = f, n
    return best, pixels


def _folders(tmp: Path) -> tuple[dict[str, Path], dict[str, object]]:
    files = sorted(CLIPART.rglob("*.png"))[:8000]
    largest, pixels = _largest_decodable(files)
    sample = files[::8]
    if largest not in sample:
        sample[files.index(largest) // 8] = largest  # replaces its neighbour in the same stretch of files
    folders = {"8000": clipart_folder(tmp, 8000), "1000-first": clipart_folder(tmp, 1000, name="first1000"),
               "1000-sample": clipart_folder(tmp, len(sample), files=sample, name="sample1000")}
    return folders, {"largest_decodable_image": str(largest.relative_to(CLIPART)), "largest_pixels": pixels}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--linear-epochs", type=int, default=10)
    args = parser.parse_args()
    if not CLIPART.is_dir():
        raise SystemExit("benchmark_rss: install the Debian package openclipart-png first")
    record = provenance(sys.argv)
    runs: dict[str, dict[str, list[dict]]] = {b: {k: [] for f in FOLDERS for k in (f, f"{f} mmap1m")} for b in BENCHMARKS}
    with tempfile.TemporaryDirectory() as tmp:
        folders, about = _folders(Path(tmp))
        checkpoint = _checkpoint(Path(tmp) / "random_init.pt")
        plan = [(r, bench, name, {}) for r in range(args.rounds) for bench in BENCHMARKS
                for name in (FOLDERS if r % 2 == 0 else tuple(reversed(FOLDERS)))]
        plan += [(args.rounds, bench, name, FIXED_MMAP) for bench in BENCHMARKS for name in FOLDERS]
        for r, bench, name, env in plan:
            out = Path(tmp) / f"{bench}-{name}-{r}"
            argv = ["benchmark", bench, "-c", str(checkpoint), "--data", str(folders[name]), "--out", str(out),
                    "--no-progress", f"extraction.image_size={args.image_size}", "extraction.batch_size=256"]
            if bench == "linear":
                argv.append(f"linear.epochs={args.linear_epochs}")
            proc = subprocess.run([sys.executable, "-c", CHILD, *argv], capture_output=True, text=True,
                                  env={**os.environ, **env})  # fmt: skip
            if proc.returncode:
                raise SystemExit(f"{bench} on {name} failed:\n{proc.stderr[-3000:]}")
            run = json.loads(proc.stdout.strip().splitlines()[-1])
            results = json.loads((out / "results.json").read_text())
            data = results["data"]
            run.update(train_images=data["train_images"], test_images=data["test_images"],
                       invalid_images=sum(v["count"] for v in data["invalid_images"].values()),
                       metrics=results["benchmarks"][bench])
            key = f"{name} mmap1m" if env else name
            runs[bench][key].append(run)
            print(bench, key, run, file=sys.stderr, flush=True)
    peak = {b: {f: max(x["peak_rss_mib"] for x in v) for f, v in per.items()} for b, per in runs.items()}
    record.update(
        image_size=args.image_size, linear_epochs=args.linear_epochs, trunk="resnet18 width 1/4, random init",
        folders=about, runs=runs, peak_rss_mib=peak,
        ratio_8000_over_1000_sample={b: p["8000"] / p["1000-sample"] for b, p in peak.items()},
        ratio_8000_over_1000_first={b: p["8000"] / p["1000-first"] for b, p in peak.items()},
        ratio_8000_over_1000_sample_mmap1m={b: p["8000 mmap1m"] / p["1000-sample mmap1m"] for b, p in peak.items()},
        ratio_8000_over_1000_first_mmap1m={b: p["8000 mmap1m"] / p["1000-first mmap1m"] for b, p in peak.items()},
    )
    (ROOT / "benchmarks" / "results" / "benchmark_rss.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
