"""ViRB end tasks as `ssl benchmark` suites: ``virb-image`` (classification, counting, egomotion
and regression heads on cached encodings) and ``segmentation`` / ``depth`` (a small decoder on the
frozen trunk's ``conv1..res5`` maps), read from simple folder layouts.

Layouts (``data=DIR``; the test split is ``val`` or else ``test``):

* ``virb-image --task classification``: any classification source of ``ssl benchmark`` (an image
  folder, ``fashion-mnist``, a preparer's filelist folder, ``catalog:NAME``);
* ``--task counting``: an image folder whose class folders are named by the count
  (``DIR/train/0/``, ``DIR/train/3/``, ...);
* ``--task regression``: ``DIR/train.csv`` + ``DIR/val.csv`` (or ``test.csv``), header
  ``image,TARGET[,TARGET...]``, one image path (relative to DIR) and float targets per row; a
  header ``first,second,TARGET...`` reads image pairs whose encodings are concatenated;
* ``--task egomotion``: the same CSVs with ``first,second,TARGET``: one target column of motion
  class ids, or of numbers binned into classes by ``bins``;
* ``segmentation``: ``DIR/{train,val}/images/NAME.png|jpg|...`` + ``DIR/{train,val}/masks/NAME.png``
  (one channel of class ids, 255 = ignore);
* ``depth``: ``DIR/{train,val}/images/NAME.*`` + ``DIR/{train,val}/depth/NAME.png`` (16-bit,
  times ``depth_scale``, default millimetres to metres) or ``NAME.npy`` (float metres); depth
  0 (or not finite) = no depth.

Images are resized (shorter side) to ``image_size`` and centre-cropped square; masks and depth
maps get the same geometry with nearest-neighbour sampling. The trunk never trains.
"""

from __future__ import annotations

import csv
import enum
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ssl_data.sources import open_image

from ssl_evaluation.suites.benchmark_data import BenchmarkSplit
from ssl_evaluation.suites.image_splits import (
    ImageData,
    checked_trunk,
    class_ids_only,
    data_summary,
    layer_features,
    open_train_test,
    suite_result,
)
from ssl_evaluation.progress import ProgressFn, tracked

__all__ = [
    "DepthProtocol", "PixelScheduler", "PixelSplit", "SegmentationProtocol", "TargetTable", "VirbImageProtocol",
    "VirbImageTask", "load_pixel_split", "read_target_table", "run_depth", "run_segmentation", "run_virb_image",
]

_IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
_TARGET_EXTS = {"segmentation": (".png", ".bmp", ".tif", ".tiff"), "depth": (".png", ".npy", ".tif", ".tiff")}
_TARGET_DIR = {"segmentation": "masks", "depth": "depth"}
_LAYOUT = {
    "segmentation": "DIR/{train,val}/images/NAME.png + DIR/{train,val}/masks/NAME.png",
    "depth": "DIR/{train,val}/images/NAME.png + DIR/{train,val}/depth/NAME.png (16-bit) or NAME.npy",
    "table": "DIR/train.csv + DIR/val.csv with a header image,TARGET... or first,second,TARGET...",
}
_GEOMETRY = "shorter side resized to image_size, centre crop; masks / depth nearest-neighbour"


# ---------------------------------------------------------------- images, resized like ssl benchmark's folders


def _square(t: torch.Tensor, size: int, nearest: bool) -> torch.Tensor:
    """``[C, H, W]`` -> ``[C, size, size]``: shorter side to ``size``, centre crop."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional as tvf

    mode = InterpolationMode.NEAREST_EXACT if nearest else InterpolationMode.BILINEAR
    return tvf.center_crop(tvf.resize(t, [size], interpolation=mode, antialias=not nearest), [size, size])


def _read_image(path: Path) -> torch.Tensor:
    """uint8 ``[3, H, W]`` of an image file (any mode, made RGB)."""
    array = np.asarray(open_image(path, rgb=True))
    return torch.from_numpy(array.copy()).permute(2, 0, 1)


def _test_dir(root: Path) -> Path:
    for name in ("val", "test"):
        if (root / name).is_dir():
            return root / name
    raise FileNotFoundError(f"{root} has no val/ or test/ folder")


def _data_root(data: str, layout: str) -> Path:
    root = Path(data).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"data path does not exist: {root} (layout: {layout})")
    if not root.is_dir():
        raise NotADirectoryError(f"data path is not a folder: {root} (layout: {layout})")
    return root


def _normalized(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``[N, 3, S, S]`` -> float ImageNet-normalised (ssl-data's mean and std)."""
    from ssl_data.transforms import IMAGENET_MEAN, IMAGENET_STD

    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (images.float() / 255.0 - mean) / std


