"""Every recipe under one pretraining budget, on one data set, against its own random init.

For each recipe of ``ssl_train.list_recipes()`` (or ``--recipes``): a short timing run measures
seconds per step and the fixed start-up cost (data, epoch-start passes such as DeepClusterV2's
memory fill or ClusterFit's stage 1), the step budget is ``(minutes * 60 - start-up) / seconds
per step`` (``train.max_steps``, so schedules span the budget), then the recipe pretrains with
its own defaults on Fashion-MNIST (Colorization on its colour default, the openclipart-png
folder) and ``ssl_evaluation.suites.probe_trunk`` measures kNN top-1 (k=200, T=0.1) and
linear-probe top-1 on the test images, for the pretrained trunk (the model the recipe exports:
DINO's teacher) and for the same architecture at random init, kNN with its initial BatchNorm
statistics and with them re-estimated (a random trunk's kNN depends strongly on them; "beats
random init" compares with the better). The random-init probes are measured once per data set,
seed and architecture and shared by the recipes that use it. A recipe with a ``probe_layer``
(Jigsaw: chosen on held-out training images with ``recipe_validation.py --layers``) is probed on
that layer, globally pooled, and compared with the random-init trunk's same layer; the table's
"features" column says which. No hyper-parameter is chosen here: every recipe
runs its documented defaults. ClusterFit clusters its default hand-made features (gradient
histograms + pixels, ``clusterfit.features``), or with ``--clusterfit-from RECIPE`` the features
of that recipe's checkpoint, trained first.

Writes ``benchmarks/results/methods_table.json`` and ``.md`` (``--out``), with the command,
commit and machine. The full table takes hours on 2 CPU cores::

    hatch run python benchmarks/methods_table.py --minutes 10
    hatch run python benchmarks/methods_table.py --recipes rotnet npid --minutes 1 --out benchmarks/results/methods_table_smoke
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


sys.path.insert(0, str(Path(__file__).resolve().parent))
from fashion_mnist_knn import provenance  # noqa: E402

import ssl_train  # noqa: E402
from ssl_evaluation.suites.checkpoint_trunk import random_init_trunk  # noqa: E402
from ssl_evaluation.suites.pooled_layer import layer_or_trunk  # noqa: E402
from ssl_evaluation.suites.probes import open_probe_data, probe_trunk  # noqa: E402
from ssl_evaluation.suites.protocols import ProbeSuite  # noqa: E402
from ssl_evaluation.suites.random_init_probes import random_init_probes  # noqa: E402
from ssl_models import checkpoint as ckpt_format  # noqa: E402
from ssl_models.atomic_files import atomic_write_text  # noqa: E402
from ssl_train.hooks import Hook  # noqa: E402

TIMING_STEPS = 6
COMMON = ["monitor.knn_every_epochs=0", "train.tensorboard=false"]
SUITE = ProbeSuite()  # kNN k=200, T=0.1; linear probe; BatchNorm re-estimation on 20 batches
#: random-init probes by (data, size, seed, architecture): recipes that share a trunk share them
_RANDOM_INIT: dict[str, dict[str, Any]] = {}


class StepClock(Hook):
    """Wall-clock time at the start of the run and at the end of every step."""

    def __init__(self) -> None:
        self.start = 0.0
        self.ends: list[float] = []

    def on_start(self, run: Any) -> None:
        self.start = time.perf_counter()

    def on_step_end(self, run: Any, metrics: dict[str, float]) -> None:
        self.ends.append(time.perf_counter())


def budget_steps(name: str, overrides: list[str], minutes: float, work: Path) -> tuple[int, dict[str, float]]:
    """Steps that fit ``minutes`` from a ``TIMING_STEPS``-step run: (steps, timing record)."""
    recipe = ssl_train.get_recipe(name)
    cfg = ssl_train.load_config(recipe.config_class(), overrides + [f"train.max_steps={TIMING_STEPS}"])
    clock = StepClock()
    began = time.perf_counter()
    ssl_train.pretrain(name, cfg, work / f"timing-{name}", progress=False, hooks=[clock])
    per_step = (clock.ends[-1] - clock.ends[0]) / (len(clock.ends) - 1)
    startup = (clock.ends[0] - per_step) - began
    steps = max(1, int((minutes * 60 - startup) / per_step))
    return steps, {"seconds_per_step": round(per_step, 4), "startup_seconds": round(startup, 2)}


def run_recipe(name: str, minutes: float, out: Path, work: Path, extra: list[str]) -> dict[str, Any]:
    recipe = ssl_train.get_recipe(name)
    overrides = COMMON + extra
    steps, timing = budget_steps(name, overrides, minutes, work)
    cfg = ssl_train.load_config(recipe.config_class(), overrides + [f"train.max_steps={steps}"])
    run_dir = out / name
    result = ssl_train.pretrain(name, cfg, run_dir, progress=False)
    size = cfg.data.image_size
    steps_per_epoch = max(1, result.train_images // cfg.data.batch_size)

    record = {"minutes": round(result.minutes, 2), "steps": result.steps, "final_loss": result.final_loss,
              "epochs": round(result.steps / steps_per_epoch, 2),
              "images_per_second": round(result.images_per_second, 1), "timing": timing}  # fmt: skip
    began = time.perf_counter()
    entry = ckpt_format.load_checkpoint(result.checkpoint)["trunk"]
    train, test = open_probe_data(cfg.data.source, size, SUITE)
    layer = recipe.probe_layer
    pretrained = probe_trunk(layer_or_trunk(result.trunk, layer), train, test, SUITE, ("knn", "linear"))
    key = json.dumps([cfg.data.source, size, cfg.train.seed, entry["name"], entry["kwargs"], layer], sort_keys=True, default=str)
    if key not in _RANDOM_INIT:  # same data, size, seed, architecture and layer: measured once
        _RANDOM_INIT[key] = random_init_probes(layer_or_trunk(random_init_trunk(result.checkpoint, cfg.train.seed), layer), train, test, SUITE)
    baseline = _RANDOM_INIT[key]
    best = max(baseline["initial_bn"]["knn"]["top1"], baseline["reestimated"]["knn"]["top1"])
    return {
        "recipe": name, "data": result.data_description, "overrides": extra, **record,
        "trunk": {"name": entry["name"], "kwargs": entry["kwargs"]}, "features": f"{layer} (pooled)" if layer else "pooled output",
        "knn_top1": pretrained["knn"]["top1"], "linear_top1": pretrained["linear"]["top1"],
        "random_init_knn_top1": baseline["reestimated"]["knn"]["top1"],
        "random_init_initial_bn_knn_top1": baseline["initial_bn"]["knn"]["top1"],
        "best_random_init_knn_top1": best,
        "random_init_linear_top1": baseline["reestimated"]["linear"]["top1"],
        "eval_minutes": round((time.perf_counter() - began) / 60, 2),
    }  # fmt: skip


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any], smoke: bool) -> str:
    title = " (SMOKE RUN: a proof that the script works, not a comparison)" if smoke else ""
    if meta.get("partial"):
        title += f" (partial: {', '.join(meta['partial'])}; the other rows are in the full table)"
    lines = [f"# Methods table{title}", "",
             f"Command: `{meta['command']}`  ", f"Commit: `{meta['commit']}`  ",
             f"Machine: {meta['machine']['cpu']}, {meta['machine']['cores']} cores, torch {meta['machine']['torch']}, "
             f"load average at start {tuple(round(x, 2) for x in meta['machine']['load_average_at_start'])}  ",
             f"Date: {meta['date']}; budget {meta['minutes']} min of pretraining per recipe", "",
             "| method | data | features | epochs | minutes | images/s | kNN top-1 | linear top-1 | random-init kNN (initial BN / re-estimated) | random-init linear | beats random init (kNN) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['recipe']} | | | | | | failed: {r['error']} | | | | |")
            continue
        beats = "yes" if r["knn_top1"] > r["best_random_init_knn_top1"] else "**no**"
        lines.append(f"| {r['recipe']} | {r['data'].split(' (')[0]} | {r.get('features', 'pooled output')} | {r['epochs']} | {r['minutes']} | {r['images_per_second']} | "
                     f"{r['knn_top1']:.2f} | {r['linear_top1']:.2f} | {r['random_init_initial_bn_knn_top1']:.2f} / {r['random_init_knn_top1']:.2f} | "
                     f"{r['random_init_linear_top1']:.2f} | {beats} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="pretraining budget per recipe")
    parser.add_argument("--recipes", nargs="*", default=None, help="default: every recipe")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/methods_table"), help="results stem (.json, .md)")
    parser.add_argument("--clusterfit-from", default="features", help="features (the recipe's default: hand-made features, no checkpoint), or the recipe whose checkpoint ClusterFit clusters (trained first)")
    args = parser.parse_args(argv)
    names = args.recipes or ssl_train.list_recipes()
    unknown = [n for n in names if n not in ssl_train.list_recipes()]
    if unknown or args.minutes <= 0:
        print(f"methods_table: error: unknown recipe(s) {unknown} or --minutes <= 0", file=sys.stderr)
        return 2
    if "clusterfit" in names and args.clusterfit_from in names:  # the checkpoint ClusterFit needs comes first
        names = [args.clusterfit_from] + [n for n in names if n != args.clusterfit_from]
    meta = {**provenance(["python", "benchmarks/methods_table.py", *(argv if argv is not None else sys.argv[1:])]),
            "minutes": args.minutes, "smoke": args.minutes < 2, "partial": list(args.recipes or [])}  # fmt: skip
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as work:
        runs = Path(work) / "runs"  # checkpoints and per-run reports stay out of the repository
        for name in names:
            extra: list[str] = []
            if name == "clusterfit" and args.clusterfit_from != "features":
                extra = [f"clusterfit.checkpoint={runs / args.clusterfit_from / 'checkpoints' / 'final.pt'}"]
            print(f"methods_table: {name} ({args.minutes} min budget)", file=sys.stderr, flush=True)
            try:
                rows.append(run_recipe(name, args.minutes, runs, Path(work), extra))
            except (ssl_train.ConfigError, ssl_train.TrainingDivergedError, ValueError) as exc:
                rows.append({"recipe": name, "error": str(exc).splitlines()[0]})
            payload = {**meta, "rows": rows}
            atomic_write_text(args.out.with_suffix(".json"), json.dumps(payload, indent=2) + "\n")
            atomic_write_text(args.out.with_suffix(".md"), markdown(rows, meta, meta["smoke"]))
    print(markdown(rows, meta, meta["smoke"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
