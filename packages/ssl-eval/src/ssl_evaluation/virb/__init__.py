"""ViRB end tasks: image-level tasks on cached encodings, pixelwise tasks on a frozen (or
fine-tuned) trunk, Kinetics clips (LSTM), KITTI optical flow, test-only reuse of a trained head."""

from ssl_evaluation.virb.class_weights import segmentation_class_weights
from ssl_evaluation.virb.decoder import PixelDecoder
from ssl_evaluation.virb.finetune import pixel_finetune_task
from ssl_evaluation.virb.flow_task import flow_metrics, flow_task
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
from ssl_evaluation.virb.transfer_head import evaluate_image_head, train_image_head
from ssl_evaluation.virb.video_task import ClipLSTM, encode_clips, video_task

__all__ = [
    "ClipLSTM",
    "encode_clips",
    "evaluate_image_head",
    "flow_metrics",
    "flow_task",
    "pixel_finetune_task",
    "segmentation_class_weights",
    "train_image_head",
    "video_task",
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
