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

# --- part B: retrieval, detection transfer, robustness, fine-tuning, semi-supervised, low-shot
from ssl_eval import detection, retrieval
from ssl_eval.detection import build_detector, evaluate_detector, train_detector, trunk_backbone
from ssl_eval.finetune import FinetuneResult, finetune
from ssl_eval.low_shot_transfer import LOW_SHOT_TASKS, data_limit_indices, low_shot_transfer
from ssl_eval.retrieval import evaluate_copydays, evaluate_instre, evaluate_revisited, revisited_metrics
from ssl_eval.robustness import evaluate_ood, ood_class_indices
from ssl_eval.semi_supervised import class_balanced_subset, semi_supervised_finetune

__all__ += [
    "FinetuneResult",
    "LOW_SHOT_TASKS",
    "build_detector",
    "class_balanced_subset",
    "data_limit_indices",
    "detection",
    "evaluate_copydays",
    "evaluate_detector",
    "evaluate_instre",
    "evaluate_ood",
    "evaluate_revisited",
    "finetune",
    "low_shot_transfer",
    "ood_class_indices",
    "retrieval",
    "revisited_metrics",
    "semi_supervised_finetune",
    "train_detector",
    "trunk_backbone",
]
