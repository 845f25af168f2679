"""Caffe2 AlexNet blobs of the FAIR self-supervision benchmark -> ssl-models AlexNet trunks.

| Caffe2 blob (after jigsaw tower removal) | ssl-models |
| --- | --- |
| ``conv{k}_w`` / ``conv{k}_b`` | ``_feature_blocks.{i}.0.weight`` / ``.bias`` |
| ``conv{k}_bn_{s,b,rm,riv}`` (jigsaw) or ``conv{k}norm_{s,b,rm,riv}`` (colorization) | ``_feature_blocks.{i}.1.{weight,bias,running_mean,running_var}`` |
| ``fc6*``, ``fc7*``, ``fc8*``, ``pred*`` | dropped (head) |

with ``i`` = 0, 2, 4, 5, 6 for conv1..conv5 (VISSL's AlexNet block indices). The trunk is told
apart by where batch norms sit: none -> ``alexnet_bvlc`` (CaffeNet supervised), conv3-5 ->
``alexnet_jigsaw``, conv1-5 with a 1-channel conv1 -> ``alexnet_colorization`` (L input).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ssl_convert.keymap import DROP, MappedState, map_keys

__all__ = ["ALEXNET_BLOCK", "alexnet_trunk_name", "caffe2_alexnet_to_ours", "is_alexnet_state", "is_caffe2_alexnet"]

#: conv index (1-5) -> index of its block in ssl-models' / VISSL's ``_feature_blocks``.
ALEXNET_BLOCK: dict[int, int] = {1: 0, 2: 2, 3: 4, 4: 5, 5: 6}
_BN_PARAM = {"s": "weight", "b": "bias", "rm": "running_mean", "riv": "running_var"}
_CONV = re.compile(r"^conv([1-5])_(w|b)$")
_BN = re.compile(r"^conv([1-5])(?:_bn|norm)_(s|b|rm|riv)$")


def is_caffe2_alexnet(blobs: Mapping[str, object]) -> bool:
    """AlexNet blobs (``conv2_w`` / jigsaw ``conv2_s0_w``), not a ResNet (``res2_...``)."""
    return any(k in blobs for k in ("conv2_w", "conv2_s0_w"))


def _rule(key: str) -> str | object | None:
    if key.endswith("_momentum") or key in ("lr", "model_iter") or key.startswith(("fc6", "fc7", "fc8", "pred")):
        return DROP
    m = _CONV.match(key)
    if m:
        return f"_feature_blocks.{ALEXNET_BLOCK[int(m.group(1))]}.0.{'weight' if m.group(2) == 'w' else 'bias'}"
    m = _BN.match(key)
    if m:
        return f"_feature_blocks.{ALEXNET_BLOCK[int(m.group(1))]}.1.{_BN_PARAM[m.group(2)]}"
    return None


def caffe2_alexnet_to_ours(blobs: Mapping[str, object]) -> MappedState:
    """Caffe2 AlexNet blobs (jigsaw towers already removed) -> ssl-models AlexNet names."""
    return map_keys(blobs, _rule, what="Caffe2 AlexNet blobs")


def is_alexnet_state(state: Mapping[str, object]) -> bool:
    """ssl-models / VISSL AlexNet trunk names (``_feature_blocks.0.0.weight``, ``..6.0.weight``)."""
    return "_feature_blocks.0.0.weight" in state and "_feature_blocks.6.0.weight" in state


def alexnet_trunk_name(state: Mapping[str, object], in_channels: int) -> str | None:
    """The ssl-models AlexNet variant of ssl-models-named weights, from where the batch norms sit,
    the first conv's input channels and the Sobel filter (None when no variant fits)."""
    with_bn = {k for k, i in ALEXNET_BLOCK.items() if f"_feature_blocks.{i}.1.weight" in state}
    conv1 = state.get("_feature_blocks.0.0.weight")
    width = int(conv1.shape[0]) if hasattr(conv1, "shape") else None  # type: ignore[union-attr]
    if any(k.startswith("sobel.") for k in state):
        return "alexnet_deepcluster"
    if not with_bn:
        return "alexnet_bvlc"
    if with_bn == {3, 4, 5}:
        return "alexnet_jigsaw"
    if with_bn == {1, 2, 3, 4, 5}:
        if in_channels == 1:
            return "alexnet_colorization"
        if width == 64:
            return "alexnet_rotnet"
    return None
