"""Object detection transfer: torchvision Faster / Mask R-CNN on a pretrained trunk, VOC and COCO
readers, COCO-style AP, and the detectron2 route of VISSL's recipes."""

from ssl_evaluation.detection.backbone import TrunkFeatures, freeze_batchnorm, trunk_backbone
from ssl_evaluation.detection.coco import COCODetection
from ssl_evaluation.detection.detectron2_route import (
    DETECTRON2_RECIPES,
    Detectron2Unavailable,
    detectron2_available,
    detectron2_config,
    run_detectron2,
    write_detectron2_config,
)
from ssl_evaluation.detection.engine import detection_collate, evaluate_detector, train_detector
from ssl_evaluation.detection.models import DetectorKind, build_detector
from ssl_evaluation.detection.voc import VOC_CLASSES, VOCDetection, read_voc_annotation, voc0712_trainval

__all__ = [
    "COCODetection",
    "DETECTRON2_RECIPES",
    "Detectron2Unavailable",
    "DetectorKind",
    "TrunkFeatures",
    "VOCDetection",
    "VOC_CLASSES",
    "build_detector",
    "detection_collate",
    "detectron2_available",
    "detectron2_config",
    "evaluate_detector",
    "freeze_batchnorm",
    "read_voc_annotation",
    "run_detectron2",
    "train_detector",
    "trunk_backbone",
    "voc0712_trainval",
    "write_detectron2_config",
]
