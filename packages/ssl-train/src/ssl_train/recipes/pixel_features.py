"""Stage-1 features without a pretrained model: an image's own pixels, standardised and
PCA-reduced (ClusterFit's ``clusterfit.checkpoint=""``).

On small grey images (Fashion-MNIST) a kNN classifier on standardised pixels is a strong
baseline (82.58 % top-1, k=200, T=0.1), so pseudo-labels from k-means of those pixels are already
good clusters; a network that learns them under augmentation generalises past them. The reduction
follows DeepCluster (Caron et al., 2018), which PCA-reduces features before its k-means (there to
256 dimensions, with whitening; here without whitening, which keeps the pixels' own geometry).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["Pixels", "at_most", "standardised_pca"]


def at_most(images: Tensor, max_side: int) -> Tensor:
    """``images [B, C, H, W]`` average-pooled so that neither side is longer than ``max_side``
    (aspect ratio kept; smaller images are returned as they are)."""
    h, w = images.shape[-2:]
    if max(h, w) <= max_side:
        return images
    scale = max_side / max(h, w)
    return nn.functional.adaptive_avg_pool2d(images, (max(1, round(h * scale)), max(1, round(w * scale))))


class Pixels(nn.Module):
    """``images [B, C, H, W] -> pixels [B, C * h * w]``, average-pooled so that neither side is
    longer than ``max_side`` (a 28 px image keeps all 784 values per channel)."""

    def __init__(self, max_side: int = 32) -> None:
        super().__init__()
        self.max_side = max_side

    def forward(self, images: Tensor) -> Tensor:
        return at_most(images, self.max_side).flatten(1)


def standardised_pca(features: Tensor, dim: int, chunk_rows: int = 8192) -> Tensor:
    """``features [N, D] -> [N, min(dim, D)]``: every column standardised (mean 0, std 1; constant
    columns become 0), then projected on the ``dim`` principal axes of largest variance (float64
    statistics and covariance, eigen-decomposition; deterministic, so every rank computes the same
    projection from the same gathered features). Rows are read ``chunk_rows`` at a time, so no
    float64 copy of the whole ``[N, D]`` matrix is made (Fashion-MNIST's pixels: 564 MB in float32)."""
    if features.dim() != 2 or features.shape[0] < 2:
        raise ValueError(f"standardised_pca needs features [N >= 2, D], got {tuple(features.shape)}")
    n = features.shape[0]
    chunks = features.split(chunk_rows)
    mean = sum(c.double().sum(0) for c in chunks) / n
    std = (sum(((c.double() - mean) ** 2).sum(0) for c in chunks) / (n - 1)).sqrt()

    def standardised(c: Tensor) -> Tensor:
        x = c.double() - mean
        return torch.where(std > 0, x / std.clamp_min(torch.finfo(x.dtype).tiny), torch.zeros_like(x))

    if dim >= features.shape[1]:
        return torch.cat([standardised(c).to(features.dtype) for c in chunks])
    covariance = torch.zeros(features.shape[1], features.shape[1], dtype=torch.float64, device=features.device)
    for c in chunks:
        z = standardised(c)
        covariance += z.T @ z
    covariance /= n - 1
    _, vectors = torch.linalg.eigh(covariance)  # ascending eigenvalues
    basis = vectors[:, -dim:].flip(1)
    return torch.cat([(standardised(c) @ basis).to(features.dtype) for c in chunks])
