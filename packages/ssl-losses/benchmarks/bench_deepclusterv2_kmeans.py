"""DeepClusterV2Loss.cluster_memory (plain-torch spherical k-means) against faiss's k-means.

Same L2-normalised data, same K and iteration count, one process on CPU. Prints JSON: seconds
and the k-means objective (mean cosine between a point and its centroid; higher is better) of
both. faiss is the baseline (the field's library); ssl-losses does not depend on it.

    python packages/ssl-losses/benchmarks/bench_deepclusterv2_kmeans.py --rows 20000 --k 300
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from ssl_losses import DeepClusterV2Loss


def _objective(x: torch.Tensor, centroids: torch.Tensor) -> float:
    return float((x @ F.normalize(centroids, dim=1).t()).max(dim=1).values.mean())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--k", type=int, default=300)
    parser.add_argument("--iters", type=int, default=10)
    args = parser.parse_args()

    g = torch.Generator().manual_seed(0)
    # clustered data: 4k true centres plus noise, then normalised
    centres = torch.randn(4 * args.k, args.dim, generator=g)
    x = F.normalize(centres[torch.randint(0, 4 * args.k, (args.rows,), generator=g)] + 0.5 * torch.randn(args.rows, args.dim, generator=g), dim=1)

    loss_fn = DeepClusterV2Loss(args.rows, num_crops=1, num_clusters=(args.k,), kmeans_iters=args.iters, embedding_dim=args.dim)
    idx = torch.arange(args.rows)
    for chunk in idx.split(4096):
        loss_fn.update_memory(x[chunk], chunk)
    t0 = time.perf_counter()
    loss_fn.cluster_memory(seed=0)
    ours_s = time.perf_counter() - t0
    result = {
        "rows": args.rows, "dim": args.dim, "k": args.k, "iters": args.iters, "threads": torch.get_num_threads(),
        "ssl_losses": {"seconds": round(ours_s, 3), "objective": round(_objective(x, loss_fn.centroids(0)), 4)},
    }
    try:
        import faiss  # type: ignore[import-not-found]
    except ImportError:
        result["faiss"] = None
    else:
        km = faiss.Kmeans(args.dim, args.k, niter=args.iters, spherical=True, seed=0, verbose=False)
        xn = x.numpy()
        t0 = time.perf_counter()
        km.train(xn)
        faiss_s = time.perf_counter() - t0
        result["faiss"] = {"seconds": round(faiss_s, 3), "objective": round(_objective(x, torch.from_numpy(km.centroids)), 4)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
