"""Describe queries and database (optionally whitened on a separate set) and rank."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from os import PathLike
from typing import Any

import torch
from typing_extensions import TypedDict

from ssl_evaluation.progress import ProgressFn
from ssl_evaluation.retrieval.descriptors import Pooling, extract_descriptors
from ssl_evaluation.retrieval.ranking import Similarity, rank_database
from ssl_evaluation.retrieval.whitening import PCAWhitening

__all__ = ["SearchOptions", "describe_and_rank", "search_protocol"]


class SearchOptions(TypedDict, total=False):
    """Keyword options every ``evaluate_*`` retrieval benchmark forwards to :func:`describe_and_rank`."""

    whitening_paths: Sequence[str | PathLike[str]] | None
    num_pca: int
    pooling: Pooling
    gem_p: float
    rmac_levels: int
    scales: Sequence[float]
    resize_max: int
    similarity: Similarity
    device: str | torch.device
    progress: ProgressFn | None


def describe_and_rank(
    feature_fn: Callable[[torch.Tensor], torch.Tensor],
    query_paths: Sequence[str | PathLike[str]],
    database_paths: Sequence[str | PathLike[str]],
    *,
    query_rois: Sequence[Sequence[float] | None] | None = None,
    whitening_paths: Sequence[str | PathLike[str]] | None = None,
    num_pca: int = 512,
    pooling: Pooling = "gem",
    gem_p: float = 4.0,
    rmac_levels: int = 3,
    scales: Sequence[float] = (1.0,),
    resize_max: int = 1024,
    similarity: Similarity = "cosine",
    device: str | torch.device = "cpu",
    progress: ProgressFn | None = None,
) -> torch.Tensor:
    """Ranks ``int64 [num_queries, num_database]`` (best first) for one retrieval benchmark.

    When ``whitening_paths`` is given, PCA whitening (``num_pca`` components) is fitted on their
    descriptors and applied to queries and database (VISSL's TRAIN_PCA_WHITENING).
    ``progress("descriptors (queries|database|whitening)", images done, images)``.
    """
    if len(query_paths) == 0:
        raise ValueError("the query split is empty")
    if len(database_paths) == 0:
        raise ValueError("the database split is empty")
    opts = dict(
        pooling=pooling, gem_p=gem_p, rmac_levels=rmac_levels, scales=scales,
        resize_max=resize_max, device=device, progress=progress,
    )
    queries = extract_descriptors(feature_fn, query_paths, rois=query_rois, stage="descriptors (queries)", **opts)
    database = extract_descriptors(feature_fn, database_paths, stage="descriptors (database)", **opts)
    if whitening_paths is not None:
        if len(whitening_paths) == 0:
            raise ValueError("whitening_paths is empty: give images to fit PCA whitening on, or None")
        whitening = extract_descriptors(feature_fn, whitening_paths, stage="descriptors (whitening)", **opts)
        white = PCAWhitening(num_pca).fit(whitening)
        queries, database = white.transform(queries), white.transform(database)
    return rank_database(queries, database, similarity)


def search_protocol(options: SearchOptions) -> dict[str, Any]:
    """The constants a run used (defaults filled in), for results.json."""
    params = inspect.signature(describe_and_rank).parameters
    keys = ("pooling", "gem_p", "rmac_levels", "scales", "resize_max", "similarity", "num_pca")
    out: dict[str, Any] = {k: options.get(k, params[k].default) for k in keys}  # type: ignore[misc]
    out["scales"] = list(out["scales"])
    out["pca_whitening"] = options.get("whitening_paths") is not None
    if not out["pca_whitening"]:
        out["num_pca"] = None
    return out
