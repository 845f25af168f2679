"""disk_filelist preparers of the FAIR benchmark: ImageNet-style folders, Pascal VOC, COCO."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ssl_data.prep.outputs import list_images, require_dir, require_file, write_filelist

__all__ = ["VOC_CLASSES", "VOC_LIST_TO_TARGET", "coco_filelist", "folder_filelist", "voc_filelist"]

VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable", "dog",
    "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip

#: VOC class-list value -> VISSL target: present 1 -> 1, absent -1 -> 0, difficult-only 0 -> -1 (ignored).
VOC_LIST_TO_TARGET = {1: 1, -1: 0, 0: -1}


def folder_filelist(input_path: Path, output_dir: Path) -> dict[str, Any]:
    """Preparer ``imagenet`` / ``places205`` / ``places365`` / ``folder``: ``IN/{split}/{class}/{img}``
    -> ``OUT/{split}_images.npy`` + ``{split}_labels.npy`` (int labels, classes sorted by name
    over all splits, as ImageFolder). Every sub-folder of IN is a split (train, val, ...)."""
    root = require_dir(Path(input_path), "input folder")
    splits = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not splits:
        raise ValueError(f"{root} has no split folders (expected e.g. train/<class>/<image>)")
    classes = sorted({c.name for s in splits for c in s.iterdir() if c.is_dir()})
    index = {c: i for i, c in enumerate(classes)}
    out: dict[str, Any] = {"classes": len(classes)}
    for split in splits:
        paths, labels = [], []
        for cdir in sorted(c for c in split.iterdir() if c.is_dir()):
            imgs = list_images(cdir)
            paths += imgs
            labels += [index[cdir.name]] * len(imgs)
        out[split.name] = write_filelist(Path(output_dir), split.name, paths, np.array(labels, dtype=np.int64))
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


def voc_filelist(input_path: Path, output_dir: Path) -> dict[str, Any]:
    """Preparer ``voc07`` / ``voc12``: a ``VOC20xx`` folder (``ImageSets/Main/{class}_{split}.txt``
    with "image_id 1|-1|0" lines, ``JPEGImages/``) -> ``OUT/{split}_images.npy`` and
    ``{split}_labels.npy`` int64 [N, 20] for every split present (train, val, trainval, test).

    Labels follow VISSL's ``create_voc_data_files.py`` / SVM trainer (and ``ssl_eval.voc07_svm``):
    **1** present, **0** absent, **-1** difficult only (ignored). VOC's class lists say 1 / -1 / 0
    for the same three cases (see :data:`VOC_LIST_TO_TARGET`); an image missing from a class list
    counts as absent. Classes in VOC's order (:data:`VOC_CLASSES`)."""
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
        out[split] = write_filelist(Path(output_dir), split, [jpeg / f"{i}.jpg" for i in ids], labels)
    if not out:
        raise ValueError(f"no VOC split files (e.g. aeroplane_trainval.txt) in {main}")
    return out


def coco_filelist(input_path: Path, output_dir: Path, year: str | None = None) -> dict[str, Any]:
    """Preparer ``coco``: ``IN/annotations/instances_{train,val}{year}.json`` + ``IN/{train,val}{year}/``
    -> ``OUT/{train,val}_images.npy`` and ``{split}_labels.npy`` int64 [N, 80] multi-hot (category
    ids mapped to 0..79 in increasing id order). ``year`` defaults to 2014, else 2017 if present.

    Same convention as :func:`voc_filelist` (VISSL's): 1 present (any annotation of the category,
    crowd ones included), 0 absent; COCO has no "difficult" flag, so no -1 is written."""
    root = require_dir(Path(input_path), "COCO folder")
    ann_dir = require_dir(root / "annotations", "COCO annotations folder")
    if year is None:
        year = "2014" if (ann_dir / "instances_train2014.json").is_file() else "2017"
    out: dict[str, Any] = {}
    for split in ("train", "val"):
        ann_file = require_file(ann_dir / f"instances_{split}{year}.json", "COCO annotation file")
        try:
            data = json.loads(ann_file.read_text())
            cats = sorted(c["id"] for c in data["categories"])
            images = sorted(data["images"], key=lambda im: im["id"])
            anns = data["annotations"]
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{ann_file} is not a COCO instances file ({e})") from None
        cat_index = {c: i for i, c in enumerate(cats)}
        row = {im["id"]: r for r, im in enumerate(images)}
        labels = np.zeros((len(images), len(cats)), dtype=np.int64)
        for a in anns:
            labels[row[a["image_id"]], cat_index[a["category_id"]]] = 1
        img_dir = require_dir(root / f"{split}{year}", "COCO image folder")
        out[split] = write_filelist(Path(output_dir), split, [img_dir / im["file_name"] for im in images], labels)
    return out
