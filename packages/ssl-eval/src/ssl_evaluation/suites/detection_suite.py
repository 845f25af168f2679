"""Object detection transfer: the trunk inside torchvision's Faster / Mask R-CNN, trained and
scored (COCO-style AP) on a VOC or COCO layout."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from ssl_evaluation.suites.image_splits import checked_trunk, suite_result
from ssl_evaluation.progress import ProgressFn

__all__ = ["DetectionFormat", "DetectionProtocol", "DetectorKind", "run_detection"]

_DEFAULT_SPLITS = {"voc": ("trainval", "test"), "coco": ("train2017", "val2017")}


class DetectionFormat(str, enum.Enum):
    """Dataset layout: VOC (``Annotations/``), COCO (``annotations/``), or ``auto``."""

    auto = "auto"
    voc = "voc"
    coco = "coco"


class DetectorKind(str, enum.Enum):
    """torchvision detector around the trunk."""

    faster_rcnn = "faster_rcnn"
    mask_rcnn = "mask_rcnn"


@dataclass
class DetectionProtocol:
    """Fine-tune the trunk as a detection backbone (frozen BatchNorm, FPN over ``layers`` or a
    C4-style single map with ``fpn=false``) for ``max_iters`` SGD iterations (detectron2's
    WarmupMultiStepLR), then COCO-style AP / AP50 / AP75 on the test split (VOC "difficult"
    objects ignored). Splits ``""``: trainval/test (VOC), train2017/val2017 (COCO).

    Defaults: VISSL's ``voc0712`` detectron2 recipe (``MAX_ITER 24000``, ``STEPS [18000, 22000]``,
    ``BASE_LR 0.02``, ``WARMUP_ITERS 1000``, ``MIN_SIZE_TEST 800``, max size 1333, 512 RoIs per
    image); batch 2 per process (VISSL: 16 over 8 GPUs).
    """

    format: DetectionFormat = DetectionFormat.auto
    train_split: str = ""
    test_split: str = ""
    kind: DetectorKind = DetectorKind.faster_rcnn
    layers: list[str] = field(default_factory=lambda: ["res2", "res3", "res4", "res5"])
    fpn: bool = True
    min_size: int = 800
    max_size: int = 1333
    max_iters: int = 24000
    lr: float = 0.02
    steps: list[int] = field(default_factory=lambda: [18000, 22000])
    warmup_iters: int = 1000
    batch_size: int = 2
    rois_per_image: int = 512
    seed: int = 0


def _datasets(root: Path, p: DetectionProtocol) -> tuple[Any, Any, int, dict[str, Any]]:
    """Train and test datasets, classes including background, and what was read (for results.json)."""
    from ssl_evaluation import detection

    fmt = p.format.value
    if fmt == "auto":
        fmt = "voc" if (root / "Annotations").is_dir() else "coco" if (root / "annotations").is_dir() else ""
        if not fmt:
            raise ValueError(f"{root} has neither Annotations/ (VOC) nor annotations/ (COCO); set format=")
    train_split = p.train_split or _DEFAULT_SPLITS[fmt][0]
    test_split = p.test_split or _DEFAULT_SPLITS[fmt][1]
    masks = p.kind == DetectorKind.mask_rcnn
    if fmt == "voc":
        if masks:
            raise ValueError("kind=mask_rcnn needs COCO polygons; VOC boxes have no masks")
        train = detection.VOCDetection(root, train_split, keep_difficult=False)
        test = detection.VOCDetection(root, test_split, keep_difficult=True)
        num_classes = len(detection.VOC_CLASSES) + 1
    else:
        ann = root / "annotations"
        train = detection.COCODetection(root / train_split, ann / f"instances_{train_split}.json", with_masks=masks)
        test = detection.COCODetection(root / test_split, ann / f"instances_{test_split}.json", with_masks=masks)
        if train.category_ids != test.category_ids:
            raise ValueError(f"{train_split} and {test_split} annotation files list different categories")
        num_classes = train.num_classes
    info = {"source": str(root), "format": fmt, "train_split": train_split, "test_split": test_split,
            "train_images": len(train), "test_images": len(test)}
    return train, test, num_classes, info


def run_detection(checkpoint: str | Path, data: str, protocol: DetectionProtocol | None = None,
                  progress: ProgressFn | None = None) -> dict[str, Any]:
    """``{metrics: {"detection": {"bbox": {"AP", "AP50", ...}, "final_loss", "iterations"}}, ...}``."""
    from ssl_evaluation import detection

    started, p = time.perf_counter(), protocol or DetectionProtocol()
    root = Path(data).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"detection data folder not found: {root}")
    if not p.layers:
        raise ValueError("layers is empty")
    train, test, num_classes, info = _datasets(root, p)
    trunk, _ = checked_trunk(checkpoint, layers=p.layers, what="detection")
    torch.manual_seed(p.seed)
    backbone = detection.trunk_backbone(trunk, list(p.layers), fpn=p.fpn)
    model = detection.build_detector(backbone, num_classes, p.kind.value, min_size=p.min_size, max_size=p.max_size,
                                     box_batch_size_per_image=p.rois_per_image)
    gen = torch.Generator().manual_seed(p.seed)
    train_loader = DataLoader(train, batch_size=p.batch_size, shuffle=True, generator=gen,
                              collate_fn=detection.detection_collate)
    test_loader = DataLoader(test, batch_size=p.batch_size, collate_fn=detection.detection_collate)
    losses = detection.train_detector(model, train_loader, max_iter=p.max_iters, base_lr=p.lr, steps=list(p.steps),
                                      warmup_iters=p.warmup_iters, progress=progress)
    iou_types = ("bbox", "segm") if p.kind == DetectorKind.mask_rcnn else ("bbox",)
    scores = detection.evaluate_detector(model, test_loader, iou_types=iou_types, progress=progress)
    return suite_result(
        "detection", {**scores, "final_loss": losses[-1], "iterations": len(losses)}, p, info, checkpoint, started,
        frozen_batchnorm=True, num_classes=num_classes, gamma=0.1, warmup_factor=0.001, momentum=0.9,
        weight_decay=1e-4, metric="COCO-style AP (torchmetrics, pycocotools backend)",
    )