def _tensor_features(trunk: nn.Module, images: torch.Tensor, batch_size: int, layer: str,
                     progress: ProgressFn | None = None, stage: str = "features") -> torch.Tensor:
    """Features ``[N, D]`` of uint8 ``images [N, 3, S, S]`` held in memory, ``batch_size`` at a
    time; ``progress(stage, images done, N)``."""
    import ssl_evaluation

    starts = tracked(range(0, len(images), batch_size), stage, len(images), progress,
                     size_of=lambda i: min(batch_size, len(images) - i))
    batches = ((_normalized(images[i : i + batch_size]), torch.zeros(min(batch_size, len(images) - i)),
                torch.arange(i, min(i + batch_size, len(images)))) for i in starts)
    if layer == "res5avg":
        return ssl_evaluation.extract_features(trunk, batches)[0]
    return ssl_evaluation.extract_layer_features(trunk, batches, [layer]).features[layer]


# ---------------------------------------------------------------- pixelwise splits


@dataclass
class PixelSplit:
    """One pixelwise split in memory: images uint8 ``[N, 3, S, S]``, targets int64 ``[N, S, S]``
    class ids (255 = ignore) or float32 ``[N, S, S]`` depth (0 = none), and where they came from."""

    images: torch.Tensor
    targets: torch.Tensor
    source: str

    def __len__(self) -> int:
        return int(self.images.shape[0])


def _read_mask(path: Path) -> np.ndarray:
    with open_image(path, what="mask") as im:
        if im.mode not in ("L", "P", "1") and not im.mode.startswith("I"):
            raise ValueError(
                f"mask {path} must be one channel of class ids (PNG mode L, P or I;16), got mode {im.mode}")
        return np.asarray(im).astype(np.int64)


def _read_depth(path: Path, scale: float) -> np.ndarray:
    if path.suffix.lower() == ".npy":
        array = np.load(path, allow_pickle=False)
        array = array[0] if array.ndim == 3 and array.shape[0] == 1 else array
        if array.ndim != 2 or array.dtype.kind not in "iuf":
            raise ValueError(f"depth map {path} must be a numeric [H, W] array, got {array.dtype} {array.shape}")
        depth = array.astype(np.float32)
    else:
        with open_image(path, what="depth map") as im:
            if im.mode not in ("L", "F") and not im.mode.startswith("I"):
                raise ValueError(f"depth map {path} must be one channel (16-bit PNG), got mode {im.mode}")
            depth = np.asarray(im).astype(np.float32) * (1.0 if im.mode == "F" else scale)
    return np.where(np.isfinite(depth), depth, 0.0).astype(np.float32)


def _target_file(folder: Path, stem: str, task: str, image: Path) -> Path:
    for ext in _TARGET_EXTS[task]:
        if (folder / f"{stem}{ext}").is_file():
            return folder / f"{stem}{ext}"
    what = "mask" if task == "segmentation" else "depth map"
    raise FileNotFoundError(f"no {what} for image {image} (expected {folder / stem}{_TARGET_EXTS[task][0]})")


def load_pixel_split(root: Path, split: str, task: str, size: int, depth_scale: float = 0.001,
                     limit: int = 0, progress: ProgressFn | None = None) -> PixelSplit:
    """Split ``"train"`` or ``"test"`` (``val/``, else ``test/``) of a segmentation or depth folder
    (module docstring), resized to ``size``; ``limit`` keeps the first N images by name (0 = all);
    ``progress(f"images ({split})", read, N)``."""
    folder = root / "train" if split == "train" else _test_dir(root)
    image_dir, target_dir = folder / "images", folder / _TARGET_DIR[task]
    for path in (image_dir, target_dir):
        if not path.is_dir():
            raise FileNotFoundError(f"folder not found: {path} (layout: {_LAYOUT[task]})")
    files = sorted(p for p in image_dir.iterdir() if p.suffix.lower() in _IMAGE_EXTS)
    if not files:
        raise ValueError(f"no images in {image_dir}")
    files = files[:limit] if limit > 0 else files
    images, targets = [], []
    for file in tracked(files, f"images ({split})", len(files), progress):
        target_path = _target_file(target_dir, file.stem, task, file)
        image = _read_image(file)
        target = _read_mask(target_path) if task == "segmentation" else _read_depth(target_path, depth_scale)
        if tuple(target.shape) != tuple(image.shape[1:]):
            raise ValueError(f"{target_path} is {target.shape[1]}x{target.shape[0]} px but its image {file} is "
                             f"{image.shape[2]}x{image.shape[1]} px")
        images.append(_square(image, size, nearest=False))
        targets.append(_square(torch.from_numpy(target).float()[None], size, nearest=True)[0])
    stacked = torch.stack(targets)
    return PixelSplit(torch.stack(images), stacked.long() if task == "segmentation" else stacked, str(folder))


