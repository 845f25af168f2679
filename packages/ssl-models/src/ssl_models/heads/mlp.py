"""VISSL's ``mlp`` head: consecutive Linear layers with optional BatchNorm, ReLU and dropout."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from ssl_models.heads.base import Head

__all__ = ["MLPHead", "mlp_layers"]


def mlp_layers(
    dims: Sequence[int],
    *,
    use_bn: bool = False,
    use_relu: bool = True,
    skip_last_layer_relu_bn: bool = True,
    use_bias: bool = True,
    use_dropout: bool = False,
    batchnorm_eps: float = 1e-5,
    batchnorm_momentum: float = 0.1,
) -> nn.Sequential:
    """Linear ``dims[i] -> dims[i+1]`` layers, each followed by BatchNorm1d, ReLU, Dropout as asked.

    The last Linear has no BN/ReLU/Dropout after it when ``skip_last_layer_relu_bn``.
    """
    dims = [int(d) for d in dims]
    if len(dims) < 2 or any(d < 1 for d in dims):
        raise ValueError(f"dims must hold at least two positive sizes, got {list(dims)!r}")
    layers: list[nn.Module] = []
    for i in range(len(dims) - 1):
        layers.append(nn.Linear(dims[i], dims[i + 1], bias=use_bias))
        if i == len(dims) - 2 and skip_last_layer_relu_bn:
            break
        if use_bn:
            layers.append(nn.BatchNorm1d(dims[i + 1], eps=batchnorm_eps, momentum=batchnorm_momentum))
        if use_relu:
            layers.append(nn.ReLU(inplace=True))
        if use_dropout:
            layers.append(nn.Dropout())
    return nn.Sequential(*layers)


class MLPHead(Head):
    """VISSL's ``mlp`` head: ``[B, dims[0]] -> [B, dims[-1]]``.

    Inputs ``[B, C, 1, 1]`` (a pooled conv feature) are flattened first. Parameters live under
    ``clf`` (``clf.0.weight`` ...), VISSL's names.

    Args:
        dims: layer sizes, e.g. ``[2048, 2048, 128]`` (SimCLR) or ``[2048, 1000]`` (linear eval).
        use_bn: BatchNorm1d after each hidden Linear.
        use_relu: ReLU after each hidden Linear (default True here; VISSL's default is False).
        skip_last_layer_relu_bn: no BN/ReLU/dropout after the last Linear.
        use_bias: Linear layers have biases.
        use_dropout: Dropout(0.5) after each hidden Linear.
        batchnorm_eps, batchnorm_momentum: VISSL's HEAD.BATCHNORM_EPS / BATCHNORM_MOMENTUM.
    """

    def __init__(
        self,
        dims: Sequence[int],
        use_bn: bool = False,
        use_relu: bool = True,
        skip_last_layer_relu_bn: bool = True,
        use_bias: bool = True,
        use_dropout: bool = False,
        batchnorm_eps: float = 1e-5,
        batchnorm_momentum: float = 0.1,
    ) -> None:
        kwargs = {
            "dims": [int(d) for d in dims],
            "use_bn": use_bn,
            "use_relu": use_relu,
            "skip_last_layer_relu_bn": skip_last_layer_relu_bn,
            "use_bias": use_bias,
            "use_dropout": use_dropout,
            "batchnorm_eps": batchnorm_eps,
            "batchnorm_momentum": batchnorm_momentum,
        }
        super().__init__("mlp", kwargs)
        self.clf = mlp_layers(
            dims,
            use_bn=use_bn,
            use_relu=use_relu,
            skip_last_layer_relu_bn=skip_last_layer_relu_bn,
            use_bias=use_bias,
            use_dropout=use_dropout,
            batchnorm_eps=batchnorm_eps,
            batchnorm_momentum=batchnorm_momentum,
        )
        self.in_features = kwargs["dims"][0]
        self.out_features = kwargs["dims"][-1]

    def forward(self, x: Tensor) -> Tensor:
        """``[B, dims[0]]`` or ``[B, dims[0], 1, 1]`` -> ``[B, dims[-1]]``."""
        if x.ndim > 2:
            x = x.flatten(1)
        if x.shape[1] != self.in_features:
            raise ValueError(f"mlp head expects {self.in_features} input features, got shape {tuple(x.shape)}")
        return self.clf(x)
