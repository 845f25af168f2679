"""COCO-style detection / instance segmentation data from a local JSON file and image folder."""

from __future__ import annotations

import json
from collections import defaultdict
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.transforms.v2 import functional as TF

from ssl_data.sources import open_image

__all__ = ["COCODetection"]


class COCODetection(Dataset):
    """Images listed in a COCO ``instances_*.json`` (``images``, ``annotations``, ``categories``).

    Categories are mapped to contiguous labels ``1..K`` in increasing category-id order
    (``self.category_ids[label - 1]`` is the original id); 0 is background. Boxes ``[x, y, w, h]``
    become xyxy; boxes with no area are dropped. Item: ``(image float [3, H, W] in 0..1, target)``
    with ``boxes`` ``[N, 4]``, ``labels`` ``[N]``, ``iscrowd`` ``[N]``, ``image_id``, and with
    ``with_masks`` ``masks`` uint8 ``[N, H, W]`` decoded from polygons or RLE (pycocotools).
    """

    def __init__(self, image_dir: str | PathLike[str], annotation_file: str | PathLike[str], with_masks: bool = False) -> None:
        self.image_dir = Path(image_dir)
        ann_path = Path(annotation_file)
        if not ann_path.is_file():
            raise FileNotFoundError(f"COCO annotation file not found: {ann_path}")
        if not self.image_dir.is_dir():
            raise FileNotFoundError(f"COCO image folder not found: {self.image_dir}")
        try:
            data = json.loads(ann_path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{ann_path} is not valid JSON: {exc}") from exc
        for key in ("images", "annotations", "categories"):
            if key not in data:
                raise ValueError(f"{ann_path} lacks the top-level key {key!r}")
        if not data["images"]:
            raise ValueError(f"{ann_path} lists no images")
        self.images: list[dict[str, Any]] = list(data["images"])
        self.category_ids = sorted(int(c["id"]) for c in data["categories"])
        self.category_names = {int(c["id"]): c.get("name", str(c["id"])) for c in data["categories"]}
        self._label = {cid: i + 1 for i, cid in enumerate(self.category_ids)}
        self._anns: dict[int, list[dict[str, Any]]] = defaultdict(list)
        known = {int(im["id"]) for im in self.images}
        for a in data["annotations"]:
            if int(a["image_id"]) not in known:
                raise ValueError(f"{ann_path}: annotation {a.get('id')} refers to unknown image {a['image_id']}")
            if int(a["category_id"]) not in self._label:
                raise ValueError(f"{ann_path}: annotation {a.get('id')} has unknown category {a['category_id']}")
            self._anns[int(a["image_id"])].append(a)
        self.with_masks = with_masks

    @property
    def num_classes(self) -> int:
        """Object classes plus background."""
        return len(self.category_ids) + 1

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        info = self.images[i]
        path = self.image_dir / info["file_name"]
        if not path.is_file():
            raise FileNotFoundError(f"COCO image not found: {path}")
        image = TF.to_dtype(TF.to_image(open_image(path, what="COCO image", rgb=True)), torch.float32, scale=True)
        h, w = image.shape[-2:]
        boxes, labels, crowd, masks = [], [], [], []
        for a in self._anns[int(info["id"])]:
            x, y, bw, bh = (float(v) for v in a["bbox"])
            if bw <= 0 or bh <= 0:
                continue
            boxes.append([x, y, x + bw, y + bh])
            labels.append(self._label[int(a["category_id"])])
            crowd.append(int(a.get("iscrowd", 0)))
            if self.with_masks:
                masks.append(_decode_mask(a.get("segmentation"), h, w, path))
        target: dict[str, torch.Tensor] = {
            "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor(labels, dtype=torch.int64),
            "iscrowd": torch.tensor(crowd, dtype=torch.int64),
            "image_id": torch.tensor(int(info["id"])),
        }
        if self.with_masks:
            target["masks"] = (
                torch.from_numpy(np.stack(masks)) if masks else torch.zeros(0, h, w, dtype=torch.uint8)
            )
        return image, target


def _decode_mask(segmentation: Any, h: int, w: int, path: Path) -> np.ndarray:
    from pycocotools import mask as mask_utils

    if not segmentation:
        raise ValueError(f"an annotation of {path.name} has no segmentation but with_masks=True")
    if isinstance(segmentation, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, h, w))
    elif isinstance(segmentation.get("counts"), list):
        rle = mask_utils.frPyObjects(segmentation, h, w)
    else:
        rle = segmentation
    return mask_utils.decode(rle).astype(np.uint8)
