"""timm state dicts (ResNe(X)t, ViT, DeiT) <-> ssl-models trunk weights.

timm's ResNets use torchvision's names and ssl-models' ViTs use timm's, so both directions keep
the trunk names; timm's classifiers (``fc.*`` for ResNets, ``head.*`` for ViTs) are dropped on the
way in. A distilled DeiT's ``dist_token`` / ``head_dist`` have no ssl-models counterpart and stay
unconverted (the conversion is refused).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor

from ssl_convert.errors import FormatError
from ssl_convert.keymap import DROP, MappedState, map_keys, template_rule
from ssl_convert.resnet_arch import is_resnet_state
from ssl_convert.vit_keys import TIMM_TO_TORCHVISION_VIT, is_timm_vit
from ssl_convert.weights import Weights, from_mapped, head_keys, mapped_trunk, plain_state

__all__ = ["ours_to_timm", "read_timm", "timm_to_ours", "write_timm"]

_VIT_TRUNK = template_rule((a, a) for a, _ in TIMM_TO_TORCHVISION_VIT)


def timm_to_ours(state: Mapping[str, Tensor]) -> MappedState:
    """timm ResNe(X)t / ViT / DeiT state dict -> ssl-models names (classifier dropped)."""
    if is_timm_vit(state):
        return map_keys(state, lambda k: DROP if k.startswith("head.") else _VIT_TRUNK(k), what="timm ViT")
    if is_resnet_state(state):
        return map_keys(state, lambda k: DROP if k.startswith("fc.") else k, what="timm ResNet")
    raise FormatError("not a timm ResNe(X)t or ViT state dict (no conv1.weight / cls_token)")


def ours_to_timm(state: Mapping[str, Tensor]) -> MappedState:
    """ssl-models trunk weights -> timm names (the same names; checked key by key)."""
    if is_timm_vit(state):
        return map_keys(state, _VIT_TRUNK, what="ViT trunk")
    if is_resnet_state(state):
        return map_keys(state, lambda k: k, what="ResNet trunk")
    raise FormatError("timm output supports ResNe(X)t and ViT trunks only")


def read_timm(obj: object) -> Weights:
    """A timm state dict (optionally under ``state_dict``/``model``) -> :class:`Weights`."""
    mapped = timm_to_ours(plain_state(obj))
    return from_mapped(mapped)


def write_timm(payload: Mapping[str, Any]) -> tuple[dict[str, Tensor], list[str]]:
    """The timm state dict of an ssl checkpoint's trunk, and the head keys left out."""
    mapped = ours_to_timm(payload["trunk"]["state_dict"])
    return mapped_trunk(mapped, "timm"), head_keys(payload)
