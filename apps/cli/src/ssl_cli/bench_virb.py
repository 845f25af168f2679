"""ViRB end tasks as `ssl benchmark` suites: ``virb-image`` (classification, counting, egomotion
and regression heads on cached encodings) and ``segmentation`` / ``depth`` (a small decoder on the
frozen trunk's ``conv1..res5`` maps), read from simple folder layouts.

Layouts (``--data DIR``; the test split is ``val`` or else ``test``):

* ``virb-image --task classification``: any classification source of ``ssl benchmark`` (an image
  folder, ``fashion-mnist``, a preparer's filelist folder, ``catalog:NAME``);
* ``--task counting``: an image folder whose class folders are named by the count
  (``DIR/train/0/``, ``DIR/train/3/``, ...);
* ``--task regression``: ``DIR/train.csv`` + ``DIR/val.csv`` (or ``test.csv``), header
  ``image,TARGET[,TARGET...]``, one image path (relative to DIR) and float targets per row; a
  header ``first,second,TARGET...`` reads image pairs whose encodings are concatenated;
* ``--task egomotion``: the same CSVs with ``first,second,TARGET``: one target column of motion
  class ids, or of numbers binned into classes by ``--bins``;
* ``segmentation``: ``DIR/{train,val}/images/NAME.png|jpg|...`` + ``DIR/{train,val}/masks/NAME.png``
  (one channel of class ids, 255 = ignore);
* ``depth``: ``DIR/{train,val}/images/NAME.*`` + ``DIR/{train,val}/depth/NAME.png`` (16-bit,
  times ``--depth-scale``, default millimetres to metres) or ``NAME.npy`` (float metres); depth
  0 (or not finite) = no depth.

Images are resized (shorter side) to ``--image-size`` and centre-cropped square; masks and depth
maps get the same geometry with nearest-neighbour sampling. The trunk never trains.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ssl_cli.bench_data import (
    LabelledImages,
    checkpoint_trunk,
    data_summary,
    layer_features,
    load_labelled,
    normalize_images,
)
from ssl_cli.bench_options import parse_list
from ssl_cli.errors import UsageError

__all__ = [
    "PixelSplit", "TargetTable", "load_pixel_split", "read_target_table", "run_depth", "run_segmentation",
    "run_virb_image",
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
    try:
        with Image.open(path) as im:
            array = np.asarray(im.convert("RGB"))
    except OSError as exc:
        raise ValueError(f"cannot read image {path}: {exc}") from None
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


def _checked_trunk(checkpoint: Path, image_size: int, layers: list[str], what: str) -> tuple[torch.nn.Module, int]:
    """The checkpoint's trunk (eval mode) and image side; one clear error when it lacks ``layers``."""
    trunk, size = checkpoint_trunk(checkpoint, image_size)
    known = list(trunk.feature_names()) if hasattr(trunk, "feature_names") else []
    missing = [name for name in layers if name not in known]
    if missing:
        raise UsageError(
            f"the trunk of {checkpoint} ({getattr(trunk, 'name', type(trunk).__name__)}) has no layer(s) "
            f"{', '.join(missing)} needed by {what}; it has {', '.join(known) or 'no named layers'}")
    return trunk.eval(), size


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
    with Image.open(path) as im:
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
        with Image.open(path) as im:
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
                     limit: int = 0) -> PixelSplit:
    """Split ``"train"`` or ``"test"`` (``val/``, else ``test/``) of a segmentation or depth folder
    (module docstring), resized to ``size``; ``limit`` keeps the first N images by name (0 = all)."""
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
    for file in files:
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


def _pixel_data(data: str, task: str, size: int, depth_scale: float, limit: int) -> tuple[PixelSplit, PixelSplit]:
    root = _data_root(data, _LAYOUT[task])
    return (load_pixel_split(root, "train", task, size, depth_scale, limit),
            load_pixel_split(root, "test", task, size, depth_scale))


