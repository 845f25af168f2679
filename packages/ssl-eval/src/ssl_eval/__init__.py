"""Benchmarks for visual representations: kNN, linear probe, SVM, low-shot, clustering, retrieval, detection transfer."""

from ssl_eval.__about__ import __version__
from ssl_eval.average_precision import mean_average_precision, voc_average_precision
from ssl_eval.clustering import cluster_features, clustering_scores, kmeans_assign
from ssl_eval.feature_store import (
    FeatureChunkWriter,
    extract_to_disk,
    load_features,
    sample_features,
)
from ssl_eval.features import ExtractedFeatures, extract_features
from ssl_eval.knn import knn_classify, knn_classify_multi_k
from ssl_eval.layer_features import VISSL_RESNET50_POOLING, extract_layer_features, layer_forward
from ssl_eval.linear_grid import linear_grid_search, virb_grid
from ssl_eval.linear_heads import HeadConfig, LinearHeads, predict_logits, train_linear_heads
from ssl_eval.linear_probe import linear_probe
from ssl_eval.low_shot import LOW_SHOT_KS, low_shot_samples, low_shot_svm
from ssl_eval.multi_layer_probe import EvalMLP, multi_layer_linear_eval
from ssl_eval.report import write_report
from ssl_eval.results import write_results
from ssl_eval.svm import svm_costs, voc07_svm

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
    "mean_average_precision",
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
# detection and retrieval load on first access (PEP 562), so `import ssl_eval` does not import
# torchvision's detection models, scikit-learn's PCA or SciPy until one of their names is used.
# (finetune is imported eagerly: the function must shadow the submodule of the same name.)
import importlib as _importlib

from ssl_eval.finetune import FinetuneResult, finetune
from ssl_eval.low_shot_transfer import LOW_SHOT_TASKS, data_limit_indices, low_shot_transfer
from ssl_eval.robustness import evaluate_ood, ood_class_indices
from ssl_eval.semi_supervised import class_balanced_subset, semi_supervised_finetune

_PART_B_EXPORTS: dict[str, str] = {
    "detection": "ssl_eval.detection",
    "retrieval": "ssl_eval.retrieval",
    "build_detector": "ssl_eval.detection",
    "evaluate_detector": "ssl_eval.detection",
    "train_detector": "ssl_eval.detection",
    "trunk_backbone": "ssl_eval.detection",
    "evaluate_copydays": "ssl_eval.retrieval",
    "evaluate_instre": "ssl_eval.retrieval",
    "evaluate_revisited": "ssl_eval.retrieval",
    "revisited_metrics": "ssl_eval.retrieval",
}


def __getattr__(name: str) -> object:
    module_name = _PART_B_EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'ssl_eval' has no attribute {name!r}")
    module = _importlib.import_module(module_name)
    value = module if module_name == f"ssl_eval.{name}" else getattr(module, name)
    globals()[name] = value
    return value


__all__ += [
    *_PART_B_EXPORTS,
    "FinetuneResult",
    "LOW_SHOT_TASKS",
    "class_balanced_subset",
    "data_limit_indices",
    "evaluate_ood",
    "finetune",
    "low_shot_transfer",
    "ood_class_indices",
    "semi_supervised_finetune",
]

# --- part C: ViRB end tasks (image-level tasks on cached encodings, pixelwise tasks on a frozen
# trunk). Light imports (torchmetrics loads on first use), so they are imported eagerly.
from ssl_eval import virb
from ssl_eval.virb import (
    DepthMeter,
    PixelDecoder,
    SegmentationMeter,
    depth_metrics,
    depth_task,
    evaluate_depth,
    evaluate_segmentation,
    image_task,
    mean_iou,
    motion_bins,
    pair_features,
    segmentation_task,
    train_pixel_decoder,
)

__all__ += [
    "DepthMeter",
    "PixelDecoder",
    "SegmentationMeter",
    "depth_metrics",
    "depth_task",
    "evaluate_depth",
    "evaluate_segmentation",
    "image_task",
    "mean_iou",
    "motion_bins",
    "pair_features",
    "segmentation_task",
    "train_pixel_decoder",
    "virb",
]
