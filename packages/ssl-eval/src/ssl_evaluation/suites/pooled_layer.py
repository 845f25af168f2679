"""One named layer of a trunk as a feature extractor: globally average-pooled to ``[B, C]``.

The probes (kNN, linear, BatchNorm re-estimation) take any module that maps images to ``[B, D]``;
:class:`PooledLayer` gives them an intermediate layer instead of the trunk's pooled output, as
VISSL's layer-wise benchmarks do (a pretext task such as Jigsaw specialises the last stage, and
its earlier layers transfer better: Goyal et al., 2019).
"""

from __future__ import annotations

from torch import Tensor, nn

from ssl_evaluation.layer_features import layer_forward

__all__ = ["PooledLayer", "layer_or_trunk"]


class PooledLayer(nn.Module):
    """``trunk.forward_features(x, [layer])[layer]`` averaged over its spatial positions
    (``ssl_evaluation.layer_features.layer_forward`` without a pooling entry).

    Args:
        trunk: a trunk with the ssl-models interface (``feature_names()``, ``forward_features``).
        layer: one of ``trunk.feature_names()`` (ResNet: ``conv1, res2, res3, res4, res5, res5avg``).

    Raises:
        ValueError: ``layer`` is not a feature of ``trunk`` (one line naming those it has).
    """

    def __init__(self, trunk: nn.Module, layer: str) -> None:
        super().__init__()
        self._forward = layer_forward(trunk, [layer])  # type: ignore[arg-type]
        self.trunk = trunk  # a child: eval(), BatchNorm re-estimation and devices reach it
        self.layer = layer

    def forward(self, x: Tensor) -> Tensor:
        """Images ``[B, C, H, W]`` -> ``[B, C_layer]`` (a 4-d map is averaged over H and W)."""
        return self._forward(x)[self.layer]


def layer_or_trunk(trunk: nn.Module, layer: str) -> nn.Module:
    """What the probes read: ``PooledLayer(trunk, layer)``, or ``trunk`` itself (its pooled
    output) when ``layer`` is empty (a recipe's ``probe_layer`` default)."""
    return PooledLayer(trunk, layer) if layer else trunk
