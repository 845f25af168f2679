"""Speed and agreement of SimCLRLoss and distributed_sinkhorn_knopp against plain PyTorch baselines.

Baselines (single process, written here from the papers): the usual NT-Xent formulation
(cross entropy over the 2N-1 other rows, self masked) and the SwAV paper's Sinkhorn loop.
Prints one JSON object: the best (minimum) milliseconds over the repeats per forward+backward (SimCLR) or per call
(Sinkhorn) for ours and the baseline, and the largest absolute difference of the results.

    python benchmarks/bench_simclr_sinkhorn.py [--batch 512] [--dim 128] [--repeats 10] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ssl_losses import SimCLRLoss, distributed_sinkhorn_knopp


def nt_xent_baseline(z: torch.Tensor, temperature: float) -> torch.Tensor:
    """Standard NT-Xent for 2 views stacked [2N, D]."""
    z = F.normalize(z, dim=1)
    n = z.shape[0] // 2
    logits = z @ z.t() / temperature
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(logits, targets)


@torch.no_grad()
def sinkhorn_baseline(scores: torch.Tensor, epsilon: float, iters: int) -> torch.Tensor:
    q = torch.exp(scores / epsilon).t()
    q /= q.sum()
    k, b = q.shape
    for _ in range(iters):
        q /= q.sum(dim=1, keepdim=True)
        q /= k
        q /= q.sum(dim=0, keepdim=True)
        q /= b
    return (q * b).t()


def best_ms(fn_a: Callable[[], object], fn_b: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Best milliseconds of each function, runs interleaved so that load changes hit both."""
    fn_a(), fn_b()  # warm-up
    best = [float("inf"), float("inf")]
    for _ in range(repeats):
        for i, fn in enumerate((fn_a, fn_b)):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], (time.perf_counter() - start) * 1000)
    return best[0], best[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--prototypes", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    z = torch.randn(2 * args.batch, args.dim, requires_grad=True)
    ours = SimCLRLoss(temperature=0.1)

    def run_ours() -> None:
        z.grad = None
        ours(z).backward()

    def run_base() -> None:
        z.grad = None
        nt_xent_baseline(z, 0.1).backward()

    scores = F.normalize(torch.randn(args.batch, args.dim), dim=1) @ F.normalize(
        torch.randn(args.prototypes, args.dim), dim=1
    ).t()
    simclr_ms = best_ms(run_ours, run_base, args.repeats)
    sinkhorn_ms = best_ms(lambda: distributed_sinkhorn_knopp(scores, 0.05, 3),
                          lambda: sinkhorn_baseline(scores, 0.05, 3), args.repeats)
    result = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "simclr": {
            "batch": args.batch, "dim": args.dim,
            "ours_ms": simclr_ms[0],
            "baseline_ms": simclr_ms[1],
            "abs_diff": abs(ours(z).item() - nt_xent_baseline(z, 0.1).item()),
        },
        "sinkhorn": {
            "batch": args.batch, "prototypes": args.prototypes,
            "ours_ms": sinkhorn_ms[0],
            "baseline_ms": sinkhorn_ms[1],
            "abs_diff": (distributed_sinkhorn_knopp(scores, 0.05, 3)
                         - sinkhorn_baseline(scores, 0.05, 3)).abs().max().item(),
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
