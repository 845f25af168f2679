"""Labelled image tensors for pretraining and benchmarks, from the sources ssl-data reads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

import ssl_data

__all__ = ["ImageSplit", "load_split", "balanced_subset"]

BUILTIN_SOURCES = ("fashion-mnist", "digits")


@dataclass
class ImageSplit:
    """One split held in memory.

    Attributes:
        images: uint8 ``[N, 3, S, S]``.
        labels: int64 ``[N]`` class ids, or a multi-label matrix ``[N, C]``.
        classes: class names, index = label (or column of the matrix).
        source: a human-readable description of where the images came from.

    ``len(split)`` is the number of images ``N``.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    source: str

    def __len__(self) -> int:
        return int(self.images.shape[0])


def balanced_subset(labels: torch.Tensor, limit: int, seed: int) -> torch.Tensor:
    """Indices of at most ``limit`` samples, as equal per class as possible, seeded; sorted."""
    if limit <= 0 or limit >= labels.numel():
        return torch.arange(labels.numel())
    gen = torch.Generator().manual_seed(seed)
    classes = labels.unique()
    per_class = [torch.nonzero(labels == c).flatten() for c in classes]
    per_class = [idx[torch.randperm(idx.numel(), generator=gen)] for idx in per_class]
    take = [0] * len(per_class)
    remaining = limit
    while remaining > 0:
        progressed = False
        for i, idx in enumerate(per_class):
            if remaining and take[i] < idx.numel():
                take[i] += 1
                remaining -= 1
                progressed = True
        if not progressed:
            break
    chosen = torch.cat([idx[:n] for idx, n in zip(per_class, take)])
    return chosen.sort().values


def _to_rgb_size(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 ``[N, H, W]`` or ``[N, C, H, W]`` -> uint8 ``[N, 3, size, size]``."""
    if images.ndim == 3:
        images = images.unsqueeze(1)
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    if images.shape[-1] != size or images.shape[-2] != size:
        resized = F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        images = resized.round().clamp(0, 255).to(torch.uint8)
    return images.contiguous()


def _folder_split_dirs(root: Path, split: str) -> Path | None:
    names = ("train",) if split == "train" else ("val", "test")
    for name in names:
        if (root / name).is_dir():
            return root / name
    return None


def _decode_folder(root: Path, size: int, num_workers: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    from torchvision.transforms import v2

    transform = v2.Compose([v2.ToImage(), v2.RGB(), v2.Resize(size, antialias=True), v2.CenterCrop(size)])
    source = ssl_data.ImageFolderSource(root, transform=transform)
    loader = DataLoader(source, batch_size=256, num_workers=num_workers, collate_fn=_stack)
    images, labels = [], []
    for x, y in loader:
        images.append(x)
        labels.append(y)
    return torch.cat(images), torch.cat(labels), list(source.classes)


def _stack(items: list) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.stack([torch.as_tensor(it[0]) for it in items]), torch.tensor([int(it[1]) for it in items])


def load_split(
    source: str,
    split: str,
    image_size: int,
    limit: int = 0,
    val_fraction: float = 0.2,
    seed: int = 0,
    num_workers: int = 0,
) -> ImageSplit:
    """Load a labelled split of a source as uint8 tensors of one size.

    Args:
        source: ``"fashion-mnist"`` (falls back to digits when its files are absent), ``"digits"``,
            or a folder in ImageFolder layout (with ``train/`` and ``val/``/``test/`` sub-folders, or
            a single tree split by ``val_fraction``, stratified and seeded).
        split: ``"train"`` or ``"test"``.
        image_size: side S of the returned square images.
        limit: keep at most this many images (class-balanced, seeded); 0 keeps all.
        val_fraction: held-out fraction for a single folder tree. The held-out part is the same
            for every ``seed`` (a property of the data), so a train split and a test split never
            share an image whatever seeds they were loaded with.
        seed: seed of the ``limit`` subsampling.
        num_workers: decoding workers for folders.

    Returns:
        An :class:`ImageSplit` with images uint8 ``[N, 3, S, S]``.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if source in BUILTIN_SOURCES:
        name = source
        try:
            if source == "fashion-mnist":
                images, labels = ssl_data.load_fashion_mnist(split)
            else:
                images, labels = ssl_data.load_digits(split)
        except FileNotFoundError:
            name = "digits (fallback: Fashion-MNIST files not found)"
            images, labels = ssl_data.load_digits(split)
        classes = [str(i) for i in range(int(labels.max()) + 1)]
    else:
        root = Path(source).expanduser()
        if not root.exists():
            raise FileNotFoundError(f"data path does not exist: {root}")
        if not root.is_dir():
            raise NotADirectoryError(f"data path is not a folder: {root}")
        split_dir = _folder_split_dirs(root, split)
        if split_dir is not None:
            images, labels, classes = _decode_folder(split_dir, image_size, num_workers)
            if split == "test" and (root / "train").is_dir():
                labels, classes = _to_train_classes(labels, classes, root / "train", split_dir)
            name = str(split_dir)
        else:
            images, labels, classes = _decode_folder(root, image_size, num_workers)
            held_out = _held_out_mask(labels, val_fraction)
            keep = held_out if split == "test" else ~held_out
            images, labels = images[keep], labels[keep]
            name = f"{root} ({split}: {'held-out' if split == 'test' else 'remaining'} {val_fraction:.0%} split)"
    images = _to_rgb_size(images, image_size)
    chosen = balanced_subset(labels, limit, seed)
    return ImageSplit(images[chosen], labels[chosen].long(), classes, name)


def _to_train_classes(labels: torch.Tensor, classes: list[str], train_dir: Path, split_dir: Path) -> tuple[torch.Tensor, list[str]]:
    """Renumber a test split's labels by the train split's class folders (ImageFolder numbers each
    folder tree on its own, so a class missing from ``val/`` would shift every later label)."""
    reference = sorted(entry.name for entry in train_dir.iterdir() if entry.is_dir())
    unknown = [c for c in classes if c not in reference]
    if unknown:
        raise ValueError(f"class folder(s) {', '.join(unknown)} of {split_dir} have no folder in {train_dir}")
    remap = torch.tensor([reference.index(c) for c in classes], dtype=torch.long)
    return remap[labels], reference


#: seed of the held-out part of a single folder tree: fixed, so train and test never overlap
_HELD_OUT_SEED = 7919


def _held_out_mask(labels: torch.Tensor, fraction: float) -> torch.Tensor:
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"data.val_fraction must be in (0, 1), got {fraction}")
    gen = torch.Generator().manual_seed(_HELD_OUT_SEED)
    mask = torch.zeros(labels.numel(), dtype=torch.bool)
    for c in labels.unique():
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(idx.numel(), generator=gen)]
        mask[idx[: max(1, round(fraction * idx.numel()))]] = True
    return mask
