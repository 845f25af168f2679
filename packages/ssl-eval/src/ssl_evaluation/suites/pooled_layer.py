"""One named layer of a trunk as a feature extractor: globally average-pooled to ``[B, C]``.

The probes (kNN, linear, BatchNorm re-estimation) take any module that maps images to ``[B, D]``;
:class:`PooledLayer` gives them an intermediate layer instead of the trunk's pooled output, as
VISSL's layer-wise benchmarks do (a pretext task such as Jigsaw specialises the last stage, and
its earlier layers transfer better: Goyal et al., 2019).
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["PooledLayer"]


class PooledLayer(nn.Module):
    """``trunk.forward_features(x, [layer])[layer]`` averaged over its spatial positions.

    Args:
        trunk: a trunk with the ssl-models interface (``feature_names()``, ``forward_features``).
        layer: one of ``trunk.feature_names()`` (ResNet: ``conv1, res2, res3, res4, res5, res5avg``).

    Raises:
        ValueError: ``layer`` is not a feature of ``trunk`` (one line naming those it has).
    """

    def __init__(self, trunk: nn.Module, layer: str) -> None:
        super().__init__()
        available = list(trunk.feature_names())  # type: ignore[operator]
        if layer not in available:
            raise ValueError(f"layer {layer!r} is not a feature of this trunk; it has {', '.join(available)}")
        self.trunk = trunk
        self.layer = layer

    def forward(self, x: Tensor) -> Tensor:
        """Images ``[B, C, H, W]`` -> ``[B, C_layer]`` (a 4-d map is averaged over H and W)."""
        value = self.trunk.forward_features(x, [self.layer])[self.layer]  # type: ignore[operator]
        return value.mean(dim=(2, 3)) if value.ndim == 4 else value.flatten(1)
