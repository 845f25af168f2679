"""Small projection heads: the BYOL/SimSiam predictor, the VICReg/Barlow Twins expander, and the
supervised ViT classifier (``vision_transformer_head``)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from ssl_models.heads.base import Head
from ssl_models.heads.mlp import mlp_layers

__all__ = ["ExpanderHead", "PredictorHead", "VisionTransformerHead"]


class PredictorHead(Head):
    """BYOL/SimSiam predictor: Linear-BN-ReLU-Linear, ``[B, dims[0]] -> [B, dims[-1]]``.

    BYOL: ``dims=[256, 4096, 256]``; SimSiam: ``dims=[2048, 512, 2048]``. Parameters under ``clf``.
    """

    def __init__(self, dims: Sequence[int] = (256, 4096, 256)) -> None:
        super().__init__("predictor", {"dims": [int(d) for d in dims]})
        self.clf = mlp_layers(dims, use_bn=True, use_relu=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.clf(x.flatten(1))


class ExpanderHead(Head):
    """VICReg / Barlow Twins expander: (Linear-BN-ReLU) x (n-1) then Linear, ``[B, dims[0]] -> [B, dims[-1]]``.

    Barlow Twins and VICReg: ``dims=[2048, 8192, 8192, 8192]``, hidden Linear layers without bias
    (``use_bias=False``; the last layer has no bias either, as in Barlow Twins).
    """

    def __init__(self, dims: Sequence[int] = (2048, 8192, 8192, 8192), use_bias: bool = False) -> None:
        super().__init__("expander", {"dims": [int(d) for d in dims], "use_bias": use_bias})
        self.clf = mlp_layers(dims, use_bn=True, use_relu=True, use_bias=use_bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.clf(x.flatten(1))


class VisionTransformerHead(Head):
    """VISSL's ``vision_transformer_head``: ``[B, in_plane] -> [B, num_classes]``.

    Linear, or Linear-Tanh-Linear when ``hidden_dim`` is given (ViT's pre-logits layer). The
    classifier starts at zero, as in ViT.
    """

    def __init__(self, in_plane: int, num_classes: int = 1000, hidden_dim: int | None = None) -> None:
        super().__init__("vision_transformer_head", {"in_plane": int(in_plane), "num_classes": int(num_classes), "hidden_dim": hidden_dim})
        layers: list[nn.Module] = []
        last = in_plane
        if hidden_dim is not None:
            layers += [nn.Linear(in_plane, hidden_dim), nn.Tanh()]
            last = hidden_dim
        head = nn.Linear(last, num_classes)
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
        self.layers = nn.Sequential(*layers, head)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x.flatten(1))
