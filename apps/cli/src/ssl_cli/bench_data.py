"""What `ssl benchmark` reads: a checkpoint's trunk, labelled image splits, normalised batches.

Data sources (the ``--data`` option):

* ``fashion-mnist`` / ``digits`` / ``cifar10`` ... / an ImageFolder tree:
  :func:`ssl_evaluation.suites.open_split`, decoded into memory here;
* a folder written by an ssl-data preparer (``ssl data prepare voc07|coco|imagenet|folder ...``):
  ``{split}_images.npy`` + ``{split}_labels.npy`` (class ids ``[N]`` or a VOC/COCO matrix ``[N, C]``);
* ``catalog:NAME``: a dataset-catalog entry (``ssl data catalog add``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch
from torch.utils.data import DataLoader

__all__ = [
    "CATALOG_PREFIX",
    "ImageBatches",
    "LabelledImages",
    "checkpoint_classifier",
    "checkpoint_trunk",
    "data_summary",
    "is_builtin_or_catalog",
    "layer_features",
    "load_labelled",
    "load_train_test",
    "normalize_images",
]

CATALOG_PREFIX = "catalog:"
_BUILTIN = ("fashion-mnist", "digits")
# Split names tried, in order, for a preparer's filelist folder (VOC07 SVMs train on trainval).
_FILELIST_SPLITS = {"train": ("trainval", "train"), "test": ("test", "val")}


def is_builtin_or_catalog(data: str) -> bool:
    """True for a data name that is not a path on disk."""
    return data in _BUILTIN or data.startswith(CATALOG_PREFIX)


def checkpoint_trunk(checkpoint: Path, image_size: int) -> tuple[torch.nn.Module, int]:
    """The trunk of an ssl checkpoint and the image side its recipe trained at (or ``image_size``;
    224 when neither says)."""
    from ssl_models import checkpoint as ckpt_format

    payload = ckpt_format.load_checkpoint(checkpoint)
    trunk = ckpt_format.trunk_from_checkpoint(payload)
    recipe_data = ((payload.get("recipe") or {}).get("config") or {}).get("data", {})
    return trunk, image_size or int(recipe_data.get("image_size", 0)) or 224


def checkpoint_classifier(checkpoint: Path) -> torch.nn.Module:
    """``nn.Sequential(trunk, *heads)`` of a checkpoint (e.g. one written by
    ``ssl benchmark finetune --save``): ``[B, 3, H, W] -> [B, num_outputs]``."""
    from ssl_models import checkpoint as ckpt_format

    payload = ckpt_format.load_checkpoint(checkpoint)
    trunk = ckpt_format.trunk_from_checkpoint(payload)
    return torch.nn.Sequential(trunk, *ckpt_format.heads_from_checkpoint(payload)).eval()


@dataclass
class LabelledImages:
    """One split in memory: images uint8 ``[N, 3, S, S]``, targets int64 ``[N]`` (class ids) or
    ``[N, C]`` (a preparer's multi-label matrix as written: VISSL's 1 present / 0 absent /
    -1 difficult, ssl-eval's SVM convention), and where they came from."""

    images: torch.Tensor
    targets: torch.Tensor
    source: str
    classes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def num_classes(self) -> int:
        """Class count: the matrix width, or the largest class id + 1."""
        if self.targets.ndim == 2:
            return int(self.targets.shape[1])
        return int(self.targets.max()) + 1 if len(self) else 0


class ImageBatches:
    """Normalised image batches ``(float [B, 3, S, S], targets [B, ...], dataset indices [B])`` of
    uint8 ``images [N, 3, S, S]`` and ``targets [N, ...]`` held in memory."""

    def __init__(self, images: torch.Tensor, targets: torch.Tensor, batch_size: int) -> None:
        if batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {batch_size}")
        self.images = images
        self.targets = targets
        self.batch_size = batch_size

    def __len__(self) -> int:
        return -(-int(self.images.shape[0]) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        for start in range(0, int(self.images.shape[0]), self.batch_size):
            stop = min(start + self.batch_size, int(self.images.shape[0]))
            yield normalize_images(self.images[start:stop]), self.targets[start:stop], torch.arange(start, stop)

    @classmethod
    def of(cls, split: LabelledImages, batch_size: int) -> ImageBatches:
        """Batches of a :class:`LabelledImages` split."""
        return cls(split.images, split.targets, batch_size)


def _decode(source: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Every item ``(image, label, index)`` of an ssl-data source built with
    :func:`_square_transform`: images uint8 ``[N, 3, S, S]``, labels ``[N]`` (class ids) or
    ``[N, C]`` (a multi-label matrix, one ``[C]`` tensor per item)."""
    images, labels = [], []
    for item in DataLoader(source, batch_size=None):
        images.append(torch.as_tensor(item[0]))
        labels.append(torch.as_tensor(item[1]))
    if not images:
        raise ValueError(f"no images in {getattr(source, 'root', source)}")
    return torch.stack(images), torch.stack(labels)


def _square_transform(size: int) -> Any:
    from torchvision.transforms import v2

    return v2.Compose([v2.ToImage(), v2.RGB(), v2.Resize(size, antialias=True), v2.CenterCrop(size)])


def _filelist_split(root: Path, split: str, size: int) -> LabelledImages:
    import ssl_data

    names = _FILELIST_SPLITS.get(split, (split,))
    for name in names:
        images_npy = root / f"{name}_images.npy"
        if images_npy.is_file():
            break
    else:
        raise FileNotFoundError(f"{root} has no {' or '.join(f'{n}_images.npy' for n in names)}")
    labels_npy = root / f"{name}_labels.npy"
    if not labels_npy.is_file():
        raise FileNotFoundError(f"labels file not found: {labels_npy}")
    # class ids (strings become ids) or a VOC / COCO matrix, used as written (VISSL's 1 / 0 / -1)
    source = ssl_data.FileListSource(images_npy, labels_npy, transform=_square_transform(size))
    if source.labels.dtype.kind not in "iu":
        raise ValueError(f"{labels_npy} must hold class ids [N] or an integer [N, C] matrix")
    images, targets = _decode(source)
    return LabelledImages(images, targets.to(torch.int64), f"{root} ({name})")


def _catalog_split(name: str, split: str, size: int) -> LabelledImages:
    import ssl_data

    entry = ssl_data.catalog_show(name)
    names = [s for s in ({"train": ("train", "trainval")}.get(split, ("test", "val"))) if s in entry]
    if not names:
        raise ValueError(f"catalog dataset {name!r} has splits {', '.join(entry)}, none usable as {split}")
    source = ssl_data.dataset_from_catalog(name, names[0], transform=_square_transform(size))
    images, labels = _decode(source)
    return LabelledImages(images, labels, f"catalog {name} ({names[0]})")


def normalize_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``[B, 3, H, W]`` -> float ``[B, 3, H, W]`` in [0, 1], ImageNet-normalised."""
    from ssl_data.transforms import IMAGENET_MEAN, IMAGENET_STD

    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (images.float() / 255.0 - mean) / std


def load_labelled(data: str, split: str, size: int, limit: int = 0, seed: int = 0) -> LabelledImages:
    """Split ``"train"`` or ``"test"`` of ``data`` (see the module docstring), images ``size`` px,
    decoded into memory (the benchmarks that train on images need random access).

    ``limit`` keeps at most that many images of a class-id split (class-balanced, seeded; 0 = all).
    """
    from ssl_evaluation.suites import feature_batches, open_split

    if data.startswith(CATALOG_PREFIX):
        out = _catalog_split(data[len(CATALOG_PREFIX):], split, size)
    else:
        root = Path(data).expanduser()
        if data not in _BUILTIN and root.is_dir() and any(root.glob("*_images.npy")):
            out = _filelist_split(root, split, size)
        else:
            opened = open_split(data, split, size, limit=limit, seed=seed, normalize=False)
            images = torch.cat([batch[0] for batch in feature_batches(opened, 256)])
            return LabelledImages(images, opened.targets, opened.source, opened.classes)
    if len(out) == 0:
        raise ValueError(f"the {split} split of {data} is empty")
    if limit > 0 and out.targets.ndim == 1 and limit < len(out):
        from ssl_data.sources import data_limit_indices

        keep = data_limit_indices(out.targets.numpy(), limit, seed=seed, balanced=True)
        out = LabelledImages(out.images[keep], out.targets[keep], out.source)
    return out


def load_train_test(
    checkpoint: Path, data: str, image_size: int, limit: int = 0, seed: int = 0
) -> tuple[torch.nn.Module, int, LabelledImages, LabelledImages]:
    """The checkpoint's trunk (eval mode), the image side, and the train and test splits of ``data``
    (``limit`` caps the train split, class-balanced)."""
    trunk, size = checkpoint_trunk(checkpoint, image_size)
    train = load_labelled(data, "train", size, limit=limit, seed=seed)
    test = load_labelled(data, "test", size)
    for name, split in (("train", train), ("test", test)):
        if len(split) == 0:
            raise ValueError(f"the {name} split of {data} is empty")
    return trunk.eval(), size, train, test


def layer_features(trunk: torch.nn.Module, split: LabelledImages, batch_size: int, layer: str) -> torch.Tensor:
    """Features ``[N, D]`` of ``split`` (dataset order): the trunk's pooled output for
    ``res5avg``, else the named layer globally average-pooled."""
    import ssl_evaluation

    batches = ImageBatches.of(split, batch_size)
    if layer == "res5avg":
        return ssl_evaluation.extract_features(trunk, batches)[0]
    return ssl_evaluation.extract_layer_features(trunk, batches, [layer]).features[layer]


def data_summary(data: str, size: int, *splits: tuple[str, LabelledImages]) -> dict[str, Any]:
    """``{"source", "image_size", "<name>_images": N, ...}`` for results.json."""
    out: dict[str, Any] = {"source": splits[0][1].source if splits else data, "image_size": size}
    for name, split in splits:
        out[f"{name}_images"] = len(split)
    return out
