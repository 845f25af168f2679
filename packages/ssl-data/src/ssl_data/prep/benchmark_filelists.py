"""disk_filelist preparers of the FAIR benchmark: ImageNet-style folders, Pascal VOC, COCO."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ssl_data.prep.outputs import list_images, require_dir, require_file, write_filelist
from ssl_data.progress import ProgressFn, tracked

__all__ = ["VOC_CLASSES", "VOC_LIST_TO_TARGET", "coco_filelist", "folder_filelist", "voc_filelist"]

VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable", "dog",
    "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip

#: VOC class-list value -> VISSL target: present 1 -> 1, absent -1 -> 0, difficult-only 0 -> -1 (ignored).
VOC_LIST_TO_TARGET = {1: 1, -1: 0, 0: -1}


def folder_filelist(input_path: Path, output_dir: Path, progress: ProgressFn | None = None) -> dict[str, Any]:
    """Preparer ``imagenet`` / ``places205`` / ``places365`` / ``folder``: ``IN/{split}/{class}/{img}``
    -> ``OUT/{split}_images.npy`` + ``{split}_labels.npy`` (int labels, classes sorted by name
    over all splits, as ImageFolder). Every sub-folder of IN is a split (train, val, ...).
    ``progress`` of ``class folders ({split})`` listed and ``filelist ({split})`` paths resolved."""
    root = require_dir(Path(input_path), "input folder")
    splits = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not splits:
        raise ValueError(f"{root} has no split folders (expected e.g. train/<class>/<image>)")
    classes = sorted({c.name for s in splits for c in s.iterdir() if c.is_dir()})
    index = {c: i for i, c in enumerate(classes)}
    out: dict[str, Any] = {"classes": len(classes)}
    for split in splits:
        paths, labels = [], []
        cdirs = sorted(c for c in split.iterdir() if c.is_dir())
        for cdir in tracked(cdirs, f"class folders ({split.name})", len(cdirs), progress):
            imgs = list_images(cdir)
            paths += imgs
            labels += [index[cdir.name]] * len(imgs)
        out[split.name] = write_filelist(Path(output_dir), split.name, paths, np.array(labels, dtype=np.int64), progress)
    return out


def _voc_class_list(path: Path) -> dict[str, int]:
    """image id -> VISSL target (1 / 0 / -1) of one ``{class}_{split}.txt`` (VOC's 1 / -1 / 0)."""
    entries = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in ("1", "-1", "0"):
            raise ValueError(f"{path} line {number}: expected 'image_id 1|-1|0', got {line.strip()!r}")
        entries[parts[0]] = VOC_LIST_TO_TARGET[int(parts[1])]
    return entries


def voc_filelist(input_path: Path, output_dir: Path, progress: ProgressFn | None = None) -> dict[str, Any]:
    """Preparer ``voc07`` / ``voc12``: a ``VOC20xx`` folder (``ImageSets/Main/{class}_{split}.txt``
    with "image_id 1|-1|0" lines, ``JPEGImages/``) -> ``OUT/{split}_images.npy`` and
    ``{split}_labels.npy`` int64 [N, 20] for every split present (train, val, trainval, test).

    Labels follow VISSL's ``create_voc_data_files.py`` / SVM trainer (and ``ssl_evaluation.voc07_svm``):
    **1** present, **0** absent, **-1** difficult only (ignored). VOC's class lists say 1 / -1 / 0
    for the same three cases (see :data:`VOC_LIST_TO_TARGET`); an image missing from a class list
    counts as absent. Classes in VOC's order (:data:`VOC_CLASSES`). ``progress``: ``filelist ({split})``."""
    root = require_dir(Path(input_path), "VOC folder")
    main = require_dir(root / "ImageSets" / "Main", "VOC ImageSets/Main folder")
    jpeg = require_dir(root / "JPEGImages", "VOC JPEGImages folder")
    out: dict[str, Any] = {}
    for split in ("train", "val", "trainval", "test"):
        files = [main / f"{c}_{split}.txt" for c in VOC_CLASSES]
        if not files[0].is_file():
            continue
        columns: list[dict[str, int]] = []
        for f in files:
            require_file(f, f"VOC class list for split {split}")
            columns.append(_voc_class_list(f))
        ids = sorted(columns[0])
        labels = np.array([[col.get(i, 0) for col in columns] for i in ids], dtype=np.int64)
        out[split] = write_filelist(Path(output_dir), split, [jpeg / f"{i}.jpg" for i in ids], labels, progress)
    if not out:
        raise ValueError(f"no VOC split files (e.g. aeroplane_trainval.txt) in {main}")
    return out


def _coco_field(entry: Any, key: str, where: str, ann_file: Path) -> Any:
    """``entry[key]`` (an int for the id fields), else ValueError naming the file, the entry and the field."""
    if not isinstance(entry, dict) or key not in entry:
        raise ValueError(f"{ann_file}: {where} has no {key!r} field")
    value = entry[key]
    if key != "file_name" and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"{ann_file}: {where} field {key!r} must be an integer id, got {value!r}")
    return value


