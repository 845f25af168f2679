"""The README's first command with its defaults, recorded with provenance.

Runs ``ssl run [RECIPE]`` (no recipe: the Quick start's plain ``ssl run``; no overrides) into a
temporary folder and writes ``benchmarks/results/ssl_run_<recipe>_default.json``: the command, commit,
machine and load average, the end-to-end minutes, and the run's whole ``results.json`` (kNN and
linear probe of the pretrained trunk, both random-init variants, the pixel baselines, the
verdict, the online-kNN history). ``--from-run DIR --commit SHA`` records a run already made with
the same command (the commit it ran at is then given, not read from the tree)::

    hatch run python benchmarks/ssl_run_default.py            # the plain `ssl run`
    hatch run python benchmarks/ssl_run_default.py simclr
    hatch run python benchmarks/ssl_run_default.py simclr --from-run runs/simclr --commit a56d9ea
    hatch run python benchmarks/ssl_run_default.py --output ssl_run_clusterfit_default_amx.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fashion_mnist_knn import provenance  # noqa: E402
from ssl_models.atomic_files import atomic_write_text  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", nargs="?", default=None, help="default: none, as in the plain `ssl run`")
    parser.add_argument("--from-run", type=Path, default=None, help="a finished `ssl run RECIPE --out DIR` folder")
    parser.add_argument("--commit", default=None, help="with --from-run: the commit the run was made at")
    parser.add_argument("--output", default=None,
                        help="file name under benchmarks/results/ (default ssl_run_<recipe>_default.json), e.g. "
                             "to keep another machine's record beside this one")  # fmt: skip
    args = parser.parse_args()
    record = provenance(sys.argv)
    named = [args.recipe] if args.recipe else []
    command = ["ssl", "run", *named, "--out", "DIR", "--no-progress"]
    if args.from_run is not None:
        out = args.from_run
        record["commit"] = args.commit or "unknown (recorded from a finished run)"
        record["recorded_from_run"] = str(out)
        minutes = None
    else:
        out = Path(tempfile.mkdtemp(prefix="ssl-run-")) / (args.recipe or "default")
        start = time.perf_counter()
        cli = [sys.executable, "-m", "ssl_cli", "run", *named, "--out", str(out), "--no-progress"]
        proc = subprocess.run(cli, capture_output=True, text=True)
        minutes = (time.perf_counter() - start) / 60
        if proc.returncode != 0:
            print(proc.stderr[-2000:], file=sys.stderr)
            return proc.returncode
        record["log"] = proc.stderr.splitlines()[:4] + proc.stdout.splitlines()[-3:]
    results = json.loads((out / "results.json").read_text())
    record.update(command_run=" ".join(command), minutes_end_to_end=minutes or results.get("total_minutes"),
                  verdict=results["verdict"], results=results)  # fmt: skip
    path = ROOT / "benchmarks" / "results" / (args.output or f"ssl_run_{results['recipe']}_default.json")
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")
    print(json.dumps({k: v for k, v in record.items() if k != "results"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
