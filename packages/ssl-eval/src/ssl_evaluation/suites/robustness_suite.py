"""Robustness: an ImageNet-1k classifier on ImageNet-A / ImageNet-R with the 200-class output mask."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ssl_evaluation.suites.image_splits import checkpoint_classifier, suite_result
from ssl_evaluation.progress import ProgressFn

__all__ = ["OodDataset", "RobustnessProtocol", "run_robustness"]


class OodDataset(str, enum.Enum):
    """Which 200-class subset the folder holds; ``auto`` reads the folder name."""

    auto = "auto"
    imagenet_a = "imagenet-a"
    imagenet_r = "imagenet-r"


@dataclass
class RobustnessProtocol:
    """Top-1/top-5 of trunk + heads (1000 ImageNet logits, e.g. a fine-tuning suite's ``save``)
    on ``<wnid>/<image>`` folders, logits restricted to the dataset's 200 classes.

    Defaults: VISSL's ``robustness_out_of_distribution`` configs (resize 256, centre crop 224,
    ImageNet normalisation); batch 64 is this library's (memory only, no effect on the numbers).
    """

    dataset: OodDataset = OodDataset.auto
    resize: int = 256
    crop: int = 224
    batch_size: int = 64


def run_robustness(checkpoint: str | Path, data: str, protocol: RobustnessProtocol | None = None,
                   progress: ProgressFn | None = None) -> dict[str, Any]:
    """``{metrics: {"robustness": {"top1", "top5", "num_images"}}, ...}``."""
    import ssl_evaluation

    started, p = time.perf_counter(), protocol or RobustnessProtocol()
    root = Path(data).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"data path does not exist: {root}")
    dataset = p.dataset.value
    if p.dataset == OodDataset.auto:
        lowered = root.name.lower().replace("_", "-")
        dataset = next((d for d in ("imagenet-a", "imagenet-r") if lowered.endswith(d)), "")
        if not dataset:
            raise ValueError(f"cannot tell ImageNet-A from ImageNet-R by the folder name {root.name!r}; set dataset=")
    model = checkpoint_classifier(checkpoint)
    with torch.no_grad():
        width = model(torch.zeros(2, 3, p.crop, p.crop)).shape[-1]
    if width != 1000:
        raise ValueError(f"{checkpoint}: trunk + heads give {width} outputs, not 1000 ImageNet logits; "
                         "fine-tune on ImageNet first (ssl benchmark finetune save=PATH)")
    res = ssl_evaluation.evaluate_ood(model, root, dataset, resize=p.resize, crop=p.crop, batch_size=p.batch_size,
                                      progress=progress)
    metrics = {"top1": res["top1"], "top5": res["top5"], "num_images": res["num_images"]}
    return suite_result("robustness", metrics, p, {"name": data, "source": str(root), "images": res["num_images"]},
                        checkpoint, started, res["protocol"], dataset_used=dataset, normalization="ImageNet mean/std")
