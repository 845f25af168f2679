"""Prototype heads: VISSL's ``swav_head`` (several prototype layers) and DINO's ``dino_head``."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

from ssl_models.heads.base import Head

__all__ = ["DINOHead", "SwAVHead"]

_ACTIVATIONS = {"ReLU": nn.ReLU, "GELU": nn.GELU}


def _weight_normed_prototypes(in_dim: int, k: int, fix_norm: bool) -> nn.Module:
    """Linear(in_dim, k, no bias) with weight normalisation, the norm (``original0``) set to 1."""
    layer = weight_norm(nn.Linear(in_dim, k, bias=False))
    params = layer.parametrizations.weight
    params.original0.data.fill_(1.0)
    if fix_norm:
        params.original0.requires_grad = False
    return layer


class SwAVHead(Head):
    """VISSL's ``swav_head``: projection MLP, L2 normalisation, then one prototype layer per entry
    of ``num_clusters`` (``prototypes0``, ``prototypes1``, ...).

    Forward ``[B, dims[0]] -> [embeddings [B, dims[-1]], scores_0 [B, K_0], scores_1 [B, K_1], ...]``
    (embeddings first only when ``return_embeddings``).

    Args:
        dims: projection sizes, e.g. ``[2048, 2048, 128]``.
        use_bn: BatchNorm1d after each hidden Linear.
        num_clusters: prototypes per layer, e.g. ``[3000]`` (SwAV) or ``[3000, 3000, 3000]``.
        use_bias: Linear biases in the projection.
        return_embeddings: also return the normalised embeddings.
        skip_last_bn: no BN/activation after the last projection Linear.
        normalize_feats: L2-normalise embeddings before the prototypes.
        activation_name: "ReLU" or "GELU".
        use_weight_norm_prototypes: weight-normalised prototypes (norm fixed at 1).
    """

    def __init__(
        self,
        dims: Sequence[int],
        use_bn: bool = True,
        num_clusters: Sequence[int] = (3000,),
        use_bias: bool = True,
        return_embeddings: bool = True,
        skip_last_bn: bool = True,
        normalize_feats: bool = True,
        activation_name: str = "ReLU",
        use_weight_norm_prototypes: bool = False,
        batchnorm_eps: float = 1e-5,
        batchnorm_momentum: float = 0.1,
    ) -> None:
        dims = [int(d) for d in dims]
        clusters = [int(k) for k in num_clusters]
        if len(dims) < 1 or any(d < 1 for d in dims) or any(k < 1 for k in clusters):
            raise ValueError(f"dims and num_clusters must be positive sizes, got {dims!r} and {clusters!r}")
        if activation_name not in _ACTIVATIONS:
            raise ValueError(f"activation_name must be one of {sorted(_ACTIVATIONS)}, got {activation_name!r}")
        super().__init__(
            "swav_head",
            {
                "dims": dims,
                "use_bn": use_bn,
                "num_clusters": clusters,
                "use_bias": use_bias,
                "return_embeddings": return_embeddings,
                "skip_last_bn": skip_last_bn,
                "normalize_feats": normalize_feats,
                "activation_name": activation_name,
                "use_weight_norm_prototypes": use_weight_norm_prototypes,
                "batchnorm_eps": batchnorm_eps,
                "batchnorm_momentum": batchnorm_momentum,
            },
        )
        layers: list[nn.Module] = []
        for i in range(len(dims) - 1):
            layers.append(nn.Linear(dims[i], dims[i + 1], bias=use_bias))
            if i == len(dims) - 2 and skip_last_bn:
                break
            if use_bn:
                layers.append(nn.BatchNorm1d(dims[i + 1], eps=batchnorm_eps, momentum=batchnorm_momentum))
            layers.append(_ACTIVATIONS[activation_name]())
        self.projection_head = nn.Sequential(*layers)
        self.num_prototype_layers = len(clusters)
        for i, k in enumerate(clusters):
            layer = _weight_normed_prototypes(dims[-1], k, fix_norm=True) if use_weight_norm_prototypes else nn.Linear(dims[-1], k, bias=False)
            self.add_module(f"prototypes{i}", layer)
        self.return_embeddings = return_embeddings
        self.normalize_feats = normalize_feats

    def forward(self, x: Tensor) -> list[Tensor]:
        """``[B, dims[0]]`` -> ``[embeddings, scores_0, ...]`` (see the class docstring)."""
        z = self.projection_head(x.flatten(1))
        if self.normalize_feats:
            z = F.normalize(z, dim=1, p=2)
        out = [z] if self.return_embeddings else []
        out += [getattr(self, f"prototypes{i}")(z) for i in range(self.num_prototype_layers)]
        return out


class DINOHead(Head):
    """DINO's head (``dino_head``): MLP ``in_dim -> hidden_dim -> ... -> bottleneck_dim`` with GELU,
    L2 normalisation, then a weight-normalised Linear ``bottleneck_dim -> out_dim`` without bias.

    ``[B, in_dim] -> [B, out_dim]`` (logits before DINO's temperature softmax).

    Args:
        in_dim: trunk feature size (e.g. 384 for ViT-S).
        out_dim: number of prototypes K (65536 in DINO).
        use_bn: BatchNorm1d in the hidden layers.
        norm_last_layer: keep the last layer's weight norm fixed at 1 (DINO's ``norm_last_layer``).
        num_layers: Linear layers before the prototypes (3).
        hidden_dim, bottleneck_dim: 2048 and 256 in DINO.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int = 65536,
        use_bn: bool = False,
        norm_last_layer: bool = True,
        num_layers: int = 3,
        hidden_dim: int = 2048,
        bottleneck_dim: int = 256,
    ) -> None:
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers!r}")
        super().__init__(
            "dino_head",
            {
                "in_dim": int(in_dim),
                "out_dim": int(out_dim),
                "use_bn": use_bn,
                "norm_last_layer": norm_last_layer,
                "num_layers": int(num_layers),
                "hidden_dim": int(hidden_dim),
                "bottleneck_dim": int(bottleneck_dim),
            },
        )
        sizes = [in_dim] + [hidden_dim] * (num_layers - 1) + [bottleneck_dim]
        layers: list[nn.Module] = []
        for i in range(num_layers):
            layers.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i < num_layers - 1:
                if use_bn:
                    layers.append(nn.BatchNorm1d(sizes[i + 1]))
                layers.append(nn.GELU())
        self.mlp = nn.Sequential(*layers)
        for m in self.mlp.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        self.last_layer = _weight_normed_prototypes(bottleneck_dim, out_dim, fix_norm=norm_last_layer)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, in_dim] -> [B, out_dim]``."""
        z = F.normalize(self.mlp(x.flatten(1)), dim=-1, p=2)
        return self.last_layer(z)
