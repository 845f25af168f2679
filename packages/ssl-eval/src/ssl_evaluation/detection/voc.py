"""Pascal VOC detection data from local files (VOC2007 / VOC2012 folder layout)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from os import PathLike
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import ConcatDataset, Dataset
from torchvision.transforms.v2 import functional as TF

from ssl_data.sources import open_image

__all__ = ["VOC_CLASSES", "read_voc_annotation", "VOCDetection", "voc0712_trainval"]

VOC_CLASSES: tuple[str, ...] = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)


def read_voc_annotation(path: str | PathLike[str], classes: tuple[str, ...] = VOC_CLASSES) -> dict[str, Any]:
    """Parse one VOC XML file.

    Returns ``{"filename": str, "width": int, "height": int, "boxes": float [N, 4] xyxy (0-based:
    VOC's 1-based xmin/ymin minus 1, as detectron2 does), "labels": int64 [N] (1-based index in
    ``classes``; 0 is background), "difficult": bool [N]}``.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"VOC annotation not found: {p}")
    try:
        root = ET.parse(p).getroot()
    except ET.ParseError as exc:
        raise ValueError(f"{p} is not valid XML: {exc}") from exc
    size = root.find("size")
    boxes, labels, difficult = [], [], []
    for obj in root.iter("object"):
        name = (obj.findtext("name") or "").strip()
        if name not in classes:
            raise ValueError(f"{p}: unknown class {name!r} (expected one of the {len(classes)} classes)")
        bb = obj.find("bndbox")
        if bb is None:
            raise ValueError(f"{p}: object {name!r} has no bndbox")
        try:
            x0, y0, x1, y1 = (float(bb.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{p}: object {name!r} has a malformed bndbox") from exc
        boxes.append([x0 - 1.0, y0 - 1.0, x1, y1])
        labels.append(classes.index(name) + 1)
        difficult.append((obj.findtext("difficult") or "0").strip() == "1")
    return {
        "filename": root.findtext("filename") or f"{p.stem}.jpg",
        "width": int(size.findtext("width")) if size is not None else -1,  # type: ignore[arg-type]
        "height": int(size.findtext("height")) if size is not None else -1,  # type: ignore[arg-type]
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "labels": torch.tensor(labels, dtype=torch.int64),
        "difficult": torch.tensor(difficult, dtype=torch.bool),
    }


class VOCDetection(Dataset):
    """``root`` is a ``VOC2007``/``VOC2012`` folder with ``Annotations/``, ``JPEGImages/`` and
    ``ImageSets/Main/<split>.txt``.

    Item: ``(image float [3, H, W] in 0..1, target)`` with target ``boxes``, ``labels``,
    ``difficult``, ``iscrowd`` (= difficult, so COCO-style evaluation ignores them as VOC's
    protocol does) and ``image_id``. ``keep_difficult=False`` drops difficult objects (training).
    """

    def __init__(
        self,
        root: str | PathLike[str],
        split: str = "trainval",
        keep_difficult: bool = True,
        classes: tuple[str, ...] = VOC_CLASSES,
    ) -> None:
        self.root = Path(root)
        listing = self.root / "ImageSets" / "Main" / f"{split}.txt"
        if not listing.is_file():
            raise FileNotFoundError(f"VOC split file not found: {listing}")
        self.ids = [ln.strip() for ln in listing.read_text().splitlines() if ln.strip()]
        if not self.ids:
            raise ValueError(f"VOC split {split!r} is empty: {listing}")
        self.keep_difficult = keep_difficult
        self.classes = classes

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        ann = read_voc_annotation(self.root / "Annotations" / f"{self.ids[i]}.xml", self.classes)
        img_path = self.root / "JPEGImages" / f"{self.ids[i]}.jpg"
        if not img_path.is_file():
            raise FileNotFoundError(f"VOC image not found: {img_path}")
        image = TF.to_dtype(TF.to_image(open_image(img_path, what="VOC image", rgb=True)), torch.float32, scale=True)
        keep = torch.ones_like(ann["difficult"]) if self.keep_difficult else ~ann["difficult"]
        target = {
            "boxes": ann["boxes"][keep],
            "labels": ann["labels"][keep],
            "difficult": ann["difficult"][keep],
            "iscrowd": ann["difficult"][keep].to(torch.int64),
            "image_id": torch.tensor(i),
        }
        return image, target


def voc0712_trainval(voc2007: str | PathLike[str], voc2012: str | PathLike[str]) -> ConcatDataset:
    """VOC07+12 training set: ``trainval`` of both years, difficult objects dropped
    (test on ``VOCDetection(voc2007, "test")``)."""
    return ConcatDataset(
        [VOCDetection(voc2007, "trainval", keep_difficult=False), VOCDetection(voc2012, "trainval", keep_difficult=False)]
    )
