"""PCA whitening learned on a separate image set (VISSL's TRAIN_PCA_WHITENING, N_PCA 512)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["PCAWhitening"]


class PCAWhitening:
    """Centre, project on the top principal axes and scale each to unit variance, then L2-normalise.

    Fit it on descriptors of images that are NOT in the evaluated query/database sets.
    Backed by scikit-learn's ``PCA(whiten=True)`` (the ``retrieval`` extra, imported when fitting).
    """

    def __init__(self, num_components: int = 512) -> None:
        if num_components < 1:
            raise ValueError(f"num_components must be >= 1, got {num_components}")
        self.num_components = num_components
        self._pca: Any = None  # sklearn.decomposition.PCA once fitted

    @property
    def fitted(self) -> bool:
        return self._pca is not None

    def fit(self, features: torch.Tensor) -> "PCAWhitening":
        """``features``: float ``[N, D]`` with ``N >= 2``. Keeps ``min(num_components, N - 1, D)`` axes."""
        if features.ndim != 2:
            raise ValueError(f"features must be [N, D], got shape {tuple(features.shape)}")
        n, d = features.shape
        if n < 2:
            raise ValueError(f"PCA whitening needs at least 2 training descriptors, got {n}")
        try:
            from sklearn.decomposition import PCA
        except ImportError:
            raise ImportError("PCA whitening needs scikit-learn: pip install 'ssl-evaluation[retrieval]'") from None
        k = min(self.num_components, n - 1, d)
        self._pca = PCA(n_components=k, whiten=True, svd_solver="full")
        self._pca.fit(features.detach().double().cpu().numpy())
        return self

    def transform(self, features: torch.Tensor) -> torch.Tensor:
        """``[M, D]`` -> L2-normalised ``[M, k]`` float32."""
        if self._pca is None:
            raise RuntimeError("PCAWhitening.transform called before fit")
        if features.ndim != 2 or features.shape[1] != self._pca.n_features_in_:
            raise ValueError(
                f"features must be [M, {self._pca.n_features_in_}], got shape {tuple(features.shape)}"
            )
        out = self._pca.transform(features.detach().double().cpu().numpy()).astype(np.float32)
        return F.normalize(torch.from_numpy(out), dim=1)