def _pixel_data(data: str, task: str, size: int, depth_scale: float, limit: int,
                progress: ProgressFn | None = None) -> tuple[PixelSplit, PixelSplit]:
    root = _data_root(data, _LAYOUT[task])
    return (load_pixel_split(root, "train", task, size, depth_scale, limit, progress),
            load_pixel_split(root, "test", task, size, depth_scale, progress=progress))


class PixelScheduler(str, enum.Enum):
    """Decoder learning-rate schedule: ``poly`` (per batch, ``poly_power``) or ``constant``."""

    poly = "poly"
    constant = "constant"


@dataclass
class _PixelProtocol:
    image_size: int = 0
    limit: int = 0
    layers: list[str] = field(default_factory=lambda: ["conv1", "res2", "res3", "res4", "res5"])
    batch_size: int = 16
    lr: float = 3e-4
    width: int = 64
    cache_features: bool = True
    seed: int = 0


@dataclass
class SegmentationProtocol(_PixelProtocol):
    """A ``PixelDecoder`` (``width`` channels) on the frozen trunk's ``layers``, Adam, test mIoU.
    ``num_classes`` 0 = the largest mask id + 1 (``ignore_index`` left out); ``limit``: the first
    N train images by name (0 = all).

    Defaults: ViRB's Cityscapes segmentation task (Adam 3e-4, Poly 0.9 per batch, batch 16,
    100 epochs, decoder on conv1..res5 with 64 channels, ignore 255).
    """

    num_classes: int = 0
    ignore_index: int = 255
    epochs: int = 100
    scheduler: PixelScheduler = PixelScheduler.poly
    poly_power: float = 0.9


@dataclass
class DepthProtocol(_PixelProtocol):
    """A ``PixelDecoder`` trained with L1 on pixels with depth > 0; test RMSE / MAE / abs-rel
    (metres) and delta < 1.25 (%). ``depth_scale`` turns integer depth images into metres (0.001:
    millimetres); ``.npy`` maps are read as metres.

    Defaults: ViRB's depth tasks (Adam 3e-4, constant, batch 16, 50 epochs).
    """

    depth_scale: float = 0.001
    epochs: int = 50
    scheduler: PixelScheduler = PixelScheduler.constant


def _pixel_result(checkpoint: Any, data: str, size: int, name: str, train: PixelSplit, test: PixelSplit,
                  scores: dict[str, Any], p: Any, started: float, **constants: Any) -> dict[str, Any]:
    summary = {"name": data, "source": train.source, "image_size": size, "train_images": len(train),
               "test_images": len(test)}
    fixed = {"image_size_used": size, "geometry": _GEOMETRY, "normalisation": "ImageNet mean/std",
             "trunk": "frozen (eval mode)", **constants}
    return suite_result(name, scores, p, summary, checkpoint, started, {**scores.pop("protocol"), **fixed})


