"""Benchmarks for visual representations: kNN, linear probe, SVM, low-shot, clustering, retrieval, detection transfer."""

from ssl_evaluation.__about__ import __version__
from ssl_evaluation.average_precision import voc_mean_average_precision, voc_average_precision
from ssl_evaluation.clustering import cluster_features, clustering_scores, kmeans_assign
from ssl_evaluation.feature_store import (
    FeatureChunkWriter,
    extract_to_disk,
    load_features,
    sample_features,
)
from ssl_evaluation.features import ExtractedFeatures, extract_features
from ssl_evaluation.knn import knn_classify, knn_classify_multi_k
from ssl_evaluation.layer_features import VISSL_RESNET50_POOLING, extract_layer_features, layer_forward
from ssl_evaluation.linear_grid import linear_grid_search, virb_grid
from ssl_evaluation.linear_heads import HeadConfig, LinearHeads, predict_logits, train_linear_heads
from ssl_evaluation.linear_probe import linear_probe
from ssl_evaluation.low_shot import LOW_SHOT_KS, low_shot_samples, low_shot_svm
from ssl_evaluation.multi_layer_probe import EvalMLP, multi_layer_linear_eval
from ssl_evaluation.report import write_report
from ssl_evaluation.results import write_results
from ssl_evaluation.svm import svm_costs, voc07_svm

__all__ = [
    "LOW_SHOT_KS",
    "VISSL_RESNET50_POOLING",
    "EvalMLP",
    "ExtractedFeatures",
    "FeatureChunkWriter",
    "HeadConfig",
    "LinearHeads",
    "__version__",
    "cluster_features",
    "clustering_scores",
    "extract_features",
    "extract_layer_features",
    "extract_to_disk",
    "kmeans_assign",
    "knn_classify",
    "knn_classify_multi_k",
    "layer_forward",
    "linear_grid_search",
    "linear_probe",
    "load_features",
    "low_shot_samples",
    "low_shot_svm",
    "voc_mean_average_precision",
    "multi_layer_linear_eval",
    "predict_logits",
    "sample_features",
    "svm_costs",
    "train_linear_heads",
    "virb_grid",
    "voc07_svm",
    "voc_average_precision",
    "write_report",
    "write_results",
]

# --- part B: retrieval, detection transfer, robustness, fine-tuning, semi-supervised, low-shot.
# detection and retrieval load on first access (PEP 562), so `import ssl_evaluation` does not import
# torchvision's detection models, scikit-learn's PCA or SciPy until one of their names is used.
# (finetune is imported eagerly: the function must shadow the submodule of the same name.)
import importlib as _importlib

from ssl_evaluation.finetune import FinetuneResult, finetune
from ssl_evaluation.low_shot_transfer import LOW_SHOT_TASKS, low_shot_transfer
from ssl_evaluation.robustness import evaluate_ood, ood_class_indices
from ssl_evaluation.semi_supervised import semi_supervised_finetune

_PART_B_EXPORTS: dict[str, str] = {
    "detection": "ssl_evaluation.detection",
    "retrieval": "ssl_evaluation.retrieval",
    "build_detector": "ssl_evaluation.detection",
    "evaluate_detector": "ssl_evaluation.detection",
    "train_detector": "ssl_evaluation.detection",
    "trunk_backbone": "ssl_evaluation.detection",
    "evaluate_copydays": "ssl_evaluation.retrieval",
    "evaluate_instre": "ssl_evaluation.retrieval",
    "evaluate_revisited": "ssl_evaluation.retrieval",
    "revisited_metrics": "ssl_evaluation.retrieval",
}


def __getattr__(name: str) -> object:
    module_name = _PART_B_EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'ssl_evaluation' has no attribute {name!r}")
    module = _importlib.import_module(module_name)
    value = module if module_name == f"ssl_evaluation.{name}" else getattr(module, name)
    globals()[name] = value
    return value


__all__ += [
    *_PART_B_EXPORTS,
    "FinetuneResult",
    "LOW_SHOT_TASKS",
    "evaluate_ood",
    "finetune",
    "low_shot_transfer",
    "ood_class_indices",
    "semi_supervised_finetune",
]

# --- part C: ViRB end tasks (image-level tasks on cached encodings, pixelwise tasks on a frozen
# trunk). Light imports (torchmetrics loads on first use), so they are imported eagerly.
from ssl_evaluation import virb
from ssl_evaluation.virb import (
    DepthMeter,
    PixelDecoder,
    SegmentationMeter,
    depth_metrics,
    depth_task,
    evaluate_depth,
    evaluate_image_head,
    evaluate_segmentation,
    flow_task,
    image_task,
    mean_iou,
    motion_bins,
    pair_features,
    pixel_finetune_task,
    segmentation_class_weights,
    segmentation_task,
    train_image_head,
    train_pixel_decoder,
    video_task,
)

__all__ += [
    "DepthMeter",
    "PixelDecoder",
    "SegmentationMeter",
    "depth_metrics",
    "depth_task",
    "evaluate_depth",
    "evaluate_image_head",
    "evaluate_segmentation",
    "flow_task",
    "image_task",
    "mean_iou",
    "motion_bins",
    "pair_features",
    "pixel_finetune_task",
    "segmentation_class_weights",
    "segmentation_task",
    "train_image_head",
    "train_pixel_decoder",
    "video_task",
    "virb",
]
