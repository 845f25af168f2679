"""k-means clustering: recovers well-separated blobs; NMI/ARI agree with scikit-learn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from ssl_evaluation.clustering import cluster_features, clustering_scores


def test_scores_match_sklearn() -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        a, b = rng.integers(0, 6, 200), rng.integers(0, 4, 200)
        b[:100] = a[:100] % 4  # partly dependent
        got = clustering_scores(torch.from_numpy(a), torch.from_numpy(b))
        assert got["nmi"] == pytest.approx(normalized_mutual_info_score(b, a), abs=1e-5)
        assert got["ari"] == pytest.approx(adjusted_rand_score(b, a), abs=1e-5)


def test_blobs_are_recovered_and_labels_written(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(4, 8)) * 10
    labels = np.repeat(np.arange(4), 50)
    x = torch.from_numpy((centres[labels] + rng.normal(size=(200, 8))).astype(np.float32))
    out = tmp_path / "clusterfit" / "labels.npy"
    res = cluster_features(x, torch.from_numpy(labels), num_clusters=4, n_iter=20, nredo=10,
                           labels_out=out)
    assert res["nmi"] == pytest.approx(1.0, abs=1e-6)
    assert res["ari"] == pytest.approx(1.0, abs=1e-6)
    written = np.load(out)
    assert written.shape == (200,) and written.dtype == np.int64
    # Same partition as the true labels, up to renaming of clusters.
    assert len({(int(a), int(b)) for a, b in zip(written, labels)}) == 4
    assert res["cluster_sizes"] == {"min": 50, "max": 50, "empty": 0}


def test_errors() -> None:
    x = torch.randn(10, 3)
    with pytest.raises(ValueError, match="num_clusters must be in"):
        cluster_features(x, num_clusters=11)
    with pytest.raises(ValueError, match="features has 10 rows but labels has 9"):
        cluster_features(x, torch.zeros(9, dtype=torch.int64), num_clusters=2)
    with pytest.raises(ValueError, match="features is empty"):
        cluster_features(x[:0], num_clusters=1)
