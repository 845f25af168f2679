"""ViRB end tasks: image-level tasks on cached encodings and pixelwise tasks on a frozen trunk."""

from ssl_evaluation.virb.decoder import PixelDecoder
from ssl_evaluation.virb.image_tasks import (
    IMAGE_TASK_KINDS,
    VIRB_IMAGE_HEAD,
    image_task,
    motion_bins,
    pair_features,
)
from ssl_evaluation.virb.metrics import (
    IGNORE_INDEX,
    DepthMeter,
    SegmentationMeter,
    depth_metrics,
    mean_iou,
)
from ssl_evaluation.virb.pixel_tasks import (
    PIXEL_LAYERS,
    depth_task,
    encode_maps,
    evaluate_depth,
    evaluate_segmentation,
    predict_pixels,
    segmentation_task,
    train_pixel_decoder,
)

__all__ = [
    "IGNORE_INDEX",
    "IMAGE_TASK_KINDS",
    "PIXEL_LAYERS",
    "VIRB_IMAGE_HEAD",
    "DepthMeter",
    "PixelDecoder",
    "SegmentationMeter",
    "depth_metrics",
    "depth_task",
    "encode_maps",
    "evaluate_depth",
    "evaluate_segmentation",
    "image_task",
    "mean_iou",
    "motion_bins",
    "pair_features",
    "predict_pixels",
    "segmentation_task",
    "train_pixel_decoder",
]