def _coco_split(ann_file: Path, img_dir: Path) -> tuple[list[Path], np.ndarray]:
    """Image paths and int64 [N, C] multi-hot labels of one COCO instances file, with every
    malformed case one ValueError naming the file and the offending id / field (FileNotFoundError
    naming the image id for a listed image missing from ``img_dir``)."""
    try:
        data = json.loads(ann_file.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{ann_file} is not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{ann_file} is not a COCO instances file (top level is not a JSON object)")
    for key in ("images", "annotations", "categories"):
        if key not in data:
            raise ValueError(f"{ann_file} is not a COCO instances file (missing key {key!r})")
        if not isinstance(data[key], list):
            raise ValueError(f"{ann_file}: {key!r} must be a list, got {type(data[key]).__name__}")
    cats = sorted({_coco_field(c, "id", f"categories[{i}]", ann_file) for i, c in enumerate(data["categories"])})
    cat_index = {c: i for i, c in enumerate(cats)}
    by_id: dict[Any, str] = {}
    for i, im in enumerate(data["images"]):
        image_id = _coco_field(im, "id", f"images[{i}]", ann_file)
        name = _coco_field(im, "file_name", f"images[{i}] (id {image_id!r})", ann_file)
        if image_id in by_id:
            raise ValueError(f"{ann_file}: image id {image_id!r} is listed twice (images[{i}])")
        by_id[image_id] = name
    if not by_id:
        raise ValueError(f"{ann_file}: 'images' is empty")
    ids = sorted(by_id)
    row = {image_id: r for r, image_id in enumerate(ids)}
    labels = np.zeros((len(ids), len(cats)), dtype=np.int64)
    for i, a in enumerate(data["annotations"]):
        image_id = _coco_field(a, "image_id", f"annotations[{i}]", ann_file)
        cat_id = _coco_field(a, "category_id", f"annotations[{i}]", ann_file)
        if image_id not in row:
            raise ValueError(f"{ann_file}: annotations[{i}] refers to unknown image_id {image_id!r} (not in 'images')")
        if cat_id not in cat_index:
            raise ValueError(
                f"{ann_file}: annotations[{i}] refers to unknown category_id {cat_id!r} (not in 'categories')"
            )
        labels[row[image_id], cat_index[cat_id]] = 1
    paths = [img_dir / str(by_id[image_id]) for image_id in ids]
    for image_id, path in zip(ids, paths):
        if not path.is_file():
            raise FileNotFoundError(f"{ann_file}: image id {image_id!r} is listed but its file is missing: {path}")
    return paths, labels


def coco_filelist(input_path: Path, output_dir: Path, year: str | None = None,
                  progress: ProgressFn | None = None) -> dict[str, Any]:
    """Preparer ``coco``: ``IN/annotations/instances_{train,val}{year}.json`` + ``IN/{train,val}{year}/``
    -> ``OUT/{train,val}_images.npy`` and ``{split}_labels.npy`` int64 [N, 80] multi-hot (category
    ids mapped to 0..79 in increasing id order). ``year`` defaults to 2014, else 2017 if present.

    Same convention as :func:`voc_filelist` (VISSL's): 1 present (any annotation of the category,
    crowd ones included), 0 absent; COCO has no "difficult" flag, so no -1 is written.

    Both splits are read and checked before anything is written: JSON that does not parse, a
    missing ``images`` / ``annotations`` / ``categories`` key or entry field, an annotation whose
    ``image_id`` or ``category_id`` is not listed raise one ValueError naming the file and the id
    or field; a listed image missing on disk raises FileNotFoundError naming its id and path.
    ``progress``: ``filelist ({split})``."""
    root = require_dir(Path(input_path), "COCO folder")
    ann_dir = require_dir(root / "annotations", "COCO annotations folder")
    if year is None:
        year = "2014" if (ann_dir / "instances_train2014.json").is_file() else "2017"
    splits: dict[str, tuple[list[Path], np.ndarray]] = {}
    for split in ("train", "val"):
        ann_file = require_file(ann_dir / f"instances_{split}{year}.json", "COCO annotation file")
        img_dir = require_dir(root / f"{split}{year}", "COCO image folder")
        splits[split] = _coco_split(ann_file, img_dir)
    return {split: write_filelist(Path(output_dir), split, paths, labels, progress)
            for split, (paths, labels) in splits.items()}