def _pixel_result(checkpoint: Path, data: str, size: int, name: str, train: PixelSplit, test: PixelSplit,
                  scores: dict[str, Any], **constants: Any) -> dict[str, Any]:
    protocol = {**scores.pop("protocol"), "image_size": size, "geometry": _GEOMETRY,
                "normalisation": "ImageNet mean/std", "trunk": "frozen (eval mode)", **constants}
    return {
        "checkpoint": str(checkpoint),
        "data": data_summary(data, size, ("train", train), ("test", test)),  # type: ignore[arg-type]
        "benchmarks": {name: scores},
        "protocol": {name: protocol},
    }


def run_segmentation(
    checkpoint: Path,
    data: str,
    *,
    image_size: int = 0,
    limit: int = 0,
    layers: str = "conv1,res2,res3,res4,res5",
    num_classes: int = 0,
    ignore_index: int = 255,
    epochs: int = 100,
    batch_size: int = 16,
    lr: float = 3e-4,
    scheduler: str = "poly",
    poly_power: float = 0.9,
    width: int = 64,
    cache_features: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """ViRB semantic segmentation: a ``PixelDecoder`` on the frozen trunk's maps, Adam, test mIoU.

    ``num_classes`` 0 = the largest class id in the train and test masks + 1 (``ignore_index``
    left out). Defaults are ViRB's Cityscapes task (Adam 3e-4, Poly 0.9, batch 16, 100 epochs).
    """
    import ssl_evaluation

    names = parse_list(layers, str, "--layers")
    trunk, size = _checked_trunk(checkpoint, image_size, names, "segmentation")
    train, test = _pixel_data(data, "segmentation", size, 0.001, limit)
    classes = num_classes or _class_count(ignore_index, train, test)
    for split in (train, test):
        bad = (split.targets != ignore_index) & ((split.targets < 0) | (split.targets >= classes))
        if bool(bad.any()):
            raise UsageError(f"masks in {split.source} hold class id {int(split.targets[bad][0])}, outside "
                             f"[0, {classes}) and not --ignore-index {ignore_index}")
    scores = ssl_evaluation.segmentation_task(
        trunk, normalize_images(train.images), train.targets, normalize_images(test.images),
        test.targets, classes, layers=names, epochs=epochs, batch_size=batch_size, lr=lr, scheduler=scheduler,
        poly_power=poly_power, width=width, ignore_index=ignore_index, cache_features=cache_features, seed=seed,
    )
    return _pixel_result(checkpoint, data, size, "segmentation", train, test, scores,
                         num_classes_from="--num-classes" if num_classes else "largest mask id + 1", seed=seed)


def _class_count(ignore_index: int, *splits: PixelSplit) -> int:
    ids = torch.cat([s.targets[s.targets != ignore_index].flatten() for s in splits])
    if ids.numel() == 0:
        raise UsageError(f"every mask pixel is --ignore-index {ignore_index}; there is nothing to learn")
    return int(ids.max()) + 1


def run_depth(
    checkpoint: Path,
    data: str,
    *,
    image_size: int = 0,
    limit: int = 0,
    layers: str = "conv1,res2,res3,res4,res5",
    depth_scale: float = 0.001,
    epochs: int = 50,
    batch_size: int = 16,
    lr: float = 3e-4,
    scheduler: str = "constant",
    width: int = 64,
    cache_features: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """ViRB depth estimation: a ``PixelDecoder`` on the frozen trunk's maps trained with L1 on
    pixels with depth > 0; test RMSE / MAE / abs-rel (metres) and delta < 1.25 (%).

    ``depth_scale`` turns integer depth images into metres (0.001: millimetres); ``.npy`` maps are
    read as metres. Defaults are ViRB's depth task (Adam 3e-4, constant, batch 16, 50 epochs).
    """
    import ssl_evaluation

    if depth_scale <= 0:
        raise UsageError(f"--depth-scale must be > 0, got {depth_scale}")
    names = parse_list(layers, str, "--layers")
    trunk, size = _checked_trunk(checkpoint, image_size, names, "depth")
    train, test = _pixel_data(data, "depth", size, depth_scale, limit)
    for split in (train, test):
        if not bool((split.targets > 0).any()):
            raise UsageError(f"the depth maps in {split.source} have no valid pixel (every depth is 0)")
    scores = ssl_evaluation.depth_task(
        trunk, normalize_images(train.images), train.targets, normalize_images(test.images),
        test.targets, layers=names, epochs=epochs, batch_size=batch_size, lr=lr, scheduler=scheduler, width=width,
        cache_features=cache_features, seed=seed,
    )
    return _pixel_result(checkpoint, data, size, "depth", train, test, scores, depth_units="metres",
                         depth_scale=depth_scale, seed=seed)


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


def _class_folders(data: str, size: int, limit: int, seed: int, counting: bool) -> tuple[Any, Any, str]:
    """Train / test of an image folder with labels read from the class folder names: the count
    (``counting``) or the index in the sorted union of both splits' names."""
    train = load_labelled(data, "train", size, limit=limit, seed=seed)
    test = load_labelled(data, "test", size)  # the held-out part does not depend on the seed
    names = sorted(set(train.classes) | set(test.classes))
    if counting:
        bad = [n for n in names if not n.isdigit()]
        if bad:
            raise UsageError(f"counting needs class folders named by the count (0, 1, 2, ...), but {data} has "
                             f"{', '.join(repr(b) for b in bad[:5])}")
        label = {n: int(n) for n in names}
    else:
        label = {n: i for i, n in enumerate(names)}
    for split in (train, test):
        split.targets = torch.tensor([label[split.classes[i]] for i in split.targets.tolist()], dtype=torch.int64)
    rule = "count = class folder name" if counting else "class = index of the folder name in both splits"
    return (LabelledImages(train.images, train.targets, train.source),
            LabelledImages(test.images, test.targets, test.source), rule)


def _is_plain_folder(data: str) -> bool:
    root = Path(data).expanduser()
    return root.is_dir() and not any(root.glob("*_images.npy"))


@dataclass
class _Encoder:
    """Encodes a virb-image data source once; ``constants`` collects what the protocol records."""

    trunk: torch.nn.Module
    size: int
    layer: str
    batch_size: int
    constants: dict[str, Any]

    def features(self, split: LabelledImages) -> torch.Tensor:
        return layer_features(self.trunk, split, self.batch_size, self.layer)


class _ClassEncoder(_Encoder):
    """classification / counting: labelled image splits."""

    def run(self, data: str, task: str, limit: int, seed: int, edges: list[float]) -> tuple[Any, ...]:
        if task == "counting":
            _data_root(data, "DIR/{train,val}/COUNT/*.png")
            if not _is_plain_folder(data):
                raise UsageError(f"counting needs an image folder whose class folders are the counts, got {data!r}")
        if _is_plain_folder(data):
            train, test, self.constants["labels"] = _class_folders(data, self.size, limit, seed, task == "counting")
        else:
            train, test = load_labelled(data, "train", self.size, limit, seed), load_labelled(data, "test", self.size)
            if train.targets.ndim != 1:
                raise UsageError(f"classification needs class ids, but {train.source} has a [N, C] label matrix")
        summary = data_summary(data, self.size, ("train", train), ("test", test))
        return self.features(train), train.targets, self.features(test), test.targets, summary


class _TableEncoder(_Encoder):
    """regression / egomotion: target CSVs of images or image pairs."""

    def run(self, data: str, task: str, limit: int, seed: int, edges: list[float]) -> tuple[Any, ...]:
        root = _data_root(data, _LAYOUT["table"])
        train, test = _table(root, "train"), _table(root, "test")
        if limit > 0:
            train = TargetTable(train.paths[:limit], train.targets[:limit], train.columns, train.source)
        pairs = len(train.paths[0]) == 2
        if test.columns != train.columns or len(test.paths[0]) != len(train.paths[0]):
            raise UsageError(f"{train.source} and {test.source} have different headers")
        if task == "egomotion" and (not pairs or len(train.columns) != 1):
            raise UsageError(f"egomotion needs a header first,second,TARGET (one target column) in {train.source}")
        train_x, test_x = self.encode(train), self.encode(test)
        if task == "regression":
            train_x, test_x = train_x.flatten(1), test_x.flatten(1)  # pairs: [first, second]
            train_y, test_y = torch.from_numpy(train.targets), torch.from_numpy(test.targets)
        else:
            train_y, test_y = _motion_classes(train, edges), _motion_classes(test, edges)
            self.constants["bins"] = edges or None
        self.constants.update(targets=train.columns, pairs=pairs)
        summary = {"source": str(root), "image_size": self.size, "train_rows": len(train.paths),
                   "test_rows": len(test.paths)}
        return train_x, train_y, test_x, test_y, summary

    def encode(self, table: TargetTable) -> torch.Tensor:
        """Encodings ``[N, D]`` (image rows) or ``[N, 2, D]`` (pairs); every file is encoded once."""
        unique = sorted({p for row in table.paths for p in row})
        index = {p: i for i, p in enumerate(unique)}
        images = torch.stack([_square(_read_image(p), self.size, nearest=False) for p in unique])
        features = self.features(LabelledImages(images, torch.arange(len(unique)), str(table.source)))
        rows = torch.tensor([[index[p] for p in row] for row in table.paths])
        return features[rows[:, 0]] if rows.shape[1] == 1 else features[rows]


def run_virb_image(
    checkpoint: Path,
    data: str,
    *,
    task: str = "classification",
    image_size: int = 0,
    limit: int = 0,
    layer: str = "res5avg",
    epochs: int = 100,
    lr: float = 1e-4,
    head_batch_size: int = 32,
    solver: str = "ridge",
    alpha: float = 1.0,
    bins: str = "",
    batch_size: int = 256,
    seed: int = 0,
) -> dict[str, Any]:
    """ViRB image-level tasks: encode train and test once (``layer``, globally averaged unless
    ``res5avg``), train a linear head on the standardised encodings, score test.

    ``classification`` / ``counting`` / ``egomotion``: Adam at ``lr`` (ViRB: 1e-4), constant, batch
    ``head_batch_size`` (32), ``epochs`` (100), cross-entropy; egomotion classifies the concatenated
    pair encodings. ``regression``: ``solver`` ``ridge`` (closed form, penalty ``alpha``) or
    ``adam`` (``epochs`` at ``lr`` on the MSE). ``bins``: egomotion edges turning a continuous
    motion column into classes (``"-15,15"`` -> 3 classes). ``limit`` caps the train images
    (class-balanced) or CSV rows (the first N).
    """
    import ssl_evaluation
    from ssl_evaluation.virb import IMAGE_TASK_KINDS as kinds

    if task not in kinds:
        raise UsageError(f"--task must be one of {', '.join(kinds)}, got {task!r}")
    if bins and task != "egomotion":
        raise UsageError("--bins only applies to --task egomotion")
    edges = parse_list(bins, float, "--bins", allow_empty=True)
    needed = [] if layer == "res5avg" else [layer]  # res5avg = the pooled output of any trunk
    trunk, size = _checked_trunk(checkpoint, image_size, needed, f"virb-image --layer {layer}")
    pooled = "trunk pooled output" if layer == "res5avg" else f"{layer}, global average"
    constants: dict[str, Any] = {"task": task, "layer": layer, "image_size": size, "features": pooled}
    encode = _ClassEncoder if task in ("classification", "counting") else _TableEncoder
    train_x, train_y, test_x, test_y, summary = encode(trunk, size, layer, batch_size, constants).run(
        data, task, limit, seed, edges)
    scores = ssl_evaluation.image_task(
        train_x, train_y, test_x, test_y, kind=task, epochs=epochs, batch_size=head_batch_size,
        configs=[ssl_evaluation.HeadConfig("adam", lr, "constant")], solver=solver, alpha=alpha, lr=lr, seed=seed,
    )
    return {
        "checkpoint": str(checkpoint),
        "data": summary,
        "benchmarks": {"virb-image": scores},
        "protocol": {"virb-image": {**scores.pop("protocol"), **constants}},  # type: ignore[dict-item]
    }


def _motion_classes(table: TargetTable, edges: list[float]) -> torch.Tensor:
    """Egomotion class ids ``[N]``: the target column binned by ``edges``, or read as class ids."""
    import ssl_evaluation

    values = torch.from_numpy(table.targets[:, 0])
    if edges:
        return ssl_evaluation.motion_bins(values, edges)
    if bool((values < 0).any()) or bool((values != values.round()).any()):
        raise UsageError(f"egomotion targets in {table.source} must be class ids (integers >= 0); "
                         "give --bins EDGES to bin continuous motion")
    return values.long()
