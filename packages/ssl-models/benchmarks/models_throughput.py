"""Training-step throughput (forward + backward, images/s) of our ResNet trunks vs torchvision.

Run: python packages/ssl-models/benchmarks/models_throughput.py [--batch 8] [--size 64]
     [--small-size 32] [--repeats 5] [--iters 2] [--threads 1] [--dtype float32|bfloat16]
Prints one JSON object.

Pairs, each with identical weights and the same input batch:
- ``resnet50``: our ``build_trunk("resnet50")`` vs torchvision's ``resnet50`` with ``fc`` replaced
  by Identity (ours has no classifier), at ``--size`` px.
- ``resnet18``: the same for ResNet-18.
- ``resnet18_w0.25_small``: the default recipe trunk (``width_multiplier=0.25, small_input=True``)
  at ``--small-size`` px. torchvision has no width multiplier, so its baseline is the same modules
  called directly in plain PyTorch (conv1, bn1, relu, layer1..4, avgpool, flatten): it measures
  the cost of our ``Trunk`` interface.
Each pair runs with channels_last off and on. Runs are interleaved (every variant once per
repeat, the order alternating) and the median images/s over repeats is reported, per wall-clock
second and per CPU second of this process (``time.process_time``; with one thread the steadier
figure on a shared machine). A training step
is ``loss = out.square().mean(); loss.backward()`` in train mode (BatchNorm batch statistics).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torchvision
from torch import Tensor, nn

from ssl_models import build_trunk


def _torchvision_twin(ours: nn.Module, name: str) -> nn.Module:
    tv = torchvision.models.get_model(name, weights=None)
    tv.fc = nn.Identity()
    tv.load_state_dict(ours.state_dict(), strict=True)
    return tv


class _PlainResNet(nn.Module):
    """The trunk's own modules called in a plain forward (no feature bookkeeping)."""

    def __init__(self, trunk: nn.Module) -> None:
        super().__init__()
        self.t = trunk

    def forward(self, x: Tensor) -> Tensor:
        t = self.t
        x = t.maxpool(t.relu(t.bn1(t.conv1(x))))
        x = t.layer4(t.layer3(t.layer2(t.layer1(x))))
        return torch.flatten(t.avgpool(x), 1)


def _pairs(size: int, small_size: int) -> list[tuple[str, int, nn.Module, nn.Module, str]]:
    torch.manual_seed(0)
    r50 = build_trunk("resnet50")
    r18 = build_trunk("resnet18")
    small = build_trunk("resnet18", width_multiplier=0.25, small_input=True)
    import copy

    return [
        ("resnet50", size, r50, _torchvision_twin(r50, "resnet50"), "torchvision"),
        ("resnet18", size, r18, _torchvision_twin(r18, "resnet18"), "torchvision"),
        ("resnet18_w0.25_small", small_size, small, _PlainResNet(copy.deepcopy(small)), "plain_pytorch_same_modules"),
    ]


def _step_fn(model: nn.Module, x: Tensor, dtype: torch.dtype) -> Callable[[], None]:
    def step() -> None:
        model.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
            out = model(x)
        out.float().square().mean().backward()

    return step


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=64, help="input side for resnet50/resnet18")
    ap.add_argument("--small-size", type=int, default=32, help="input side for the width-0.25 small-input trunk")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--iters", type=int, default=2, help="training steps per timed run")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (0: leave as is; 1 by default: the shared 2-core box oversubscribes with 2)")
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32", help="bfloat16 = CPU autocast")
    ap.add_argument("--only", default="", help="comma-separated pair names to run (default: all)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    pairs = _pairs(args.size, args.small_size)
    if args.only:
        pairs = [p for p in pairs if p[0] in args.only.split(",")]

    results = []
    for name, size, ours, base, base_name in pairs:
        x0 = torch.randn(args.batch, 3, size, size, generator=torch.Generator().manual_seed(1))
        for channels_last in (False, True):
            fmt = torch.channels_last if channels_last else torch.contiguous_format
            x = x0.contiguous(memory_format=fmt)
            variants = {"ours": ours.train().to(memory_format=fmt), base_name: base.train().to(memory_format=fmt)}
            with torch.no_grad():  # same weights, same input: same features (BN in train mode)
                diff = (variants["ours"](x) - variants[base_name](x)).abs().max().item()
            steps = {k: _step_fn(m, x, dtype) for k, m in variants.items()}
            for fn in steps.values():
                fn()  # warm-up
            rates: dict[str, list[float]] = {k: [] for k in steps}
            cpu_rates: dict[str, list[float]] = {k: [] for k in steps}
            for r in range(args.repeats):
                order = list(steps) if r % 2 == 0 else list(reversed(steps))
                for k in order:
                    t0, c0 = time.perf_counter(), time.process_time()
                    for _ in range(args.iters):
                        steps[k]()
                    rates[k].append(args.batch * args.iters / (time.perf_counter() - t0))
                    cpu_rates[k].append(args.batch * args.iters / (time.process_time() - c0))
            med = {k: statistics.median(v) for k, v in rates.items()}
            cpu_med = {k: statistics.median(v) for k, v in cpu_rates.items()}
            results.append({
                "model": name,
                "size": size,
                "channels_last": channels_last,
                "images_per_s_median": {k: round(v, 2) for k, v in med.items()},
                "images_per_s_runs": {k: [round(v, 2) for v in vs] for k, vs in rates.items()},
                "ours_over_baseline": round(med["ours"] / med[base_name], 3),
                "images_per_cpu_s_median": {k: round(v, 2) for k, v in cpu_med.items()},
                "ours_over_baseline_cpu_time": round(cpu_med["ours"] / cpu_med[base_name], 3),
                "max_abs_feature_diff": diff,
            })
    print(json.dumps({
        "benchmark": "models_training_step_throughput",
        "device": "cpu",
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "dtype": args.dtype,
        "batch": args.batch,
        "repeats": args.repeats,
        "iters_per_run": args.iters,
        "results": results,
    }, indent=1))


if __name__ == "__main__":
    main()
