"""Features of named trunk layers (VISSL's feature keys) and of the SSL head, with pooling.

The trunk follows the ssl-models interface: ``forward(x) -> [B, D]`` (pooled features),
``forward_features(x, names) -> {name: Tensor}`` and ``feature_names() -> list[str]`` (ResNet:
``conv1, res2, res3, res4, res5, res5avg, flatten``). The name ``"heads"`` means
``head(trunk(x))``: kNN or SVMs on the SSL head's output (VISSL's EVAL_TRUNK_AND_HEAD).

Spatial maps ``[B, C, H, W]`` are pooled before flattening: ``pooling[name] = (kernel, stride,
padding)`` runs ``avg_pool2d`` (VISSL's ``LINEAR_EVAL_FEAT_POOL_OPS_MAP``; the ResNet-50 224 px
preset is ``VISSL_RESNET50_POOLING``); without an entry, the map is averaged to ``[B, C]``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_evaluation.features import ExtractedFeatures, collect_outputs

__all__ = [
    "HEADS",
    "VISSL_RESNET50_POOLING",
    "FeatureTrunk",
    "PoolSpec",
    "extract_layer_features",
    "layer_forward",
]

HEADS = "heads"
PoolSpec = tuple[tuple[int, int], int, int]

#: VISSL's canonical ResNet-50 multi-layer linear-eval pooling (224 px inputs): about 9k dims each.
VISSL_RESNET50_POOLING: dict[str, PoolSpec] = {
    "conv1": ((10, 10), 10, 4),
    "res2": ((16, 16), 8, 0),
    "res3": ((13, 13), 5, 0),
    "res4": ((8, 8), 3, 0),
    "res5": ((6, 6), 1, 0),
}


class FeatureTrunk(Protocol):
    """What ``extract_layer_features`` needs from a trunk (ssl-models' ``Trunk`` has it)."""

    def __call__(self, x: Tensor) -> Tensor: ...

    def forward_features(self, x: Tensor, names: Sequence[str]) -> dict[str, Tensor]: ...

    def feature_names(self) -> list[str]: ...


def _pool(name: str, value: Tensor, pooling: Mapping[str, PoolSpec | None]) -> Tensor:
    if value.ndim != 4:
        return value.reshape(value.shape[0], -1)
    spec = pooling.get(name, "global")
    if spec is None:  # explicit identity (VISSL's Identity): flatten the whole map
        return value.reshape(value.shape[0], -1)
    if spec == "global":
        return value.mean(dim=(2, 3))
    kernel, stride, padding = spec  # type: ignore[misc]
    if value.shape[2] + 2 * padding < kernel[0] or value.shape[3] + 2 * padding < kernel[1]:
        raise ValueError(
            f"pooling for layer {name!r} has kernel {tuple(kernel)} but the map is "
            f"{tuple(value.shape[2:])}; use a pooling preset for this input size"
        )
    return F.avg_pool2d(value, kernel, stride, padding).reshape(value.shape[0], -1)


def layer_forward(
    trunk: FeatureTrunk,
    layers: Sequence[str],
    head: Callable[[Tensor], Tensor] | None = None,
    pooling: Mapping[str, PoolSpec | None] | None = None,
) -> Callable[[Tensor], dict[str, Tensor]]:
    """A function images ``[B, 3, H, W]`` -> ``{layer: [B, D_layer]}`` for ``layers``.

    Raises ``ValueError`` naming the trunk's layers for a name it does not have, or when
    ``"heads"`` is asked for without a ``head``.
    """
    if not layers:
        raise ValueError("layers must name at least one layer")
    pooling = dict(pooling or {})
    trunk_layers = [name for name in layers if name != HEADS]
    if trunk_layers:
        if not hasattr(trunk, "feature_names"):
            raise ValueError(
                f"layers {trunk_layers} need a trunk with feature_names()/forward_features()"
            )
        known = list(trunk.feature_names())
        unknown = [name for name in trunk_layers if name not in known]
        if unknown:
            raise ValueError(f"unknown layer name(s) {unknown}; the trunk has {known}")
    if HEADS in layers and head is None:
        raise ValueError("layer 'heads' needs the head module (head=...)")

    def forward(images: Tensor) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        if trunk_layers:
            maps = trunk.forward_features(images, trunk_layers)
            for name in trunk_layers:
                out[name] = _pool(name, maps[name], pooling)
        if HEADS in layers:
            assert head is not None
            out[HEADS] = head(trunk(images)).reshape(images.shape[0], -1)
        return out

    return forward


def extract_layer_features(
    trunk: FeatureTrunk,
    loader: Iterable[object],
    layers: Sequence[str],
    head: Callable[[Tensor], Tensor] | None = None,
    pooling: Mapping[str, PoolSpec | None] | None = None,
    device: str | torch.device = "cpu",
    autocast_dtype: torch.dtype | None = None,
) -> ExtractedFeatures:
    """Features of several trunk layers (and/or ``"heads"``) in one pass over ``loader``.

    Returns ``ExtractedFeatures`` with ``features[layer] [N, D_layer]``, labels and dataset
    indices (rows in dataset order; merged across ranks under ``torch.distributed``). The trunk
    and head are put in eval mode for the pass and restored afterwards.
    """
    forward = layer_forward(trunk, layers, head, pooling)
    modules = [m for m in (trunk, head) if isinstance(m, nn.Module)]
    modes = [m.training for m in modules]
    for module in modules:
        module.eval()
    try:
        return collect_outputs(forward, loader, device=device, autocast_dtype=autocast_dtype)
    finally:
        for module, mode in zip(modules, modes):
            module.train(mode)
