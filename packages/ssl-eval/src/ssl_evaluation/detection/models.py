"""Faster R-CNN and Mask R-CNN (torchvision) around a backbone from :func:`trunk_backbone`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from torch import nn
from torchvision.models.detection import FasterRCNN, MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.ops import MultiScaleRoIAlign

from ssl_data.transforms import IMAGENET_MEAN, IMAGENET_STD

from ssl_evaluation.detection.backbone import probe_feature_maps

__all__ = ["DetectorKind", "build_detector"]

DetectorKind = Literal["faster_rcnn", "mask_rcnn"]


def build_detector(
    backbone: nn.Module,
    num_classes: int,
    kind: DetectorKind = "faster_rcnn",
    *,
    min_size: int | Sequence[int] = 800,
    max_size: int = 1333,
    anchor_sizes: Sequence[int] = (32, 64, 128, 256, 512),
    aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0),
    image_mean: Sequence[float] = IMAGENET_MEAN,  # detectron2 recipes' PIXEL_MEAN/STD / 255 (RGB)
    image_std: Sequence[float] = IMAGENET_STD,
    rpn_pre_nms_top_n_test: int = 1000,
    rpn_post_nms_top_n_test: int = 1000,
    box_detections_per_img: int = 100,
    box_batch_size_per_image: int = 512,
    probe_size: int = 64,
) -> nn.Module:
    """A torchvision ``FasterRCNN`` or ``MaskRCNN``.

    Args:
        backbone: returns ``OrderedDict[str, Tensor]`` and has ``out_channels`` (see
            :func:`ssl_evaluation.detection.trunk_backbone`).
        num_classes: object classes INCLUDING background (VOC: 21, COCO: 81).
        min_size: shorter side(s) images are resized to; a sequence samples one per image in
            training (detectron2's MIN_SIZE_TRAIN). ``max_size`` caps the longer side.
        anchor_sizes: one size per feature map when the backbone gives as many maps as sizes
            (FPN); all sizes on the single map otherwise (C4-style).
        box_batch_size_per_image: RoIs sampled per image for the box (and mask) losses
            (torchvision's and detectron2's default 512; small values make tiny CPU runs fast).
    Inputs in training: ``model(images: list[Tensor[3, H, W] in 0..1], targets: list[dict])``
    with ``boxes`` float ``[N, 4]`` xyxy, ``labels`` int64 ``[N]`` (1..num_classes-1), and
    ``masks`` uint8 ``[N, H, W]`` for Mask R-CNN; returns a dict of losses. In eval mode it
    returns per image ``boxes``, ``labels``, ``scores`` (and ``masks`` ``[N, 1, H, W]``).
    """
    if num_classes < 2:
        raise ValueError(f"num_classes counts the background too and must be >= 2, got {num_classes}")
    if not hasattr(backbone, "out_channels"):
        raise ValueError("backbone must have an out_channels attribute (use trunk_backbone)")
    names = list(probe_feature_maps(backbone, probe_size).keys())
    feature_maps = [n for n in names if n != "pool"]
    if len(names) == len(anchor_sizes):
        sizes = tuple((int(s),) for s in anchor_sizes)
    elif len(names) == 1:
        sizes = (tuple(int(s) for s in anchor_sizes),)
    else:
        raise ValueError(
            f"backbone gives {len(names)} feature maps but anchor_sizes has {len(anchor_sizes)} sizes; "
            "give one size per map"
        )
    anchors = AnchorGenerator(sizes=sizes, aspect_ratios=(tuple(float(a) for a in aspect_ratios),) * len(sizes))
    common = dict(
        num_classes=num_classes,
        min_size=tuple(min_size) if isinstance(min_size, Sequence) else min_size,
        max_size=max_size,
        image_mean=list(image_mean),
        image_std=list(image_std),
        rpn_anchor_generator=anchors,
        rpn_pre_nms_top_n_test=rpn_pre_nms_top_n_test,
        rpn_post_nms_top_n_test=rpn_post_nms_top_n_test,
        box_detections_per_img=box_detections_per_img,
        box_batch_size_per_image=box_batch_size_per_image,
        box_roi_pool=MultiScaleRoIAlign(feature_maps, output_size=7, sampling_ratio=2),
    )
    if kind == "faster_rcnn":
        return FasterRCNN(backbone, **common)
    if kind == "mask_rcnn":
        return MaskRCNN(backbone, mask_roi_pool=MultiScaleRoIAlign(feature_maps, 14, 2), **common)
    raise ValueError(f"kind must be 'faster_rcnn' or 'mask_rcnn', got {kind!r}")