def run_segmentation(checkpoint: str | Path | nn.Module, data: str, protocol: SegmentationProtocol | None = None,
                     progress: ProgressFn | None = None) -> dict[str, Any]:
    """ViRB semantic segmentation, ``{metrics: {"segmentation": {"miou", "pixel_accuracy", ...}}, ...}``."""
    import ssl_evaluation

    started, p = time.perf_counter(), protocol or SegmentationProtocol()
    trunk, size = checked_trunk(checkpoint, p.image_size, p.layers, "segmentation")
    train, test = _pixel_data(data, "segmentation", size, 0.001, p.limit, progress)
    classes = p.num_classes or _class_count(p.ignore_index, train, test)
    for split in (train, test):
        bad = (split.targets != p.ignore_index) & ((split.targets < 0) | (split.targets >= classes))
        if bool(bad.any()):
            raise ValueError(f"masks in {split.source} hold class id {int(split.targets[bad][0])}, outside "
                             f"[0, {classes}) and not ignore_index {p.ignore_index}")
    scores = ssl_evaluation.segmentation_task(
        trunk, _normalized(train.images), train.targets, _normalized(test.images), test.targets, classes,
        layers=list(p.layers), epochs=p.epochs, batch_size=p.batch_size, lr=p.lr, scheduler=p.scheduler.value,
        poly_power=p.poly_power, width=p.width, ignore_index=p.ignore_index, cache_features=p.cache_features,
        seed=p.seed, progress=progress,
    )
    return _pixel_result(checkpoint, data, size, "segmentation", train, test, scores, p, started,
                         num_classes_from="num_classes" if p.num_classes else "largest mask id + 1")


def _class_count(ignore_index: int, *splits: PixelSplit) -> int:
    ids = torch.cat([s.targets[s.targets != ignore_index].flatten() for s in splits])
    if ids.numel() == 0:
        raise ValueError(f"every mask pixel is ignore_index {ignore_index}; there is nothing to learn")
    return int(ids.max()) + 1


def run_depth(checkpoint: str | Path | nn.Module, data: str, protocol: DepthProtocol | None = None,
              progress: ProgressFn | None = None) -> dict[str, Any]:
    """ViRB depth estimation, ``{metrics: {"depth": {"rmse", "delta1", ...}}, ...}``."""
    import ssl_evaluation

    started, p = time.perf_counter(), protocol or DepthProtocol()
    if p.depth_scale <= 0:
        raise ValueError(f"depth_scale must be > 0, got {p.depth_scale}")
    trunk, size = checked_trunk(checkpoint, p.image_size, p.layers, "depth")
    train, test = _pixel_data(data, "depth", size, p.depth_scale, p.limit, progress)
    for split in (train, test):
        if not bool((split.targets > 0).any()):
            raise ValueError(f"the depth maps in {split.source} have no valid pixel (every depth is 0)")
    scores = ssl_evaluation.depth_task(
        trunk, _normalized(train.images), train.targets, _normalized(test.images), test.targets,
        layers=list(p.layers), epochs=p.epochs, batch_size=p.batch_size, lr=p.lr, scheduler=p.scheduler.value,
        width=p.width, cache_features=p.cache_features, seed=p.seed, progress=progress,
    )
    return _pixel_result(checkpoint, data, size, "depth", train, test, scores, p, started, depth_units="metres")


# ---------------------------------------------------------------- image-level tasks


@dataclass
class TargetTable:
    """A regression / egomotion CSV: per row one image (``paths [N, 1]``) or a pair
    (``[N, 2]``), float targets ``[N, K]`` named by ``columns``."""

    paths: list[tuple[Path, ...]]
    targets: np.ndarray
    columns: list[str]
    source: Path


def read_target_table(path: Path) -> TargetTable:
    """Read a target CSV (module docstring); paths are relative to the CSV's folder."""
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    header = [h.strip() for h in rows[0]] if rows else []
    keys = ["image"] if "image" in header else ["first", "second"]
    if not all(k in header for k in keys):
        raise ValueError(f"{path}: the header must start with image or first,second, got {','.join(header)!r}")
    columns = [h for h in header if h not in keys]
    if not columns:
        raise ValueError(f"{path}: no target column after {','.join(keys)}")
    paths, targets = [], []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise ValueError(f"{path}:{line}: {len(row)} values but the header has {len(header)}")
        cells = dict(zip(header, (cell.strip() for cell in row)))
        files = tuple(Path(cells[k]) if Path(cells[k]).is_absolute() else path.parent / cells[k] for k in keys)
        for file in files:
            if not file.is_file():
                raise FileNotFoundError(f"{path}:{line}: image not found: {file}")
        try:
            targets.append([float(cells[c]) for c in columns])
        except ValueError:
            raise ValueError(f"{path}:{line}: targets must be numbers, got {[cells[c] for c in columns]}") from None
        paths.append(files)
    if not paths:
        raise ValueError(f"{path} lists no images")
    values = np.asarray(targets, dtype=np.float64)
    if not np.isfinite(values).all():
        raise ValueError(f"{path} has a NaN or infinite target")
    return TargetTable(paths, values, columns, path)


