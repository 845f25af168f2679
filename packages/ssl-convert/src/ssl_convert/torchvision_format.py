"""torchvision state dicts (ResNe(X)t, RegNet, ViT) <-> ssl-models trunk weights.

ResNe(X)t and RegNet names are identical (ssl-models uses torchvision's); torchvision's
classifier ``fc.*`` is dropped on the way in. ViT names are translated with
:mod:`ssl_convert.vit_keys`; a ViT without qkv biases gets zero ``in_proj_bias`` tensors on the way
out (torchvision's attention always has them; zeros compute the same thing).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor

from ssl_convert.errors import FormatError
from ssl_convert.keymap import DROP, MappedState, map_keys
from ssl_convert.resnet_arch import is_resnet_state
from ssl_convert.vit_keys import is_timm_vit, is_torchvision_vit, timm_vit_to_torchvision, torchvision_vit_to_timm
from ssl_convert.weights import Weights, from_mapped, head_keys, mapped_trunk, plain_state

__all__ = ["is_regnet_state", "ours_to_torchvision", "read_torchvision", "torchvision_to_ours", "write_torchvision"]


def is_regnet_state(state: Mapping[str, object]) -> bool:
    """torchvision RegNet names (``stem.0.weight``, ``trunk_output.block1...``)."""
    return "stem.0.weight" in state and any(k.startswith("trunk_output.") for k in state)


def torchvision_to_ours(state: Mapping[str, Tensor]) -> MappedState:
    """torchvision ResNe(X)t or ViT state dict -> ssl-models trunk names (classifier dropped)."""
    if is_torchvision_vit(state):
        return torchvision_vit_to_timm(state)
    if is_resnet_state(state) or is_regnet_state(state):
        return map_keys(state, lambda k: DROP if k.startswith("fc.") else k, what="torchvision ResNet/RegNet")
    raise FormatError("not a torchvision ResNe(X)t, RegNet or ViT state dict (no conv1.weight / stem.0.weight / class_token)")


def ours_to_torchvision(state: Mapping[str, Tensor]) -> MappedState:
    """ssl-models trunk weights -> torchvision names (ResNe(X)t unchanged, ViT translated)."""
    if is_timm_vit(state):
        if "blocks.0.attn.qkv.bias" not in state:
            state = dict(state)
            for key in [k for k in state if k.endswith(".attn.qkv.weight")]:
                state[key[: -len("weight")] + "bias"] = state[key].new_zeros(state[key].shape[0])
        return timm_vit_to_torchvision(state)
    if is_resnet_state(state) or is_regnet_state(state):
        return map_keys(state, lambda k: k, what="ResNet/RegNet trunk")
    raise FormatError("torchvision output supports ResNe(X)t, RegNet and ViT trunks only")


def read_torchvision(obj: object) -> Weights:
    """A torchvision state dict (optionally under ``state_dict``/``model``) -> :class:`Weights`."""
    state = plain_state(obj)
    mapped = torchvision_to_ours(state)
    return from_mapped(mapped)


def write_torchvision(payload: Mapping[str, Any]) -> tuple[dict[str, Tensor], list[str]]:
    """The torchvision state dict of an ssl checkpoint's trunk, and the head keys left out."""
    mapped = ours_to_torchvision(payload["trunk"]["state_dict"])
    return mapped_trunk(mapped, "torchvision"), head_keys(payload)

