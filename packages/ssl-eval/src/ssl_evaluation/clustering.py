"""Clustering benchmark / ClusterFit step 1: faiss k-means of features, NMI / ARI vs labels.

``kmeans_assign`` clusters ``[N, D]`` features with ``faiss.Kmeans`` (VISSL's ClusterFit
defaults: 16,000 clusters, 50 iterations) and returns one cluster id per row; ``cluster_features``
adds NMI / ARI (torchmetrics) when labels exist and writes the ids as a ``.npy`` file of int64
``[N]`` (the pseudo-labels that ClusterFit's step 2 trains on), atomically.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ssl_evaluation.atomic_files import atomic_write_bytes
from ssl_evaluation.progress import ProgressFn, Ticker
from ssl_evaluation.validation import as_feature_matrix, as_label_vector

__all__ = ["cluster_features", "clustering_scores", "kmeans_assign"]


def kmeans_assign(
    features: Tensor,
    num_clusters: int = 16000,
    n_iter: int = 50,
    seed: int = 0,
    l2_normalize: bool = False,
    nredo: int = 1,
    progress: ProgressFn | None = None,
) -> tuple[Tensor, Tensor]:
    """faiss k-means: ``features [N, D]`` -> (cluster ids int64 ``[N]``, centroids ``[K, D]``).

    ``nredo`` runs k-means that many times from different seeds and keeps the lowest error.
    With ``progress`` (and ``nredo=1``) faiss runs one iteration per call, each starting from the
    previous centroids (the same iterations as one call: faiss seeds its sampling and its
    empty-cluster splits the same way on every call), reporting ``progress("k-means", iterations
    done, n_iter)``; with ``nredo > 1`` it reports whole runs.
    """
    x = as_feature_matrix(features, "features")
    if not 1 <= num_clusters <= x.shape[0]:
        raise ValueError(f"num_clusters must be in [1, {x.shape[0]}] (rows), got {num_clusters}")
    if l2_normalize:
        x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
    try:
        import faiss
    except ImportError:
        raise ImportError(
            "clustering needs faiss: pip install 'ssl-evaluation[faiss]' (or faiss-gpu on GPU hosts)"
        ) from None
    array = np.ascontiguousarray(x.numpy())
    if progress is None or nredo > 1:
        ticker = Ticker(progress, "k-means", 1)
        kmeans = faiss.Kmeans(
            array.shape[1], num_clusters, niter=n_iter, seed=seed, nredo=nredo, verbose=False
        )
        kmeans.train(array)
        ticker.advance()
    else:
        ticker, centroids = Ticker(progress, "k-means", n_iter), None
        for i in range(n_iter):
            # min_points_per_centroid only decides faiss's too-few-points warning: print it once
            kmeans = faiss.Kmeans(array.shape[1], num_clusters, niter=1, seed=seed, verbose=False,
                                  **({} if i == 0 else {"min_points_per_centroid": 1}))
            kmeans.train(array, init_centroids=centroids)
            centroids = kmeans.centroids
            ticker.advance()
    _, assignment = kmeans.index.search(array, 1)
    return torch.from_numpy(assignment[:, 0].astype(np.int64)), torch.from_numpy(kmeans.centroids)


def clustering_scores(assignments: Tensor, labels: Tensor) -> dict[str, float]:
    """NMI (arithmetic normalisation) and ARI of cluster ids ``[N]`` against labels ``[N]``."""
    # Imported here: importing torchmetrics costs seconds (it pulls in torchvision).
    from torchmetrics.functional.clustering import (
        adjusted_rand_score,
        normalized_mutual_info_score,
    )

    pred = as_label_vector(assignments, "assignments")
    target = as_label_vector(labels, "labels")
    if pred.shape != target.shape:
        raise ValueError(f"assignments has {len(pred)} entries but labels has {len(target)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's sparse-invariant notice
        nmi = normalized_mutual_info_score(pred, target, average_method="arithmetic")
        ari = adjusted_rand_score(pred, target)
    return {"nmi": float(nmi), "ari": float(ari)}


def cluster_features(
    features: Tensor,
    labels: Tensor | None = None,
    num_clusters: int = 16000,
    n_iter: int = 50,
    seed: int = 0,
    l2_normalize: bool = False,
    nredo: int = 1,
    labels_out: str | os.PathLike[str] | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, object]:
    """k-means the features; score against ``labels`` if given; write ids to ``labels_out``;
    ``progress`` as for :func:`kmeans_assign`.

    Returns ``{"num_clusters", "n_iter", "nmi", "ari", "labels_path", "cluster_sizes"}``
    (scores only with labels; sizes as min / max / number of empty clusters).
    """
    if labels is not None and len(labels) != len(features):
        raise ValueError(f"features has {len(features)} rows but labels has {len(labels)}")
    assignments, _ = kmeans_assign(features, num_clusters, n_iter, seed, l2_normalize, nredo, progress)
    counts = torch.bincount(assignments, minlength=num_clusters)
    result: dict[str, object] = {
        "num_clusters": num_clusters,
        "n_iter": n_iter,
        "nredo": nredo,
        "cluster_sizes": {
            "min": int(counts.min()),
            "max": int(counts.max()),
            "empty": int((counts == 0).sum()),
        },
    }
    if labels is not None:
        result.update(clustering_scores(assignments, torch.as_tensor(labels)))
    if labels_out is not None:
        buffer = io.BytesIO()
        np.save(buffer, assignments.numpy())
        result["labels_path"] = str(atomic_write_bytes(Path(labels_out), buffer.getvalue()))
    return result