def _table(root: Path, split: str) -> TargetTable:
    names = ("train",) if split == "train" else ("val", "test")
    for name in names:
        if (root / f"{name}.csv").is_file():
            return read_target_table(root / f"{name}.csv")
    raise FileNotFoundError(f"{root} has no {' or '.join(n + '.csv' for n in names)} (layout: {_LAYOUT['table']})")


class VirbImageTask(str, enum.Enum):
    """What the linear head predicts (see the module docstring for each layout)."""

    classification = "classification"
    counting = "counting"
    regression = "regression"
    egomotion = "egomotion"


@dataclass
class VirbImageProtocol(ImageData):
    """ViRB image-level tasks: encode train and test once (``layer``, globally averaged unless
    ``res5avg``), train a linear head on the standardised encodings, score test.

    ``classification`` / ``counting`` / ``egomotion``: Adam at ``lr``, constant, batch
    ``head_batch_size``, ``epochs``, cross-entropy; egomotion classifies the concatenated pair
    encodings. ``regression``: ``solver`` ``ridge`` (closed form, penalty ``alpha``) or ``adam``.
    ``bins``: egomotion edges turning a continuous motion column into classes (``[-15, 15]`` -> 3
    classes). ``limit`` caps the train images (class-balanced) or CSV rows (the first N).

    Defaults: ViRB's end-task heads (Adam 1e-4, batch 32, 100 epochs on the pooled encoding).
    """

    task: VirbImageTask = VirbImageTask.classification
    layer: str = "res5avg"
    epochs: int = 100
    lr: float = 1e-4
    head_batch_size: int = 32
    solver: str = "ridge"
    alpha: float = 1.0
    bins: list[float] = field(default_factory=list)


def _class_folders(data: str, size: int, p: VirbImageProtocol, counting: bool) -> tuple[BenchmarkSplit, BenchmarkSplit, str]:
    """Train / test of an image folder with ``targets`` relabelled from the class folder names: the
    count (``counting``) or the index in the sorted union of both splits' names."""
    train, test = open_train_test(data, size, p)
    names = sorted(set(train.classes) | set(test.classes))
    if counting:
        bad = [n for n in names if not n.isdigit()]
        if bad:
            raise ValueError(f"counting needs class folders named by the count (0, 1, 2, ...), but {data} has "
                             f"{', '.join(repr(b) for b in bad[:5])}")
        label = {n: int(n) for n in names}
    else:
        label = {n: i for i, n in enumerate(names)}
    for split in (train, test):
        split.targets = torch.tensor([label[split.classes[i]] for i in split.targets.tolist()], dtype=torch.int64)
    rule = "count = class folder name" if counting else "class = index of the folder name in both splits"
    return train, test, rule


def _is_plain_folder(data: str) -> bool:
    root = Path(data).expanduser()
    return root.is_dir() and not any(root.glob("*_images.npy"))


def _class_encodings(trunk: nn.Module, data: str, size: int, p: VirbImageProtocol, constants: dict[str, Any],
                     progress: ProgressFn | None) -> tuple[Any, ...]:
    """classification / counting: labelled image splits, features streamed."""
    counting = p.task == VirbImageTask.counting
    if counting:
        _data_root(data, "DIR/{train,val}/COUNT/*.png")
        if not _is_plain_folder(data):
            raise ValueError(f"counting needs an image folder whose class folders are the counts, got {data!r}")
    if _is_plain_folder(data):
        train, test, constants["labels"] = _class_folders(data, size, p, counting)
    else:
        train, test = open_train_test(data, size, p)
        class_ids_only("classification", train, test)
    train_x = layer_features(trunk, train, p.batch_size, p.layer, progress, "features (train)")
    test_x = layer_features(trunk, test, p.batch_size, p.layer, progress, "features (test)")
    return train_x, train.targets, test_x, test.targets, data_summary(data, size, train=train, test=test)


