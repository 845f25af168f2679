"""VISSL's linear-evaluation heads: ``eval_mlp`` (BatchNorm2d then Linear) and ``linear_eval_mlp``
(BatchNorm1d then Linear)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from ssl_models.heads.base import Head
from ssl_models.heads.mlp import mlp_layers

__all__ = ["EvalMLPHead", "LinearEvalMLPHead"]


class EvalMLPHead(Head):
    """VISSL's ``eval_mlp`` ("Zhang et al. style"): BatchNorm2d over ``in_channels``, flatten, MLP.

    ``[B, in_channels, h, w] -> [B, dims[-1]]`` with ``dims[0] == in_channels * h * w`` (e.g. res4
    pooled to 3x3: ``in_channels=1024, dims=[9216, 1000]``). Parameters: ``channel_bn``, ``clf``.
    """

    head_name = "eval_mlp"
    norm_type: type[nn.Module] = nn.BatchNorm2d

    def __init__(
        self,
        in_channels: int,
        dims: Sequence[int],
        use_bn: bool = False,
        use_relu: bool = False,
        use_dropout: bool = False,
        use_bias: bool = True,
        skip_last_layer_relu_bn: bool = True,
        batchnorm_eps: float = 1e-5,
        batchnorm_momentum: float = 0.1,
    ) -> None:
        opts = {"use_bn": use_bn, "use_relu": use_relu, "use_dropout": use_dropout, "use_bias": use_bias, "skip_last_layer_relu_bn": skip_last_layer_relu_bn}
        bn = {"batchnorm_eps": batchnorm_eps, "batchnorm_momentum": batchnorm_momentum}
        super().__init__(self.head_name, {"in_channels": int(in_channels), "dims": [int(d) for d in dims], **opts, **bn})
        self.channel_bn = self.norm_type(in_channels, eps=batchnorm_eps, momentum=batchnorm_momentum)
        self.clf = mlp_layers(dims, **opts, **bn)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C, h, w]`` (a ``[B, C]`` input is treated as ``[B, C, 1, 1]``) -> ``[B, dims[-1]]``."""
        if x.ndim == 2:
            x = x[:, :, None, None]
        if x.ndim != 4:
            raise ValueError(f"eval_mlp expects [B, C, H, W] features, got shape {tuple(x.shape)}")
        return self.clf(self.channel_bn(x).flatten(1))


class LinearEvalMLPHead(EvalMLPHead):
    """VISSL's ``linear_eval_mlp``: BatchNorm1d over ``in_channels`` then MLP, ``[B, in_channels] -> [B, dims[-1]]``.

    ``[B, C, 1, 1]`` inputs are flattened. Parameters: ``channel_bn``, ``clf``. Same options as
    ``EvalMLPHead``.
    """

    head_name = "linear_eval_mlp"
    norm_type = nn.BatchNorm1d

    def forward(self, x: Tensor) -> Tensor:
        """``[B, in_channels]`` -> ``[B, dims[-1]]``."""
        return self.clf(self.channel_bn(x.flatten(1)))
