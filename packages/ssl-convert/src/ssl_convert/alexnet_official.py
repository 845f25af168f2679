"""Official PyTorch AlexNet checkpoints of RotNet and DeepCluster -> ssl-models AlexNet trunks.

RotNet (``gidariss/FeatureLearningRotNet``): ``{"network": state, ...}`` whose
``_feature_blocks.{0,2,4,5,6}.{0,1}.*`` (conv, BN) are ssl-models' ``alexnet_rotnet`` names;
``_feature_blocks.8.*`` (fc block) and ``_feature_blocks.9.*`` (classifier) are dropped.

DeepCluster (``facebookresearch/deepcluster``): ``{"state_dict": state, "arch", "epoch", ...}``
with ``sobel.{0,1}.*`` (kept: the fixed grey + Sobel filter), ``features[.module].{i}.*`` where
the Sequential indices 0/1, 4/5, 8/9, 11/12, 14/15 are conv/BN 1-5 (-> ``_feature_blocks.{0,2,4,
5,6}.{0,1}``), and the head ``classifier.*`` / ``top_layer.*`` (dropped).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ssl_convert.keymap import DROP, map_keys
from ssl_convert.weights import Weights, from_mapped, state_dict_entry

__all__ = ["DEEPCLUSTER_FEATURES", "is_deepcluster", "is_rotnet", "read_deepcluster", "read_rotnet"]

#: index in DeepCluster's ``features`` Sequential -> ssl-models ``_feature_blocks`` sub-path.
DEEPCLUSTER_FEATURES: dict[int, str] = {0: "0.0", 1: "0.1", 4: "2.0", 5: "2.1", 8: "4.0", 9: "4.1", 11: "5.0", 12: "5.1", 14: "6.0", 15: "6.1"}
_FEATURES = re.compile(r"^features\.(?:module\.)?(\d+)\.(.+)$")


def is_rotnet(obj: object) -> bool:
    """A RotNet AlexNet checkpoint (``network`` with ``_feature_blocks.0.0.weight``)."""
    return isinstance(obj, Mapping) and isinstance(obj.get("network"), Mapping) and "_feature_blocks.0.0.weight" in obj["network"]


def is_deepcluster(obj: object) -> bool:
    """A DeepCluster AlexNet checkpoint (``features[.module].0.weight`` and ``top_layer`` / ``sobel``)."""
    if not isinstance(obj, Mapping):
        return False
    state = obj.get("state_dict", obj)
    return (
        isinstance(state, Mapping)
        and any(k in state for k in ("features.module.0.weight", "features.0.weight"))
        and any(k.startswith(("top_layer.", "sobel.")) for k in state)
    )  # fmt: skip


def read_rotnet(obj: object) -> Weights:
    """RotNet ``network`` -> ``alexnet_rotnet`` weights (fc block and classifier dropped)."""
    state = obj["network"] if is_rotnet(obj) else state_dict_entry(obj, "RotNet")  # type: ignore[index]
    mapped = map_keys(state, lambda k: DROP if k.startswith(("_feature_blocks.8.", "_feature_blocks.9.")) else k, what="RotNet network")
    out = from_mapped(mapped)
    out.trunk_name, out.trunk_kwargs = "alexnet_rotnet", {}
    out.notes.append("RotNet AlexNet: conv blocks kept; fc block and rotation classifier dropped")
    return out


def _deepcluster_rule(key: str) -> str | object | None:
    if key.startswith(("classifier.", "top_layer.")):
        return DROP
    if key.startswith("sobel."):
        return key
    m = _FEATURES.match(key)
    if m and int(m.group(1)) in DEEPCLUSTER_FEATURES:
        return f"_feature_blocks.{DEEPCLUSTER_FEATURES[int(m.group(1))]}.{m.group(2)}"
    return None


def read_deepcluster(obj: object) -> Weights:
    """DeepCluster ``state_dict`` -> ``alexnet_deepcluster`` weights (classifier and top layer dropped)."""
    state = state_dict_entry(obj, "DeepCluster")
    out = from_mapped(map_keys(state, _deepcluster_rule, what="DeepCluster state_dict"))
    out.trunk_name, out.trunk_kwargs = "alexnet_deepcluster", {}
    out.notes.append("DeepCluster AlexNet: Sobel filter and conv blocks kept; classifier and top layer dropped")
    return out
