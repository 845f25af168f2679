"""Robustness / out-of-distribution evaluation of an ImageNet-1k classifier on ImageNet-A and
ImageNet-R: top-1/top-5 with the 200-class output mask (VISSL's ``model_output_mask``).

The 1000-way logits are restricted to the 200 classes the dataset has, and the prediction is the
best of those 200. The class lists live in ``imagenet_ood_classes.json`` next to this module.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import torch
from torch.utils.data import DataLoader, Dataset

from ssl_evaluation.accuracy import topk_accuracy
from ssl_evaluation.progress import ProgressFn, Ticker

__all__ = ["OODDataset", "OOD_DATASETS", "ood_wnids", "ood_class_indices", "mask_logits", "OODImageFolder", "evaluate_ood"]

OODDataset = Literal["imagenet-a", "imagenet-r"]
OOD_DATASETS: tuple[str, ...] = ("imagenet-a", "imagenet-r")


@lru_cache(maxsize=1)
def _class_lists() -> dict[str, list[str]]:
    text = resources.files("ssl_evaluation").joinpath("imagenet_ood_classes.json").read_text()
    return json.loads(text)


def ood_wnids(name: OODDataset) -> list[str]:
    """The 200 WordNet ids (folder names) of ``"imagenet-a"`` or ``"imagenet-r"``, in 1k-index order."""
    key = {"imagenet-a": "imagenet_a_wnids", "imagenet-r": "imagenet_r_wnids"}.get(name)
    if key is None:
        raise ValueError(f"name must be one of {OOD_DATASETS}, got {name!r}")
    return list(_class_lists()[key])


def ood_class_indices(name: OODDataset) -> list[int]:
    """ImageNet-1k class indices (0..999) of the dataset's 200 classes, increasing."""
    position = {w: i for i, w in enumerate(_class_lists()["imagenet1k_wnids"])}
    return sorted(position[w] for w in ood_wnids(name))


def mask_logits(logits: torch.Tensor, class_indices: list[int]) -> torch.Tensor:
    """``[B, 1000]`` -> ``[B, len(class_indices)]``: the columns of the kept classes, in order."""
    if logits.ndim != 2 or logits.shape[1] != 1000:
        raise ValueError(f"expected ImageNet-1k logits [B, 1000], got shape {tuple(logits.shape)}")
    return logits[:, torch.as_tensor(class_indices, device=logits.device)]


class OODImageFolder(Dataset):
    """ImageFolder layout ``root/<wnid>/<image>``; the label is the wnid's position among the
    dataset's 200 classes (so folders may be missing, e.g. a subset). Items: ``(image, label)``."""

    def __init__(self, root: str | PathLike[str], name: OODDataset, transform: Callable[[Any], Any] | None = None) -> None:
        from torchvision.datasets import ImageFolder

        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{name} folder not found: {self.root}")
        wnids = ood_wnids(name)
        label_of = {w: i for i, w in enumerate(wnids)}
        folders = sorted(p.name for p in self.root.iterdir() if p.is_dir())
        unknown = [f for f in folders if f not in label_of]
        if unknown:
            raise ValueError(f"{self.root}: folders {unknown[:5]} are not {name} classes (expected WordNet ids)")
        if not folders:
            raise ValueError(f"{self.root} has no class folders")
        try:
            self.folder = ImageFolder(str(self.root), transform=transform)
        except FileNotFoundError as exc:
            raise ValueError(f"{self.root} holds no image files in its class folders ({exc})") from exc
        self.labels = [label_of[self.folder.classes[c]] for _, c in self.folder.samples]

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        image, _ = self.folder[i]
        return image, self.labels[i]


def _default_transform(resize: int, crop: int) -> Callable[[Any], torch.Tensor]:
    from torchvision.transforms import v2

    from ssl_data.transforms import IMAGENET_MEAN, IMAGENET_STD

    return v2.Compose([
        v2.ToImage(), v2.Resize(resize, antialias=True), v2.CenterCrop(crop),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(list(IMAGENET_MEAN), list(IMAGENET_STD)),
    ])


@torch.no_grad()
def evaluate_ood(
    model: Callable[[torch.Tensor], torch.Tensor],
    root: str | PathLike[str],
    name: OODDataset,
    *,
    transform: Callable[[Any], torch.Tensor] | None = None,
    resize: int = 256,
    crop: int = 224,
    batch_size: int = 64,
    num_workers: int = 0,
    device: str | torch.device = "cpu",
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Top-1/top-5 (percent) of an ImageNet-1k classifier (``model``: ``[B, 3, H, W]`` ->
    logits ``[B, 1000]``) on a local copy of ImageNet-A or -R, with the 200-class mask.

    Default preprocessing: resize shorter side to ``resize``, center crop ``crop``, ImageNet
    normalisation. Returns ``{"top1", "top5", "num_images", "protocol"}``;
    ``progress(name, images done, images)`` after every batch.
    """
    ds = OODImageFolder(root, name, transform if transform is not None else _default_transform(resize, crop))
    indices = ood_class_indices(name)
    loader = DataLoader(ds, batch_size=batch_size, num_workers=num_workers)
    if isinstance(model, torch.nn.Module):
        model.to(device).eval()
    logits, labels = [], []
    ticker = Ticker(progress, name, len(ds))
    for images, y in loader:
        logits.append(mask_logits(model(images.to(device)).float().cpu(), indices))
        labels.append(y)
        ticker.advance(len(y))
    acc = topk_accuracy(torch.cat(logits), torch.cat(labels))
    return {
        "top1": acc["top1"],
        "top5": acc["top5"],
        "num_images": len(ds),
        "protocol": {"dataset": name, "num_classes": len(indices), "output_mask": True, "resize": resize, "crop": crop},
    }
