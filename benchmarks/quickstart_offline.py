"""The README's first command on a machine without Fashion-MNIST and without internet.

Runs ``ssl run`` (the Quick start's command, defaults only) inside new Linux mount and
network namespaces (``unshare -mn``, needs root): an empty tmpfs hides
``/usr/share/datasets`` (the Debian package's Fashion-MNIST) and ``~/.cache/ssl`` (the download
cache), and the network namespace has no interface, so the download attempt fails as it would
offline. The run must fall back to scikit-learn's digits, say so, and beat its random-init trunk
(the better of the two BatchNorm variants) on kNN. Prints JSON and writes
``benchmarks/results/quickstart_offline.json``::

    sudo hatch run python benchmarks/quickstart_offline.py
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fashion_mnist_knn import provenance  # noqa: E402
from ssl_models.atomic_files import atomic_write_text  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
HIDDEN = ("/usr/share/datasets", str(Path.home() / ".cache" / "ssl"))


def main() -> int:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        print("quickstart_offline: needs root and util-linux's unshare (new mount and network namespaces)", file=sys.stderr)
        return 2
    record = provenance(sys.argv)
    out = Path(tempfile.mkdtemp(prefix="ssl-quickstart-")) / "default"
    ssl = shlex.join([sys.executable, "-m", "ssl_cli", "run", "--out", str(out), "--no-progress"])
    hide = " && ".join(f"mkdir -p {shlex.quote(p)} && mount -t tmpfs none {shlex.quote(p)}" for p in HIDDEN)
    start = time.perf_counter()
    proc = subprocess.run(["unshare", "-mn", "sh", "-c", f"{hide} && exec {ssl}"], capture_output=True, text=True)
    minutes = (time.perf_counter() - start) / 60
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        return proc.returncode
    results = json.loads((out / "results.json").read_text())
    verdict = results["verdict"]
    lines = (proc.stdout + proc.stderr).splitlines()
    record.update(
        command_run="ssl run (inside unshare -mn, " + " and ".join(HIDDEN) + " hidden)", recipe=results["recipe"],
        minutes_end_to_end=round(minutes, 2),
        fallback_lines=[line for line in lines if "digits" in line and ("fall" in line or "not found" in line)],
        data=results["pretrain"].get("data"), steps=results["pretrain"].get("steps"),
        knn_pretrained=verdict["pretrained"], knn_random_init_reestimated_bn=results["random_init"]["knn"]["top1"],
        knn_random_init_initial_bn=results["random_init_initial_bn"]["knn"]["top1"],
        knn_gain_over_better_random_init=verdict["minus_random_init"], verdict_line=next(
            (line for line in (out / "report.md").read_text().splitlines() if line.startswith("**Verdict")), None),
    )  # fmt: skip
    atomic_write_text(ROOT / "benchmarks" / "results" / "quickstart_offline.json", json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
