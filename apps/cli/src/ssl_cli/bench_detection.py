"""Object detection transfer: the trunk inside torchvision's Faster / Mask R-CNN, trained and
scored (COCO-style AP) on a VOC or COCO layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from ssl_cli.bench_data import checkpoint_trunk
from ssl_cli.bench_options import parse_list
from ssl_cli.errors import UsageError

__all__ = ["run_detection"]

_DEFAULT_SPLITS = {"voc": ("trainval", "test"), "coco": ("train2017", "val2017")}


def _datasets(root: Path, fmt: str, train_split: str, test_split: str, masks: bool) -> tuple[Any, Any, int, dict[str, Any]]:
    """Train and test datasets, classes including background, and what was read (for results.json)."""
    from ssl_evaluation import detection

    if fmt == "auto":
        fmt = "voc" if (root / "Annotations").is_dir() else "coco" if (root / "annotations").is_dir() else ""
        if not fmt:
            raise UsageError(f"{root} has neither Annotations/ (VOC) nor annotations/ (COCO); pass --format")
    if fmt not in _DEFAULT_SPLITS:
        raise UsageError(f"--format must be voc or coco, got {fmt!r}")
    train_split = train_split or _DEFAULT_SPLITS[fmt][0]
    test_split = test_split or _DEFAULT_SPLITS[fmt][1]
    if fmt == "voc":
        if masks:
            raise UsageError("--kind mask_rcnn needs COCO polygons; VOC boxes have no masks")
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


def run_detection(
    checkpoint: Path,
    data: str,
    *,
    data_format: str = "auto",
    train_split: str = "",
    test_split: str = "",
    kind: str = "faster_rcnn",
    layers: str = "res2,res3,res4,res5",
    fpn: bool = True,
    min_size: int = 800,
    max_size: int = 1333,
    max_iters: int = 24000,
    lr: float = 0.02,
    steps: str = "18000,22000",
    warmup_iters: int = 1000,
    batch_size: int = 2,
    rois_per_image: int = 512,
    seed: int = 0,
) -> dict[str, Any]:
    """Fine-tune the trunk as a detection backbone (frozen BatchNorm, FPN over ``layers`` or a
    C4-style single map with ``fpn=False``) for ``max_iters`` SGD iterations (detectron2's
    WarmupMultiStepLR), then COCO-style AP / AP50 / AP75 on the test split (VOC "difficult"
    objects ignored)."""
    from ssl_evaluation import detection

    if kind not in ("faster_rcnn", "mask_rcnn"):
        raise UsageError(f"--kind must be faster_rcnn or mask_rcnn, got {kind!r}")
    root = Path(data).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"detection data folder not found: {root}")
    train, test, num_classes, info = _datasets(root, data_format, train_split, test_split, kind == "mask_rcnn")
    names = parse_list(layers, str, "--layers")
    milestones = parse_list(steps, int, "--steps", allow_empty=True)
    trunk, _ = checkpoint_trunk(checkpoint, 0)
    missing = [n for n in names if n not in trunk.feature_names()]
    if missing:
        raise UsageError(f"the trunk has no layer(s) {missing}; it has {', '.join(trunk.feature_names())}")
    torch.manual_seed(seed)
    backbone = detection.trunk_backbone(trunk, names, fpn=fpn)
    model = detection.build_detector(backbone, num_classes, kind, min_size=min_size, max_size=max_size,
                                     box_batch_size_per_image=rois_per_image)
    gen = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(train, batch_size=batch_size, shuffle=True, generator=gen,
                              collate_fn=detection.detection_collate)
    test_loader = DataLoader(test, batch_size=batch_size, collate_fn=detection.detection_collate)
    losses = detection.train_detector(model, train_loader, max_iter=max_iters, base_lr=lr, steps=milestones,
                                      warmup_iters=warmup_iters)
    iou_types = ("bbox", "segm") if kind == "mask_rcnn" else ("bbox",)
    scores = detection.evaluate_detector(model, test_loader, iou_types=iou_types)
    return {
        "checkpoint": str(checkpoint),
        "data": info,
        "benchmarks": {"detection": {**scores, "final_loss": losses[-1], "iterations": len(losses)}},
        "protocol": {"detection": {
            "model": kind, "backbone_layers": names, "fpn": fpn, "frozen_batchnorm": True, "num_classes": num_classes,
            "min_size": min_size, "max_size": max_size, "max_iters": max_iters, "base_lr": lr, "steps": milestones,
            "gamma": 0.1, "warmup_iters": warmup_iters, "warmup_factor": 0.001, "momentum": 0.9,
            "weight_decay": 1e-4, "batch_size": batch_size, "rois_per_image": rois_per_image,
            "metric": "COCO-style AP (torchmetrics, pycocotools backend)",
        }},
    }
