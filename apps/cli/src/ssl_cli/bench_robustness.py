"""Robustness: an ImageNet-1k classifier on ImageNet-A / ImageNet-R with the 200-class mask."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ssl_cli.bench_data import checkpoint_classifier
from ssl_cli.errors import UsageError

__all__ = ["run_robustness"]


def run_robustness(
    checkpoint: Path,
    data: str,
    *,
    dataset: str = "auto",
    resize: int = 256,
    crop: int = 224,
    batch_size: int = 64,
) -> dict[str, Any]:
    """Top-1/top-5 of the checkpoint's trunk + heads (they must output 1000 ImageNet logits, e.g.
    a ``ssl benchmark finetune --save`` checkpoint) on ``data`` (``<wnid>/<image>`` folders),
    logits restricted to the dataset's 200 classes. ``dataset`` ``auto`` reads the folder name."""
    import ssl_evaluation

    root = Path(data).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"data path does not exist: {root}")
    if dataset == "auto":
        lowered = root.name.lower().replace("_", "-")
        dataset = next((d for d in ("imagenet-a", "imagenet-r") if lowered.endswith(d)), "")
        if not dataset:
            raise UsageError(f"cannot tell ImageNet-A from ImageNet-R by the folder name {root.name!r}; pass --dataset")
    if dataset not in ("imagenet-a", "imagenet-r"):
        raise UsageError(f"--dataset must be imagenet-a or imagenet-r, got {dataset!r}")
    model = checkpoint_classifier(checkpoint)
    with torch.no_grad():
        width = model(torch.zeros(2, 3, crop, crop)).shape[-1]
    if width != 1000:
        raise UsageError(
            f"{checkpoint}: trunk + heads give {width} outputs, not 1000 ImageNet logits; "
            "fine-tune on ImageNet first (ssl benchmark finetune --save)"
        )
    res = ssl_evaluation.evaluate_ood(model, root, dataset, resize=resize, crop=crop, batch_size=batch_size)
    return {
        "checkpoint": str(checkpoint),
        "data": {"source": str(root), "images": res["num_images"]},
        "benchmarks": {"robustness": {"top1": res["top1"], "top5": res["top5"], "num_images": res["num_images"]}},
        "protocol": {"robustness": {**res["protocol"], "normalization": "ImageNet mean/std"}},
    }
