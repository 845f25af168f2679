"""kill -9 inside checkpoint writes of a real `ssl pretrain simclr`, then `--resume`: bit-identical?

A tiny SimCLR run (digits, 16 px, ResNet-18 at width 1/4, ``train.max_steps`` steps, a checkpoint
after every step: about 5.7 MB written and fsynced per step) runs first uninterrupted, while this
script watches its checkpoint folder and times how long each ``.last.pt.*.tmp`` file exists. Then
the same command runs again and is killed with SIGKILL ``--kills`` times, each time resumed with
``--resume``. The moment of each kill is drawn from a seeded random generator: the attempt lets
0 to 3 of its checkpoint writes through, then, in the next one, the kill comes when the temporary
file holds a random fraction (uniform in [0, 1)) of the uninterrupted run's checkpoint size, so
kills fall anywhere from the first bytes to the fsync and the rename. A kill landed inside a write
when that write's temporary file is still there afterwards (nothing else removes it before the
next start). After the last kill the run is resumed to its end and compared with the
uninterrupted run: every tensor and value of ``last.pt`` (weights, buffers, optimizer, loss
history, loader and random states; not the wall-clock ``elapsed_seconds``) and of ``final.pt``,
bit for bit; no ``*.tmp`` may remain in the run folder.

Prints JSON and writes benchmarks/results/kill_during_checkpoint.json.

    hatch run python benchmarks/kill_during_checkpoint.py [--kills 10] [--seed 0] [--max-steps 60]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fashion_mnist_knn import provenance  # noqa: E402

import torch  # noqa: E402

from ssl_models import checkpoint as ckpt_format  # noqa: E402
from ssl_models.atomic_files import atomic_write_text  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "benchmarks" / "results" / "kill_during_checkpoint.json"
OVERRIDES = [
    "data.image_size=16", "data.batch_size=32", "data.limit=160", "data.num_workers=0", "model.width_multiplier=0.25",
    "model.head_hidden_dim=32", "model.projection_dim=16", "train.tensorboard=false", "schedule.warmup_epochs=0.5",
    "monitor.knn_every_epochs=0", "train.checkpoint_every_steps=1",
]  # fmt: skip
TEMP = re.compile(r"^\.last\.pt\.[0-9a-f]+\.tmp$")  # ssl_models.atomic_files' temporary name for last.pt
POLL_SECONDS = 0.0005


def _command(out: Path, max_steps: int, resume: bool) -> list[str]:
    return [sys.executable, "-m", "ssl_cli", "pretrain", "simclr", "--data", "digits", "--out", str(out),
            "--no-progress", *(["--resume"] if resume else []), *OVERRIDES, f"train.max_steps={max_steps}"]  # fmt: skip


def _start(out: Path, max_steps: int, resume: bool, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as err:
        return subprocess.Popen(_command(out, max_steps, resume), stdout=subprocess.DEVNULL, stderr=err,
                                env=dict(os.environ, PYTHONHASHSEED="0"))  # fmt: skip


def _temps(folder: Path) -> set[str]:
    try:
        return {entry.name for entry in os.scandir(folder) if TEMP.match(entry.name)}
    except FileNotFoundError:
        return set()


def _failed(proc: subprocess.Popen[bytes], log: Path, what: str) -> SystemExit:
    return SystemExit(f"{what} (exit {proc.returncode}):\n{log.read_text(errors='replace')[-3000:]}")


def uninterrupted(out: Path, max_steps: int, log: Path) -> list[float]:
    """Run to the end, timing each checkpoint write (how long its temporary file is seen), in ms."""
    folder = out / "checkpoints"
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    proc = _start(out, max_steps, False, log)
    while proc.poll() is None:
        now = time.perf_counter()
        for name in _temps(folder):
            first.setdefault(name, now)
            last[name] = now
        time.sleep(POLL_SECONDS)
    if proc.returncode:
        raise _failed(proc, log, "the uninterrupted run failed")
    return [1000 * (last[n] - first[n]) for n in first]


def kill_in_a_write(out: Path, max_steps: int, resume: bool, rng: random.Random, size: int,
                    log: Path) -> dict[str, Any]:  # fmt: skip
    """Start (or resume) the run and SIGKILL it inside a checkpoint write of about ``size`` bytes."""
    folder = out / "checkpoints"
    skip, fraction = rng.randrange(4), rng.random()
    leftovers = _temps(folder)  # of the previous kill: the new process removes them when it starts
    proc = _start(out, max_steps, resume, log)
    seen: list[str] = []
    while len(seen) <= skip:
        if proc.poll() is not None:
            raise _failed(proc, log, f"the run ended before the kill (writes seen: {len(seen)}); raise --max-steps")
        seen += sorted(_temps(folder) - leftovers - set(seen))
        time.sleep(POLL_SECONDS)
    written = 0
    while written < fraction * size:
        try:
            written = (folder / seen[skip]).stat().st_size
        except FileNotFoundError:  # renamed into place before the fraction was seen
            break
        time.sleep(POLL_SECONDS)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    left = _temps(folder)
    payload = ckpt_format.load_checkpoint(folder / "last.pt")  # the previous checkpoint is whole
    return {"writes_let_through": skip, "kill_at_fraction": round(fraction, 3), "bytes_seen_before_kill": written,
            "landed_in_write": seen[skip] in left, "temp_files_after_kill": len(left), "last_pt_loadable": True,
            "last_pt_step": int(payload["train_state"]["step"])}  # fmt: skip


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Paths where two checkpoint payloads differ (tensors bit for bit: dtype, shape, values)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        same = isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
        return [] if same else [path]
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path} (keys)"]
        return [d for k in a if k != "elapsed_seconds" for d in differences(a[k], b[k], f"{path}/{k}")]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{path} (length)"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if (a == b and type(a) is type(b)) else [path]


def compare(straight: Path, killed: Path) -> dict[str, list[str]]:
    """Differences of last.pt and final.pt between the two run folders (empty lists: identical)."""
    return {name: differences(ckpt_format.load_checkpoint(straight / "checkpoints" / name),
                              ckpt_format.load_checkpoint(killed / "checkpoints" / name))
            for name in ("last.pt", "final.pt")}  # fmt: skip


def run(kills: int, seed: int, max_steps: int, work: Path) -> dict[str, Any]:
    """The whole experiment in ``work``; the record (without provenance)."""
    started = time.perf_counter()
    log = work / "stderr.log"
    writes = uninterrupted(work / "straight", max_steps, log)
    size = (work / "straight" / "checkpoints" / "last.pt").stat().st_size
    rng = random.Random(seed)
    killed = work / "killed"
    attempts = []
    for attempt in range(kills):
        attempts.append(kill_in_a_write(killed, max_steps, attempt > 0, rng, size, log))
        print(json.dumps({"kill": attempt + 1, **attempts[-1]}), file=sys.stderr, flush=True)
    proc = _start(killed, max_steps, True, log)
    if proc.wait():
        raise _failed(proc, log, "the resumed run failed")
    diff = compare(work / "straight", killed)
    temps = sorted(str(p.relative_to(killed)) for p in killed.rglob("*.tmp"))
    final_step = int(ckpt_format.load_checkpoint(killed / "checkpoints" / "last.pt")["train_state"]["step"])
    return {
        "recipe": "simclr", "data": "digits", "overrides": OVERRIDES + [f"train.max_steps={max_steps}"], "seed": seed,
        "checkpoint_bytes": size,
        "uninterrupted_writes_seen": len(writes),
        "write_ms_median": round(statistics.median(writes), 2), "write_ms_max": round(max(writes), 2),
        "kills": attempts, "kills_total": len(attempts),
        "kills_in_write": sum(a["landed_in_write"] for a in attempts),
        "last_pt_loadable_after_every_kill": all(a["last_pt_loadable"] for a in attempts),
        "final_step": final_step, "bit_identical": not any(diff.values()), "differences": diff,
        "temp_files_left_at_end": temps, "seconds": round(time.perf_counter() - started, 1),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-steps", type=int, default=60)
    parser.add_argument("--no-save", action="store_true", help="print only; do not write the result file")
    args = parser.parse_args()
    record = provenance(sys.argv)
    with tempfile.TemporaryDirectory() as tmp:
        record.update(run(args.kills, args.seed, args.max_steps, Path(tmp)))
    if not args.no_save:
        atomic_write_text(RESULT, json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    if not record["bit_identical"] or record["temp_files_left_at_end"]:
        raise SystemExit("kill_during_checkpoint: the resumed run differs or left temporary files")


if __name__ == "__main__":
    main()
