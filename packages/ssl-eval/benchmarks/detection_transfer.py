"""Benchmark: Faster R-CNN R50-FPN built from a trunk with ssl_evaluation.detection vs torchvision's own
``fasterrcnn_resnet50_fpn`` (the baseline, same architecture), training and inference on CPU.

    python packages/ssl-eval/benchmarks/detection_transfer.py [--size 320] [--iters 3] [--threads 2]

Prints one JSON object: seconds per training iteration (batch 2) and per test image for both, and
their parameter counts (they should match: the wrapper adds nothing).
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torchvision.models import resnet50
from torchvision.models.detection import fasterrcnn_resnet50_fpn

from ssl_evaluation.detection import build_detector, trunk_backbone


def batch(size: int, gen: torch.Generator) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    images = [torch.rand(3, size, size, generator=gen) for _ in range(2)]
    targets = []
    for _ in images:
        xy = torch.rand(3, 2, generator=gen) * size * 0.6
        wh = 16 + torch.rand(3, 2, generator=gen) * size * 0.3
        targets.append({"boxes": torch.cat([xy, xy + wh], 1), "labels": torch.randint(1, 21, (3,), generator=gen)})
    return images, targets


def timed(model: torch.nn.Module, size: int, iters: int) -> dict[str, float]:
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3, momentum=0.9)
    model.train()
    images, targets = batch(size, gen)
    loss = sum(model(images, targets).values())  # warm-up
    loss.backward()
    start = time.perf_counter()
    for _ in range(iters):
        images, targets = batch(size, gen)
        loss = sum(model(images, targets).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
    train_s = (time.perf_counter() - start) / iters
    model.eval()
    with torch.no_grad():
        start = time.perf_counter()
        for _ in range(iters):
            model(batch(size, gen)[0])
        infer_s = (time.perf_counter() - start) / (2 * iters)
    return {"train_s_per_iter": round(train_s, 3), "infer_s_per_image": round(infer_s, 3),
            "params": sum(p.numel() for p in model.parameters())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ours = build_detector(
        # trainable BatchNorm, like torchvision's builder without pretrained weights
        trunk_backbone(resnet50(), ["layer1", "layer2", "layer3", "layer4"], fpn=True, freeze_bn=False),
        21, min_size=args.size, max_size=args.size,
    )
    torch.manual_seed(0)
    baseline = fasterrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, num_classes=21, min_size=args.size, max_size=args.size,
    )
    print(json.dumps({
        "device": "cpu", "threads": args.threads, "image_size": args.size, "batch": 2,
        "ssl_eval_trunk_backbone": timed(ours, args.size, args.iters),
        "torchvision_fasterrcnn_resnet50_fpn": timed(baseline, args.size, args.iters),
    }, indent=1))


if __name__ == "__main__":
    main()
