"""How good are ClusterFit's hand-made stage-1 features themselves? kNN on held-out TRAINING images.

For every ``clusterfit.features`` kind (``ssl_train.recipes.clusterfit.HAND_MADE_FEATURES``:
pixels, histograms of oriented gradients, both; the histograms with and without
``clusterfit.interpolate_orientation``), the features of the same held-out images as
``recipe_validation.py`` (a memory of ``--memory`` class-balanced Fashion-MNIST training images,
``--queries`` other ones; the test split is not read) are classified by kNN (k=200, T=0.1,
cosine): standardised column by column, and after ``standardised_pca`` to 256 components, which is
what stage 1's k-means clusters. Purer features give purer pseudo-labels. Writes
``benchmarks/results/stage_one_features.json`` with the command, commit and machine::

    hatch run python benchmarks/stage_one_features.py
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fashion_mnist_knn import provenance  # noqa: E402
from recipe_validation import RESULTS, SUITE, held_out_sets  # noqa: E402

from ssl_evaluation.knn import knn_classify  # noqa: E402
from ssl_evaluation.suites.benchmark_data import feature_batches  # noqa: E402
from ssl_models.atomic_files import atomic_write_text  # noqa: E402
from ssl_train.recipes.clusterfit import HAND_MADE_FEATURES  # noqa: E402
from ssl_train.recipes.pixel_features import standardised_pca  # noqa: E402


@torch.no_grad()
def extract(kind: str, interpolate: bool, split) -> torch.Tensor:
    """``[N, D]`` stage-1 features of every image of ``split`` (the probes' eval transform)."""
    extractor = HAND_MADE_FEATURES[kind](interpolate)
    return torch.cat([extractor(batch[0]) for batch in feature_batches(split, SUITE.extraction.batch_size)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory", type=int, default=10000)
    parser.add_argument("--queries", type=int, default=5000)
    parser.add_argument("--components", type=int, default=256, help="clusterfit.pixels_pca_dim")
    args = parser.parse_args(argv)
    meta = provenance(["python", "benchmarks/stage_one_features.py", *(argv if argv is not None else sys.argv[1:])])
    mem, qry = held_out_sets("fashion-mnist", 28, args.memory, args.queries, seed=0)
    rows = {}
    variants = [(kind, interpolate) for kind in HAND_MADE_FEATURES for interpolate in (False, True)
                if not (interpolate and kind == "pixels")]  # fmt: skip
    for kind, interpolate in variants:
        name = f"{kind}, interpolated orientations" if interpolate else kind
        both = torch.cat([extract(kind, interpolate, mem), extract(kind, interpolate, qry)])
        standardised = standardised_pca(both, both.shape[1])  # every column, no reduction
        reduced = standardised_pca(both, args.components)
        knn = {form: round(knn_classify(x[: len(mem)], mem.targets, x[len(mem) :], qry.targets, k=SUITE.knn.k,
                                        temperature=SUITE.knn.temperature)["top1"], 2)
               for form, x in (("standardised", standardised), (f"pca{args.components}", reduced))}  # fmt: skip
        rows[name] = {"values": int(both.shape[1]), "knn_top1": knn}
        print(f"stage_one_features: {name}: {rows[name]}", file=sys.stderr, flush=True)
    payload = {**meta, "protocol": {"k": SUITE.knn.k, "temperature": SUITE.knn.temperature, "memory": args.memory,
                                    "queries": args.queries, "images": "disjoint class-balanced subsets of the TRAINING split"},
               "features": rows}  # fmt: skip
    atomic_write_text(RESULTS / "stage_one_features.json", json.dumps(payload, indent=2) + "\n")
    print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
