"""kNN top-1 of a trunk on the Fashion-MNIST test set (k=200, T=0.1, cosine), and where a result
came from: the helpers the benchmark scripts of this folder share.

``python benchmarks/fashion_mnist_knn.py CHECKPOINT`` prints the kNN result of one checkpoint.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

import ssl_data
import ssl_models
from ssl_evaluation.knn import knn_classify

__all__ = ["fashion_mnist_features", "knn_of_trunk", "provenance"]

MEAN = torch.tensor(ssl_data.transforms.presets.IMAGENET_MEAN).view(1, 3, 1, 1)
STD = torch.tensor(ssl_data.transforms.presets.IMAGENET_STD).view(1, 3, 1, 1)


def _normalised(images: torch.Tensor, size: int) -> torch.Tensor:
    x = images.float().div(255.0)
    x = x.unsqueeze(1) if x.ndim == 3 else x
    x = x.expand(-1, 3, -1, -1)
    if x.shape[-1] != size:
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return (x - MEAN) / STD


@torch.no_grad()
def fashion_mnist_features(trunk: torch.nn.Module, split: str, size: int = 28, batch: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """Pooled features ``[N, D]`` and labels ``[N]`` of a Fashion-MNIST split (eval mode)."""
    images, labels = ssl_data.load_fashion_mnist(split)
    trunk.eval()
    feats = [trunk(_normalised(images[i:i + batch], size)) for i in range(0, len(images), batch)]
    return torch.cat(feats).float(), labels


def knn_of_trunk(trunk: torch.nn.Module, size: int = 28, k: int = 200, temperature: float = 0.1) -> dict[str, float]:
    """kNN top-1/top-5 (%) on the 10,000 test images with the 60,000 training images as memory."""
    train_x, train_y = fashion_mnist_features(trunk, "train", size)
    test_x, test_y = fashion_mnist_features(trunk, "test", size)
    return knn_classify(train_x, train_y, test_x, test_y, k=k, temperature=temperature)


def provenance(command: list[str]) -> dict[str, Any]:
    """Command, commit, machine and load: what every committed result file records."""
    root = Path(__file__).resolve().parent.parent
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True).stdout.strip())
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), platform.processor())
    flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), "")
    return {
        "command": " ".join(command),
        "commit": commit + ("+dirty" if dirty else ""),
        "machine": {"cpu": cpu, "cores": os.cpu_count(), "avx512_bf16": "avx512_bf16" in flags,
                    "torch": torch.__version__, "python": platform.python_version(), "load_average_at_start": os.getloadavg()},
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }  # fmt: skip


if __name__ == "__main__":
    trunk = ssl_models.trunk_from_checkpoint(ssl_models.load_checkpoint(sys.argv[1]))
    print(json.dumps(knn_of_trunk(trunk), indent=2))
