"""A recipe's defaults (or a change to them) judged on held-out TRAINING images, never the test split.

Trains ``RECIPE`` for ``--steps`` steps (``train.max_steps``: the schedules span the trial, as in
``methods_table.py``) with its defaults plus the given ``key=value`` overrides, then measures kNN
top-1 (k=200, T=0.1, ``ssl_evaluation.suites.ProbeSuite``'s defaults) of the exported trunk with a
memory of ``--memory`` labelled training images and ``--queries`` other training images as the
queries (both class-balanced and seeded, disjoint: ``ssl_data.sources.data_limit_indices`` with a
skip). The same architecture at random init, built with the run's seed, is measured on the same
images with its initial BatchNorm statistics and with them re-estimated
(``ssl_evaluation.suites.random_init_probes``, as in ``methods_table.py``); "beats" compares with
the better one. Compare trials at the SAME number of steps.

``--layers res2 res3 ...`` also measures those trunk layers, globally average-pooled
(``ssl_evaluation.suites.PooledLayer``), for the trained trunk and for the random-init trunk at
the same layer (both BatchNorm variants): how a recipe's ``probe_layer`` is chosen, on these
held-out images.

``--reestimate-bn`` (a diagnostic, not the verdict) also measures the trained trunk after
re-estimating its BatchNorm statistics on the memory images, as the random-init baseline's second
variant is: a recipe that trains on other inputs than whole images (Jigsaw's tiles) keeps those
inputs' statistics, and this separates their mismatch from the features themselves.

Each trial is appended to ``benchmarks/results/recipe_validation_<recipe>.json`` (written
atomically) with its command, commit, machine and date; a random-init measurement already in the
file for the same data, seed, architecture and images is reused::

    hatch run python benchmarks/recipe_validation.py npid --steps 300
    hatch run python benchmarks/recipe_validation.py npid --steps 300 loss.momentum=0.0
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fashion_mnist_knn import provenance  # noqa: E402

import ssl_train  # noqa: E402
from ssl_data.sources import data_limit_indices  # noqa: E402
from ssl_evaluation.suites.batchnorm import reestimate_batchnorm  # noqa: E402
from ssl_evaluation.suites.benchmark_data import BenchmarkSplit, feature_batches, open_split  # noqa: E402
from ssl_evaluation.suites.checkpoint_trunk import random_init_trunk  # noqa: E402
from ssl_evaluation.suites.pooled_layer import PooledLayer  # noqa: E402
from ssl_evaluation.suites.probes import probe_trunk  # noqa: E402
from ssl_evaluation.suites.protocols import ProbeSuite  # noqa: E402
from ssl_evaluation.suites.random_init_probes import random_init_probes  # noqa: E402
from ssl_models import checkpoint as ckpt_format  # noqa: E402
from ssl_models.atomic_files import atomic_write_text  # noqa: E402
from torch.utils.data import Subset  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
COMMON = ["monitor.knn_every_epochs=0", "train.tensorboard=false"]
SUITE = ProbeSuite()  # kNN k=200, T=0.1; BatchNorm re-estimation on 20 shuffled batches of 256


def held_out_sets(source: str, size: int, memory: int, queries: int, seed: int) -> tuple[BenchmarkSplit, BenchmarkSplit]:
    """Disjoint class-balanced subsets of the TRAINING split of ``source`` (kNN memory, queries)."""
    train = open_split(source, "train", size, seed=seed)
    labels = train.targets.numpy()
    parts = []
    for limit, skip in ((memory, 0), (queries, memory)):
        keep = data_limit_indices(labels, limit, seed=seed, balanced=True, skip_num_samples=skip)
        parts.append(BenchmarkSplit(Subset(train.dataset, keep), train.targets[keep], train.source, train.classes))
    return parts[0], parts[1]


def trial(
    name: str, steps: int, overrides: list[str], memory: int, queries: int, known: dict[str, Any], reestimate_bn: bool = False,
    layers: tuple[str, ...] = (),
) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """Train, probe the trunk and (unless ``known`` has it) the random-init trunk: (record, key, baseline).
    With ``reestimate_bn`` the record also holds the trained trunk's kNN after its BatchNorm
    statistics are re-estimated on the memory images (``knn_top1_bn_reestimated``, a diagnostic).
    With ``layers`` it holds ``layers: {name: {knn_top1, random_init_initial_bn_knn_top1,
    random_init_reestimated_knn_top1, minus_best_random_init}}`` (pooled layer, same images)."""
    recipe = ssl_train.get_recipe(name)
    cfg = ssl_train.load_config(recipe.config_class(), COMMON + overrides + [f"train.max_steps={steps}"])
    with tempfile.TemporaryDirectory() as work:
        result = ssl_train.pretrain(name, cfg, Path(work) / name, progress=False)
        entry = ckpt_format.load_checkpoint(result.checkpoint)["trunk"]
        size, seed = cfg.data.image_size, cfg.train.seed
        mem, qry = held_out_sets(cfg.data.source, size, memory, queries, seed)
        trained = probe_trunk(result.trunk, mem, qry, SUITE, ("knn",))["knn"]
        diagnostic: dict[str, Any] = {"layers": layer_trials(result.trunk, result.checkpoint, seed, layers, mem, qry)} if layers else {}
        if reestimate_bn:  # after the verdict's probe: the statistics are changed in place
            reestimate_batchnorm(result.trunk, feature_batches(mem, SUITE.extraction.batch_size, shuffle_seed=0), SUITE.bn_batches)
            again = probe_trunk(result.trunk, mem, qry, SUITE, ("knn",))["knn"]
            diagnostic["knn_top1_bn_reestimated"] = knn_round(again["top1"])
        key = json.dumps([cfg.data.source, size, seed, entry["name"], entry["kwargs"], memory, queries], sort_keys=True, default=str)
        if key not in known:
            probes = random_init_probes(random_init_trunk(result.checkpoint, seed), mem, qry, SUITE, ("knn",))
            known[key] = {"initial_bn": probes["initial_bn"]["knn"], "reestimated": probes["reestimated"]["knn"]}
    baseline = known[key]
    best = max(baseline["initial_bn"]["top1"], baseline["reestimated"]["top1"])
    steps_per_epoch = max(1, result.train_images // cfg.data.batch_size)
    record = {
        "overrides": overrides, "steps": result.steps, "epochs": round(result.steps / steps_per_epoch, 2),
        "minutes": round(result.minutes, 2), "images_per_second": round(result.images_per_second, 1),
        "final_loss": result.final_loss, "trunk": {"name": entry["name"], "kwargs": entry["kwargs"]},
        "knn_top1": knn_round(trained["top1"]), "knn_top5": knn_round(trained["top5"]),
        "random_init_initial_bn_knn_top1": knn_round(baseline["initial_bn"]["top1"]),
        "random_init_reestimated_knn_top1": knn_round(baseline["reestimated"]["top1"]),
        "minus_best_random_init": knn_round(trained["top1"] - best), "beats_random_init": trained["top1"] > best,
        **diagnostic,
    }  # fmt: skip
    return record, key, baseline


def layer_trials(
    trunk: Any, checkpoint: Path, seed: int, layers: tuple[str, ...], mem: BenchmarkSplit, qry: BenchmarkSplit
) -> dict[str, dict[str, float]]:
    """Held-out kNN of each pooled layer of the trained ``trunk`` and of the random-init trunk."""
    out = {}
    for layer in layers:
        trained = probe_trunk(PooledLayer(trunk, layer), mem, qry, SUITE, ("knn",))["knn"]["top1"]
        rand = random_init_probes(PooledLayer(random_init_trunk(checkpoint, seed), layer), mem, qry, SUITE, ("knn",))
        initial, again = rand["initial_bn"]["knn"]["top1"], rand["reestimated"]["knn"]["top1"]
        out[layer] = {"knn_top1": knn_round(trained), "random_init_initial_bn_knn_top1": knn_round(initial),
                      "random_init_reestimated_knn_top1": knn_round(again), "minus_best_random_init": knn_round(trained - max(initial, again))}  # fmt: skip
        print(f"recipe_validation: layer {layer}: {out[layer]}", file=sys.stderr, flush=True)
    return out


def knn_round(value: float) -> float:
    return round(float(value), 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("--steps", type=int, default=300, help="training steps of the trial (train.max_steps)")
    parser.add_argument("--memory", type=int, default=10000, help="labelled training images in the kNN memory")
    parser.add_argument("--queries", type=int, default=5000, help="other training images classified")
    parser.add_argument("--note", default="", help="why this trial (kept in the JSON)")
    parser.add_argument("--reestimate-bn", action="store_true",
                        help="also measure the trained trunk with BatchNorm re-estimated on the memory images (diagnostic)")
    parser.add_argument("--layers", nargs="+", default=[], help="also measure these trunk layers, pooled (e.g. res2 res3 res4 res5avg)")
    parser.add_argument("overrides", nargs="*", help="key=value overrides of the recipe's config")
    args = parser.parse_intermixed_args(argv)
    if args.recipe not in ssl_train.list_recipes():
        print(f"recipe_validation: error: unknown recipe {args.recipe!r}; known: {', '.join(ssl_train.list_recipes())}", file=sys.stderr)
        return 2
    if args.steps < 1 or args.memory < 1 or args.queries < 1:
        print("recipe_validation: error: --steps, --memory and --queries must be >= 1", file=sys.stderr)
        return 2
    out = RESULTS / f"recipe_validation_{args.recipe}.json"
    saved = json.loads(out.read_text()) if out.is_file() else {}
    known = dict(saved.get("random_init", {}))
    meta = provenance(["python", "benchmarks/recipe_validation.py", *(argv if argv is not None else sys.argv[1:])])
    try:
        record, key, baseline = trial(args.recipe, args.steps, list(args.overrides), args.memory, args.queries, known, args.reestimate_bn, tuple(args.layers))
    except (ssl_train.ConfigError, ssl_train.TrainingDivergedError, ValueError) as exc:
        print(f"recipe_validation: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    payload = {
        "recipe": args.recipe,
        "protocol": {"knn": {"k": SUITE.knn.k, "temperature": SUITE.knn.temperature}, "memory": args.memory,
                     "queries": args.queries, "images": "disjoint class-balanced subsets of the TRAINING split",
                     "random_init": f"same architecture and seed; initial BatchNorm statistics, and re-estimated on "
                                    f"{SUITE.bn_batches} shuffled batches of {SUITE.extraction.batch_size} memory images"},
        "random_init": {**saved.get("random_init", {}), key: baseline},
        "trials": [*saved.get("trials", []), {**meta, "note": args.note, **record}],
    }  # fmt: skip
    atomic_write_text(out, json.dumps(payload, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