def _table_encodings(trunk: nn.Module, data: str, size: int, p: VirbImageProtocol, constants: dict[str, Any],
                     progress: ProgressFn | None) -> tuple[Any, ...]:
    """regression / egomotion: target CSVs of images or image pairs; ``progress`` of the images
    read and encoded, ``images (train|test)`` and ``features (train|test)``."""
    root = _data_root(data, _LAYOUT["table"])
    train, test = _table(root, "train"), _table(root, "test")
    if p.limit > 0:
        train = TargetTable(train.paths[: p.limit], train.targets[: p.limit], train.columns, train.source)
    pairs = len(train.paths[0]) == 2
    if test.columns != train.columns or len(test.paths[0]) != len(train.paths[0]):
        raise ValueError(f"{train.source} and {test.source} have different headers")
    if p.task == VirbImageTask.egomotion and (not pairs or len(train.columns) != 1):
        raise ValueError(f"egomotion needs a header first,second,TARGET (one target column) in {train.source}")

    def encode(table: TargetTable, split: str) -> torch.Tensor:
        """Encodings ``[N, D]`` (image rows) or ``[N, 2, D]`` (pairs); every file is encoded once."""
        unique = sorted({f for row in table.paths for f in row})
        index = {f: i for i, f in enumerate(unique)}
        read = tracked(unique, f"images ({split})", len(unique), progress)
        images = torch.stack([_square(_read_image(f), size, nearest=False) for f in read])
        features = _tensor_features(trunk, images, p.batch_size, p.layer, progress, f"features ({split})")
        rows = torch.tensor([[index[f] for f in row] for row in table.paths])
        return features[rows[:, 0]] if rows.shape[1] == 1 else features[rows]

    train_x, test_x = encode(train, "train"), encode(test, "test")
    if p.task == VirbImageTask.regression:
        train_x, test_x = train_x.flatten(1), test_x.flatten(1)  # pairs: [first, second]
        train_y, test_y = torch.from_numpy(train.targets), torch.from_numpy(test.targets)
    else:
        train_y, test_y = _motion_classes(train, list(p.bins)), _motion_classes(test, list(p.bins))
    constants.update(targets=train.columns, pairs=pairs)
    summary = {"name": data, "source": str(root), "image_size": size, "train_rows": len(train.paths),
               "test_rows": len(test.paths)}
    return train_x, train_y, test_x, test_y, summary


def run_virb_image(checkpoint: str | Path | nn.Module, data: str, protocol: VirbImageProtocol | None = None,
                   progress: ProgressFn | None = None) -> dict[str, Any]:
    """``{metrics: {"virb-image": {"top1" | "count_mae" | "rmse", ...}}, ...}``."""
    import ssl_evaluation

    started, p = time.perf_counter(), protocol or VirbImageProtocol()
    if p.bins and p.task != VirbImageTask.egomotion:
        raise ValueError("bins only applies to task=egomotion")
    needed = [] if p.layer == "res5avg" else [p.layer]  # res5avg = the pooled output of any trunk
    trunk, size = checked_trunk(checkpoint, p.image_size, needed, f"virb-image layer={p.layer}")
    pooled = "trunk pooled output" if p.layer == "res5avg" else f"{p.layer}, global average"
    constants: dict[str, Any] = {"image_size_used": size, "features": pooled}
    if p.task in (VirbImageTask.classification, VirbImageTask.counting):
        train_x, train_y, test_x, test_y, summary = _class_encodings(trunk, data, size, p, constants, progress)
    else:
        train_x, train_y, test_x, test_y, summary = _table_encodings(trunk, data, size, p, constants, progress)
    scores = ssl_evaluation.image_task(
        train_x, train_y, test_x, test_y, kind=p.task.value, epochs=p.epochs, batch_size=p.head_batch_size,
        configs=[ssl_evaluation.HeadConfig("adam", p.lr, "constant")], solver=p.solver, alpha=p.alpha, lr=p.lr,
        seed=p.seed, progress=progress,
    )
    return suite_result("virb-image", scores, p, summary, checkpoint, started, {**scores.pop("protocol"), **constants})


def _motion_classes(table: TargetTable, edges: list[float]) -> torch.Tensor:
    """Egomotion class ids ``[N]``: the target column binned by ``edges``, or read as class ids."""
    import ssl_evaluation

    values = torch.from_numpy(table.targets[:, 0])
    if edges:
        return ssl_evaluation.motion_bins(values, edges)
    if bool((values < 0).any()) or bool((values != values.round()).any()):
        raise ValueError(f"egomotion targets in {table.source} must be class ids (integers >= 0); "
                         "set bins=[EDGES] to bin continuous motion")
    return values.long()
