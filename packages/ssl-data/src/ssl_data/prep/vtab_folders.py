"""VTAB/CLIP-style datasets converted to VISSL's disk_folder layout (``OUT/{split}/{class}/{img}``).

Each preparer reports ``progress(f"images ({split})", linked or copied, N)``; dSprites first
``progress("PNGs", written, N)``, KITTI ``progress("label files", read, N)``."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ssl_data.prep._roots import find_root
from ssl_data.prep.outputs import list_images, require_dir, require_file, write_disk_folder
from ssl_data.progress import ProgressFn, tracked

__all__ = [
    "caltech101",
    "dsprites_location",
    "dsprites_orientation",
    "dtd",
    "euro_sat",
    "fgvc_aircraft",
    "food101",
    "gtsrb",
    "kitti_dist",
    "oxford_flowers",
    "oxford_pets",
    "stanford_cars",
]


def _lines(path: Path) -> list[str]:
    return [ln.strip() for ln in require_file(path, "split file").read_text().splitlines() if ln.strip()]


def dtd(input_path: Path, output_dir: Path, partition: int = 1, progress: ProgressFn | None = None) -> dict[str, Any]:
    """DTD (``dtd/images/{class}/*.jpg``, ``dtd/labels/{train,val,test}{p}.txt``) -> ``train/``
    (train + val of partition p) and ``test/``."""
    root = find_root(input_path, "labels", ("dtd",))

    def items(files: Iterable[str]) -> list[tuple[Path, str]]:
        return [(root / "images" / rel, rel.split("/")[0]) for f in files for rel in _lines(root / "labels" / f)]

    return write_disk_folder(Path(output_dir), {
        "train": items([f"train{partition}.txt", f"val{partition}.txt"]), "test": items([f"test{partition}.txt"]),
    }, progress)  # fmt: skip


def food101(input_path: Path, output_dir: Path, progress: ProgressFn | None = None) -> dict[str, Any]:
    """Food-101 (``food-101/images/{class}/{id}.jpg``, ``meta/{train,test}.txt`` of "class/id")
    -> ``train/`` and ``val/`` (the official test split)."""
    root = find_root(input_path, "meta", ("food-101",))

    def items(split: str) -> list[tuple[Path, str]]:
        return [(root / "images" / f"{rel}.jpg", rel.split("/")[0]) for rel in _lines(root / "meta" / f"{split}.txt")]

    return write_disk_folder(Path(output_dir), {"train": items("train"), "val": items("test")}, progress)


def oxford_pets(input_path: Path, output_dir: Path, progress: ProgressFn | None = None) -> dict[str, Any]:
    """Oxford-IIIT Pets (``images/*.jpg``, ``annotations/{trainval,test}.txt`` of
    "Name_123 class species breed") -> ``train/`` (trainval) and ``test/``, one folder per breed."""
    root = find_root(input_path, "annotations", ("oxford-iiit-pet",))

    def items(split: str) -> list[tuple[Path, str]]:
        names = [ln.split()[0] for ln in _lines(root / "annotations" / f"{split}.txt") if not ln.startswith("#")]
        return [(root / "images" / f"{n}.jpg", n.rsplit("_", 1)[0]) for n in names]

    return write_disk_folder(Path(output_dir), {"train": items("trainval"), "test": items("test")}, progress)


def _class_folders(root: Path) -> dict[str, list[Path]]:
    classes = {c.name: list_images(c) for c in sorted(root.iterdir()) if c.is_dir()}
    if not classes:
        raise ValueError(f"no class folders in {root}")
    return classes


def _split_per_class(classes: dict[str, list[Path]], first: str, second: str, n_first: Any, seed: int) -> dict[str, list[tuple[Path, str]]]:
    """Seeded per-class split: ``n_first(count)`` images of each class go to ``first``."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[tuple[Path, str]]] = {first: [], second: []}
    for name, imgs in classes.items():
        order = rng.permutation(len(imgs))
        cut = n_first(len(imgs))
        out[first] += [(imgs[i], name) for i in order[:cut]]
        out[second] += [(imgs[i], name) for i in order[cut:]]
    return out


def euro_sat(input_path: Path, output_dir: Path, val_fraction: float = 0.2, seed: int = 0, progress: ProgressFn | None = None) -> dict[str, Any]:
    """EuroSAT RGB (``2750/{class}/*.jpg``) -> seeded per-class ``train/`` / ``val/`` split."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    root = find_root(input_path, "AnnualCrop", ("2750", "EuroSAT", "eurosat/2750"))
    split = _split_per_class(_class_folders(root), "train", "val", lambda n: n - int(round(n * val_fraction)), seed)
    return write_disk_folder(Path(output_dir), split, progress)


def caltech101(input_path: Path, output_dir: Path, train_per_class: int = 30, seed: int = 0, progress: ProgressFn | None = None) -> dict[str, Any]:
    """Caltech-101 (``101_ObjectCategories/{class}/*.jpg``, BACKGROUND_Google dropped) -> seeded
    ``train/`` (``train_per_class`` images per class, VTAB's 30) and ``test/`` (the rest)."""
    root = find_root(input_path, "101_ObjectCategories", ("caltech101",)) / "101_ObjectCategories"
    classes = {k: v for k, v in _class_folders(root).items() if k != "BACKGROUND_Google"}
    return write_disk_folder(Path(output_dir), _split_per_class(classes, "train", "test", lambda n: min(n, train_per_class), seed), progress)


def fgvc_aircraft(input_path: Path, output_dir: Path, annotation: str = "variant", progress: ProgressFn | None = None) -> dict[str, Any]:
    """FGVC-Aircraft 2013b (``data/images/{id}.jpg``, ``data/images_{annotation}_{trainval,test}.txt``
    of "id label") -> ``trainval/`` and ``test/`` ("/" in labels becomes "_")."""
    if annotation not in ("variant", "family", "manufacturer"):
        raise ValueError(f"annotation must be variant, family or manufacturer, got {annotation!r}")
    root = find_root(input_path, "data", ("fgvc-aircraft-2013b",)) / "data"

    def items(split: str) -> list[tuple[Path, str]]:
        pairs = [ln.split(" ", 1) for ln in _lines(root / f"images_{annotation}_{split}.txt")]
        return [(root / "images" / f"{i}.jpg", label) for i, label in pairs]

    return write_disk_folder(Path(output_dir), {"trainval": items("trainval"), "test": items("test")}, progress)


def gtsrb(input_path: Path, output_dir: Path, progress: ProgressFn | None = None) -> dict[str, Any]:
    """GTSRB (``GTSRB/Final_Training/Images/{class:05d}/*.ppm``; test images
    ``GTSRB/Final_Test/Images/*.ppm`` with ``GT-final_test.csv`` "Filename;...;ClassId") ->
    ``train/`` and ``test/`` with class folders named by class id."""
    root = find_root(input_path, "Final_Training", ("GTSRB",))
    train_root = require_dir(root / "Final_Training" / "Images", "GTSRB training images")
    train = [(p, str(int(c.name))) for c in sorted(train_root.iterdir()) if c.is_dir() for p in list_images(c)]
    test_dir = require_dir(root / "Final_Test" / "Images", "GTSRB test images")
    gt = next((p for p in (test_dir / "GT-final_test.csv", root / "GT-final_test.csv", Path(input_path) / "GT-final_test.csv") if p.is_file()), None)
    if gt is None:
        raise FileNotFoundError(f"GTSRB test labels not found: {test_dir / 'GT-final_test.csv'}")
    with gt.open(newline="") as f:
        test = [(test_dir / row["Filename"], str(int(row["ClassId"]))) for row in csv.DictReader(f, delimiter=";")]
    return write_disk_folder(Path(output_dir), {"train": train, "test": test}, progress)


def oxford_flowers(input_path: Path, output_dir: Path, progress: ProgressFn | None = None) -> dict[str, Any]:
    """Oxford Flowers-102 (``jpg/image_00001.jpg``, ``imagelabels.mat`` "labels" 1..102,
    ``setid.mat`` trnid/valid/tstid) -> ``train/`` (trn + val) and ``test/``. Needs scipy."""
    from scipy.io import loadmat

    root = find_root(input_path, "setid.mat", ("flowers-102", "flowers"))
    labels = loadmat(require_file(root / "imagelabels.mat", "Flowers labels"))["labels"].ravel()
    setid = loadmat(root / "setid.mat")

    def items(keys: tuple[str, ...]) -> list[tuple[Path, str]]:
        ids = [int(i) for k in keys for i in setid[k].ravel()]
        return [(root / "jpg" / f"image_{i:05d}.jpg", str(int(labels[i - 1]) - 1)) for i in ids]

    return write_disk_folder(Path(output_dir), {"train": items(("trnid", "valid")), "test": items(("tstid",))}, progress)


def _dsprites(input_path: Path, output_dir: Path, latent: int, num_bins: int, num_values: int, num_train: int, num_val: int, seed: int, progress: ProgressFn | None = None) -> dict[str, Any]:
    base = Path(input_path)
    npz = base if base.is_file() else next(iter(sorted(base.glob("dsprites*.npz"))), None)
    if npz is None:
        raise FileNotFoundError(f"dSprites .npz not found: {base / 'dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz'}")
    data = np.load(npz, allow_pickle=False)
    imgs, classes = data["imgs"], data["latents_classes"]
    if num_train + num_val > len(imgs):
        raise ValueError(f"num_train + num_val = {num_train + num_val} > {len(imgs)} images in {npz}")
    order = np.random.default_rng(seed).permutation(len(imgs))[: num_train + num_val]
    tmp_root = Path(output_dir) / ".dsprites_png"
    tmp_root.mkdir(parents=True, exist_ok=True)
    splits: dict[str, list[tuple[Path, str]]] = {"train": [], "val": []}
    for rank, i in enumerate(tracked(order, "PNGs", len(order), progress)):
        png = tmp_root / f"{int(i):06d}.png"
        Image.fromarray((imgs[i] * 255).astype(np.uint8)).save(png)
        label = str(int(classes[i, latent]) * num_bins // num_values)
        splits["train" if rank < num_train else "val"].append((png, label))
    try:
        return write_disk_folder(Path(output_dir), splits, progress)
    finally:
        for p in tmp_root.iterdir():
            p.unlink()
        tmp_root.rmdir()


def dsprites_location(input_path: Path, output_dir: Path, num_train: int = 50000, num_val: int = 10000, seed: int = 0, progress: ProgressFn | None = None) -> dict[str, Any]:
    """dSprites (the official .npz) -> disk_folder with the x position (32 values) in 16 classes
    (VTAB), a seeded random subset of ``num_train`` + ``num_val`` images written as PNG."""
    return _dsprites(input_path, output_dir, 4, 16, 32, num_train, num_val, seed, progress)


def dsprites_orientation(input_path: Path, output_dir: Path, num_train: int = 50000, num_val: int = 10000, seed: int = 0, progress: ProgressFn | None = None) -> dict[str, Any]:
    """dSprites -> disk_folder with the orientation (40 values) in 16 classes (VTAB)."""
    return _dsprites(input_path, output_dir, 3, 16, 40, num_train, num_val, seed, progress)


def stanford_cars(input_path: Path, output_dir: Path, progress: ProgressFn | None = None) -> dict[str, Any]:
    """Stanford Cars (``devkit/cars_meta.mat`` class_names, ``devkit/cars_train_annos.mat`` and
    ``cars_test_annos_withlabels.mat`` with fname/class, images in ``cars_train/`` and
    ``cars_test/``) -> ``train/`` and ``val/`` (the test set), one folder per class name.
    Needs scipy."""
    from scipy.io import loadmat

    root = find_root(input_path, "devkit", ("stanford_cars", "cars"))
    names = [str(n) for n in loadmat(require_file(root / "devkit" / "cars_meta.mat", "Cars class names"), squeeze_me=True)["class_names"]]
    test_annos = next((p for p in (root / "cars_test_annos_withlabels.mat", root / "devkit" / "cars_test_annos_withlabels.mat") if p.is_file()), None)
    if test_annos is None:
        raise FileNotFoundError(f"Stanford Cars test labels not found: {root / 'cars_test_annos_withlabels.mat'}")

    def items(annos: Path, folder: str) -> list[tuple[Path, str]]:
        rec = np.atleast_1d(loadmat(annos, squeeze_me=True)["annotations"])
        return [(root / folder / str(r["fname"]), names[int(r["class"]) - 1]) for r in rec]

    return write_disk_folder(Path(output_dir), {
        "train": items(require_file(root / "devkit" / "cars_train_annos.mat", "Cars train annotations"), "cars_train"),
        "val": items(test_annos, "cars_test"),
    }, progress)  # fmt: skip


#: VTAB's closest-vehicle-distance bins (metres): < 8, 8-20, 20-999, and 999+ (no vehicle).
KITTI_DIST_THRESHOLDS = (-100.0, 8.0, 20.0, 999.0)


def kitti_dist(input_path: Path, output_dir: Path, val_fraction: float = 0.1, seed: int = 0, progress: ProgressFn | None = None) -> dict[str, Any]:
    """KITTI object detection (``training/image_2/*.png``, ``training/label_2/*.txt``) -> disk_folder
    whose class is the distance to the closest Car/Van/Truck (the ``z`` of its location): classes
    0 (< 8 m), 1 (8-20 m), 2 (> 20 m), 3 (no vehicle), VTAB's task. Only the training set has
    labels: a seeded ``val_fraction`` of it becomes ``val/``."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    root = find_root(input_path, "training", ("kitti", "data_object")) / "training"
    label_dir = require_dir(root / "label_2", "KITTI label folder")
    edges = np.array(KITTI_DIST_THRESHOLDS)
    items = []
    label_files = sorted(label_dir.glob("*.txt"))
    for txt in tracked(label_files, "label files", len(label_files), progress):
        depths = [1000.0]
        for line in txt.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 15 and parts[0] in ("Car", "Van", "Truck"):
                depths.append(float(parts[13]))
        label = int(np.flatnonzero(edges < min(depths)).max())
        items.append((require_file(root / "image_2" / f"{txt.stem}.png", "KITTI image"), str(label)))
    if not items:
        raise ValueError(f"no label files in {label_dir}")
    order = np.random.default_rng(seed).permutation(len(items))
    n_val = max(1, int(round(len(items) * val_fraction)))
    return write_disk_folder(Path(output_dir), {
        "train": [items[i] for i in order[n_val:]], "val": [items[i] for i in order[:n_val]],
    }, progress)  # fmt: skip
