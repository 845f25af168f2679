"""Instance retrieval and copy detection: revisited ROxford/RParis, CopyDays, INSTRE."""

from ssl_evaluation.retrieval.copydays import COPYDAYS_QUERY_SPLITS, copydays_ground_truth, evaluate_copydays
from ssl_evaluation.retrieval.descriptors import (
    Pooling,
    extract_descriptors,
    feature_map_of,
    load_retrieval_image,
)
from ssl_evaluation.retrieval.instre import InstreDataset, evaluate_instre, instre_val_subset, load_instre
from ssl_evaluation.retrieval.pooling import gem_pool, rmac_pool, rmac_regions
from ssl_evaluation.retrieval.ranking import Similarity, rank_database, similarity_matrix
from ssl_evaluation.retrieval.revisited import REVISITED_DATASETS, RevisitedDataset, evaluate_revisited, load_revisited
from ssl_evaluation.retrieval.revisited_map import (
    REVISITED_KS,
    RetrievalScores,
    average_precision,
    retrieval_mean_average_precision,
    revisited_metrics,
)
from ssl_evaluation.retrieval.search import SearchOptions, describe_and_rank, search_protocol
from ssl_evaluation.retrieval.whitening import PCAWhitening

__all__ = [
    "COPYDAYS_QUERY_SPLITS",
    "InstreDataset",
    "PCAWhitening",
    "Pooling",
    "REVISITED_DATASETS",
    "REVISITED_KS",
    "RetrievalScores",
    "RevisitedDataset",
    "SearchOptions",
    "Similarity",
    "average_precision",
    "copydays_ground_truth",
    "describe_and_rank",
    "evaluate_copydays",
    "evaluate_instre",
    "evaluate_revisited",
    "extract_descriptors",
    "feature_map_of",
    "gem_pool",
    "instre_val_subset",
    "load_instre",
    "load_retrieval_image",
    "load_revisited",
    "retrieval_mean_average_precision",
    "rank_database",
    "revisited_metrics",
    "rmac_pool",
    "rmac_regions",
    "search_protocol",
    "similarity_matrix",
]
