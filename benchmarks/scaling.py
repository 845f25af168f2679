"""Throughput of the default SimCLR recipe on 1 process vs 2 processes (DDP, DDP + ZeRO, FSDP2; gloo, CPU).

Same global batch (256: 1 x 256 or 2 x 128), Fashion-MNIST, ``train.max_steps`` steps; the
2-process run goes through ``ssl_train.launch`` (torch's elastic launcher). images/s = steps x
global batch / the training loop's own elapsed seconds (from the checkpoint's train state: data
loading and process start-up excluded). Prints JSON and writes benchmarks/results/scaling.json.

    hatch run python benchmarks/scaling.py [--steps 30]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fashion_mnist_knn import provenance  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
COMMON = ["train.epochs=1", "train.tensorboard=false", "monitor.knn_every_epochs=0", "train.checkpoint_every_steps=0"]


def _images_per_second(out: Path, global_batch: int) -> dict:
    from ssl_models import checkpoint as ckpt_format

    state = ckpt_format.load_checkpoint(out / "checkpoints" / "last.pt")["train_state"]
    return {"steps": state["step"], "seconds": state["elapsed_seconds"],
            "images_per_second": state["step"] * global_batch / state["elapsed_seconds"]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    from ssl_train.launch import launch
    from ssl_train.worker import worker_argv

    over = COMMON + [f"train.max_steps={args.steps}"]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "ssl_train.worker", "simclr", f"{tmp}/one", *over, "data.batch_size=256"], check=True)
        results["1_process"] = _images_per_second(Path(tmp) / "one", 256)
        for name, extra in (("2_processes_ddp_gloo", []), ("2_processes_ddp_zero_gloo", ["train.zero=true"]),
                            ("2_processes_fsdp_gloo", ["train.parallel=fsdp"])):  # fmt: skip
            launch(worker_argv("simclr", f"{tmp}/{name}", over + ["data.batch_size=128", *extra]), nproc_per_node=2)
            results[name] = _images_per_second(Path(tmp) / name, 256)
    base = results["1_process"]["images_per_second"]
    results["speedup"] = {k: v["images_per_second"] / base for k, v in list(results.items()) if k != "1_process"}
    out = {"benchmark": "scaling", "recipe": "simclr (defaults: ResNet-18 x0.25, 28 px, global batch 256)",
           "note": "2 CPU cores shared with other engineers working at the same time: numbers are noisy; "
                   "1 process uses both cores (torch threads), 2 processes one thread each",
           **provenance(["hatch", "run", "python", "benchmarks/scaling.py", f"--steps={args.steps}"]), "results": results}  # fmt: skip
    (ROOT / "benchmarks" / "results").mkdir(exist_ok=True)
    (ROOT / "benchmarks" / "results" / "scaling.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
