"""Training data through ssl-data: one interface, two paths.

- Tensor data sets (Fashion-MNIST, digits) stay in memory as uint8 ``[N, 1 or 3, H, W]``; the
  loader yields index batches and the views are computed for the whole batch on the training
  device (:func:`ssl_train.views.augment_batch`).
- Image folders stream from disk: ``ssl_data.SSLDataset`` decodes and augments each image in
  DataLoader workers (random-resized crops from the full-resolution image), replacing and
  counting undecodable files; memory does not grow with the number of images.

Both read through ``ssl_data.build_loader`` (torchdata's StatefulDataLoader with the stateful
distributed sampler), so the position inside an epoch is part of the train state and the data
are sharded across ranks.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset
from torchvision.transforms import v2

import ssl_data
from ssl_data.sources.data_limit import data_limit_indices
from ssl_train.config import ConfigError
from ssl_train.recipes.base import Batch
from ssl_train.views import ViewPlan, augment_batch

__all__ = ["LabelledImages", "TrainingData", "build_training_data"]


class _InMemory(Dataset):
    """uint8 images held in memory; ``__getitems__`` returns a whole batch at once."""

    def __init__(self, images: Tensor, labels: Tensor) -> None:
        self.images = images if images.ndim == 4 else images.unsqueeze(1)
        self.labels = labels.to(torch.int64)
        self.targets = self.labels.tolist()

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitems__(self, indices: list[int]) -> tuple[Tensor, Tensor, Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.int64)
        return self.images[idx], self.labels[idx], idx

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor, Tensor]:
        return self.__getitems__([index])


def _first(batch: Any) -> Any:
    return batch


@dataclass
class LabelledImages:
    """A bounded labelled image set for the online kNN monitor: ``(float [B, 3, S, S] normalised,
    labels [B])`` batches from ``batches()``."""

    batches: Callable[[], Any]
    size: int


@dataclass
class TrainingData:
    """The loader of one rank and how its raw batches become :class:`Batch` es.

    Attributes:
        loader: ``ssl_data.SSLDataLoader`` (state saved in checkpoints).
        dataset: what the loader reads (its ``num_invalid`` counts replaced files when streaming).
        description: the data actually used (after any fallback), for logs and reports.
        num_images: training images (all ranks).
        in_memory: True for the batched-augmentation path.
        dtype: of the crops and the monitor's images (float64 for ``train.precision=fp64``).
    """

    loader: ssl_data.SSLDataLoader
    dataset: Dataset
    description: str
    num_images: int
    in_memory: bool
    plan: ViewPlan
    seed: int
    image_size: int
    _labelled: Callable[[int, int, int, int], tuple[LabelledImages, LabelledImages] | None]
    _ordered: Callable[[list[int], int], LabelledImages]
    fell_back: bool = False
    """True when digits replaced the requested Fashion-MNIST (not found, not downloadable)."""
    dtype: torch.dtype = torch.float32

    def __post_init__(self) -> None:
        self._augments = self.plan.batched_augments() if self.in_memory else []

    def to_batch(self, raw: Any, epoch: int, device: torch.device) -> Batch:
        """A raw loader batch -> :class:`Batch` on ``device`` (views computed here in memory)."""
        if self.in_memory:
            images, labels, indices = raw
            crops = augment_batch(self._augments, images.to(device, non_blocking=True), indices, self.seed, epoch)
        else:
            crops, labels, indices = raw
        return Batch([c.to(device, self.dtype, non_blocking=True) for c in crops], labels.to(device), indices.to(device))

    def monitor_sets(self, memory: int, queries: int, batch_size: int, seed: int) -> tuple[LabelledImages, LabelledImages] | None:
        """Disjoint class-balanced labelled subsets of the training images (kNN memory, queries),
        resized to ``image_size`` and normalised; None when the data has a single class."""
        return self._labelled(memory, queries, batch_size, seed)

    def ordered(self, rank: int, world_size: int, batch_size: int) -> tuple[LabelledImages, Tensor]:
        """This rank's shard (every ``world_size``-th image from ``rank``) of all training
        images in dataset order, resized to ``image_size`` without augmentation, and their
        dataset indices ``[n]`` (DeepClusterV2 / ClusterFit features at epoch start)."""
        ids = list(range(rank, self.num_images, world_size))
        return self._ordered(ids, batch_size), torch.as_tensor(ids, dtype=torch.int64)

    def example_crops(self, rank: int, world_size: int, batch_size: int) -> list[Tensor]:
        """Real images in the shapes the model sees per pass: for every crop size of the plan, the
        first ``batch_size`` images of this rank's :meth:`ordered` shard resized to it, repeated
        for each crop of that size (``[count * B, 3, size, size]``, contiguous)."""
        images, _ = self.ordered(rank, world_size, batch_size)
        x, _ = next(iter(images.batches()))
        out = []
        for size in sorted({c.size for c in self.plan.crops}, reverse=True):
            count = sum(c.count for c in self.plan.crops if c.size == size)
            y = x if x.shape[-1] == size else torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
            out.append(torch.cat([y] * count).contiguous())
        return out

    @property
    def num_invalid(self) -> int:
        return int(getattr(self.dataset, "num_invalid", 0))


def _tensor_source(source: str, announce_fallback: bool = True) -> tuple[Tensor, Tensor, str] | None:
    if source == "fashion-mnist":
        folder = ssl_data.locate_fashion_mnist()
        if folder is not None:
            images, labels = ssl_data.load_fashion_mnist("train", folder)
            return images, labels, f"Fashion-MNIST train split (60,000 images, {folder})"
        images, labels = ssl_data.load_digits("train")
        if announce_fallback:
            print("ssl: Fashion-MNIST not found (set SSL_FASHION_MNIST, install the Debian package "
                  "dataset-fashion-mnist, or go online); using scikit-learn's digits (seeded 80 % split) instead",
                  file=sys.stderr, flush=True)  # fmt: skip
        return images, labels, "digits (fallback: Fashion-MNIST files not found; seeded 80 % train split, 1,437 images)"
    if source == "digits":
        images, labels = ssl_data.load_digits("train")
        return images, labels, "digits (scikit-learn; seeded 80 % train split, 1,437 images)"
    return None


def _folder_root(source: str) -> Path:
    root = Path(source).expanduser()
    if not root.exists():
        raise ConfigError(f"data.source {source!r}: no such folder (use fashion-mnist, digits or a folder of images)")
    if not root.is_dir():
        raise ConfigError(f"data.source {source!r} is not a folder")
    return root / "train" if (root / "train").is_dir() else root


def _balanced_pair(labels: np.ndarray, memory: int, queries: int, seed: int) -> tuple[list[int], list[int]] | None:
    classes = np.unique(labels)
    if len(classes) < 2:
        return None
    per_class = int(np.bincount(labels).min())
    k = len(classes)
    memory = min(memory, (per_class // 2) * k)
    queries = min(queries, (per_class - memory // k) * k)
    if memory < k or queries < k:
        return None
    mem = data_limit_indices(labels, memory, seed, balanced=True)
    qry = data_limit_indices(labels, queries, seed, balanced=True, skip_num_samples=memory)
    return mem, qry


def _normalise(images: Tensor, size: int, mean: Tensor, std: Tensor) -> Tensor:
    x = images.to(mean.dtype) / 255.0
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[-1] != size or x.shape[-2] != size:
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return (x - mean) / std


def build_training_data(
    source: str,
    plan: ViewPlan,
    *,
    image_size: int,
    batch_size: int,
    seed: int,
    limit: int = 0,
    num_workers: int = 2,
    invalid_max_fraction: float = 0.01,
    rank: int = 0,
    world_size: int = 1,
    dtype: torch.dtype = torch.float32,
    announce_fallback: bool = True,
) -> TrainingData:
    """The training data of one rank (see the module docstring).

    Args:
        source: ``"fashion-mnist"`` (digits when absent), ``"digits"`` or a folder.
        plan: the method's views.
        image_size: side of the monitor's images (the global crop size).
        batch_size: per rank.
        limit: class-balanced seeded subset of this many images (0: all).
        dtype: of the crops and the monitor's images (float32, or float64 for an fp64 run).
        announce_fallback: say on stderr when Fashion-MNIST falls back to digits (the loop's own
            data says it; a look at the data's size before, e.g. ``train_set_size``, does not).

    Raises:
        ConfigError: a missing folder, a folder without images, a batch larger than the data.
    """
    mean = torch.tensor(plan.mean, dtype=dtype).view(1, 3, 1, 1)
    std = torch.tensor(plan.std, dtype=dtype).view(1, 3, 1, 1)
    tensors = _tensor_source(source, announce_fallback)
    if tensors is not None:
        images, labels, description = tensors
        if 0 < limit < len(labels):
            keep = torch.as_tensor(data_limit_indices(labels.numpy(), limit, seed, balanced=False))
            images, labels = images[keep], labels[keep]
            description += f", limited to {limit:,} (seeded)"
        dataset: Dataset = _InMemory(images, labels)
        label_array = labels.numpy()
        in_memory = True
        workers = 0

        def make(ids: list[int], bs: int) -> LabelledImages:
            data = dataset

            def batches() -> Any:
                for start in range(0, len(ids), bs):
                    x, y, _ = data.__getitems__(ids[start:start + bs])  # type: ignore[attr-defined]
                    yield _normalise(x, image_size, mean, std), y

            return LabelledImages(batches, len(ids))
    else:
        root = _folder_root(source)
        try:
            folder = ssl_data.ImageFolderSource(root)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise ConfigError(f"data.source {source!r}: {str(exc).splitlines()[0]}") from None
        label_array = np.asarray([label for _, label in folder.samples])
        description = f"image folder {root} ({len(folder):,} images, {len(folder.classes)} classes)"
        files: Dataset = folder
        if 0 < limit < len(folder):
            keep_ids = data_limit_indices(label_array, limit, seed, balanced=False)
            files, label_array = torch.utils.data.Subset(folder, keep_ids), label_array[keep_ids]
            description += f", limited to {limit:,} (seeded)"
        dataset = ssl_data.SSLDataset(files, transform=plan.per_sample_transform(), seed=seed,
                                      max_invalid_fraction=invalid_max_fraction)  # fmt: skip
        in_memory = False
        workers = num_workers
        eval_transform = v2.Compose([
            v2.Resize(image_size), v2.CenterCrop(image_size), v2.ToImage(), v2.ToDtype(dtype, scale=True),
            v2.Normalize(list(plan.mean), list(plan.std)),
        ])  # fmt: skip

        def make(ids: list[int], bs: int) -> LabelledImages:
            subset = ssl_data.SSLDataset(torch.utils.data.Subset(files, ids), transform=eval_transform, seed=seed)

            def batches() -> Any:
                loader = torch.utils.data.DataLoader(subset, batch_size=bs, num_workers=num_workers)
                for x, y, _ in loader:
                    yield x, y

            return LabelledImages(batches, len(ids))

    def labelled(memory: int, queries: int, bs: int, seed_: int) -> tuple[LabelledImages, LabelledImages] | None:
        pair = _balanced_pair(label_array, memory, queries, seed_)
        return None if pair is None else (make(pair[0], bs), make(pair[1], bs))

    n = len(dataset)  # type: ignore[arg-type]
    if batch_size * world_size > n:
        raise ConfigError(
            f"data.batch_size={batch_size} x {world_size} rank(s) is larger than the {n} training images"
        )
    loader = ssl_data.build_loader(
        dataset, batch_size, shuffle=True, seed=seed, num_workers=workers, drop_last=True,
        collate_fn=_first if in_memory else None, rank=rank, world_size=world_size,
        shard="stride",  # the global batches do not depend on the world size (a W-rank run equals a 1-rank one)
    )  # fmt: skip
    return TrainingData(loader, dataset, description, n, in_memory, plan, seed, image_size, labelled, make,
                        fell_back=description.startswith("digits (fallback"), dtype=dtype)  # fmt: skip
