"""Rank a database against queries by cosine similarity or L2 distance."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

__all__ = ["Similarity", "similarity_matrix", "rank_database"]

Similarity = Literal["cosine", "l2"]


def similarity_matrix(
    queries: torch.Tensor, database: torch.Tensor, similarity: Similarity = "cosine"
) -> torch.Tensor:
    """Scores ``[num_queries, num_database]``, higher is better.

    ``"cosine"``: dot product of L2-normalised rows (VISSL's ``cosine_similarity``);
    ``"l2"``: negative squared Euclidean distance of the rows as given.
    Args: ``queries`` float ``[Q, D]``, ``database`` float ``[N, D]``.
    """
    if queries.ndim != 2 or database.ndim != 2:
        raise ValueError(
            f"queries and database must be 2-D, got {tuple(queries.shape)} and {tuple(database.shape)}"
        )
    if queries.shape[1] != database.shape[1]:
        raise ValueError(
            f"queries have dimension {queries.shape[1]} but database has {database.shape[1]}"
        )
    if queries.shape[0] == 0 or database.shape[0] == 0:
        raise ValueError("queries and database must not be empty")
    q = queries.double()
    d = database.double()
    if similarity == "cosine":
        return F.normalize(q, dim=1) @ F.normalize(d, dim=1).T
    if similarity == "l2":
        return -torch.cdist(q, d).pow(2)
    raise ValueError(f"similarity must be 'cosine' or 'l2', got {similarity!r}")


def rank_database(
    queries: torch.Tensor, database: torch.Tensor, similarity: Similarity = "cosine"
) -> torch.Tensor:
    """Database indices ``int64 [num_queries, num_database]``, best first.

    Equal scores keep database order (stable sort), so ties resolve deterministically
    toward the lower database index.
    """
    scores = similarity_matrix(queries, database, similarity)
    return torch.sort(scores, dim=1, descending=True, stable=True).indices
