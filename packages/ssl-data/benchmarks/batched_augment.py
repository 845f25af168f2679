"""Images/s of BatchedSimCLRAugment vs the same torchvision.transforms.v2 pipeline per sample.

Run: python packages/ssl-data/benchmarks/batched_augment.py [--batch 512] [--size 28] [--repeats 5]
Prints one JSON object. Both sides produce float32 [B, 3, size, size] normalised tensors from the
same uint8 [B, 3, H, W] batch (Fashion-MNIST images when the files exist, else random pixels).
``batched_grey_images_per_s`` times the batched module on the same images as one channel
``[B, 1, H, W]`` (how grey data sets reach it in training; same output values).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from ssl_data import BatchedSimCLRAugment, simclr_transform


def _images(batch: int, size: int) -> tuple[torch.Tensor, str]:
    try:
        from ssl_data import load_fashion_mnist

        imgs, _ = load_fashion_mnist("train")
        x = imgs[:batch].unsqueeze(1).expand(-1, 3, -1, -1).contiguous()
        if size != 28:
            x = torch.nn.functional.interpolate(x.float(), size=(size, size), mode="bilinear").round().to(torch.uint8)
        return x, "fashion-mnist"
    except (FileNotFoundError, ImportError):
        return torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8), "random"


def _best_rate(fn, batch: int, repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return batch / best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--size", type=int, default=28, help="output side")
    ap.add_argument("--input-size", type=int, default=0, help="input side (0: same as --size)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--blur", action="store_true")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    x, source = _images(args.batch, args.input_size or args.size)
    batched = BatchedSimCLRAugment(args.size, blur=args.blur)
    per_sample = simclr_transform(args.size, blur=args.blur)
    gen = torch.Generator().manual_seed(0)
    ours = _best_rate(lambda: batched(x, gen), args.batch, args.repeats)
    grey = x[:, :1].contiguous()
    ours_grey = _best_rate(lambda: batched(grey, gen), args.batch, args.repeats)
    base = _best_rate(lambda: torch.stack([per_sample(img) for img in x]), args.batch, max(1, args.repeats // 2))
    print(json.dumps({
        "benchmark": "batched_simclr_augment", "device": "cpu", "threads": torch.get_num_threads(),
        "batch": args.batch, "input_size": args.input_size or args.size, "size": args.size, "blur": args.blur, "images": source,
        "batched_images_per_s": round(ours, 1), "batched_grey_images_per_s": round(ours_grey, 1),
        "torchvision_v2_per_sample_images_per_s": round(base, 1), "speedup": round(ours / base, 2),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
