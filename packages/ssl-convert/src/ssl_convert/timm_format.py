"""timm state dicts (ResNe(X)t, RegNet, ViT, DeiT) <-> ssl-models trunk weights.

RegNets are renamed with :mod:`ssl_convert.regnet_keys` (timm's ``s{i}.b{j}`` names).

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
from ssl_convert.regnet_keys import is_regnet_in, regnet_from_ours, regnet_to_ours
from ssl_convert.resnet_arch import is_resnet_state
from ssl_convert.vit_keys import TIMM_TO_TORCHVISION_VIT, is_timm_vit
from ssl_convert.weights import Weights, from_mapped, head_keys, mapped_trunk, plain_state

__all__ = ["ours_to_timm", "read_timm", "timm_num_heads", "timm_to_ours", "write_timm"]

_VIT_TRUNK = template_rule((a, a) for a, _ in TIMM_TO_TORCHVISION_VIT)


def timm_to_ours(state: Mapping[str, Tensor]) -> MappedState:
    """timm ResNe(X)t / ViT / DeiT state dict -> ssl-models names (classifier dropped)."""
    if is_timm_vit(state):
        return map_keys(state, lambda k: DROP if k.startswith("head.") else _VIT_TRUNK(k), what="timm ViT")
    if is_regnet_in(state, "timm"):
        return regnet_to_ours(state, "timm")
    if is_resnet_state(state):
        return map_keys(state, lambda k: DROP if k.startswith("fc.") else k, what="timm ResNet")
    raise FormatError("not a timm ResNe(X)t, RegNet or ViT state dict (no conv1.weight / stem.conv.weight / cls_token)")


def ours_to_timm(state: Mapping[str, Tensor]) -> MappedState:
    """ssl-models trunk weights -> timm names (the same names; checked key by key)."""
    if is_timm_vit(state):
        return map_keys(state, _VIT_TRUNK, what="ViT trunk")
    if is_regnet_in(state, "ours"):
        return regnet_from_ours(state, "timm")
    if is_resnet_state(state):
        return map_keys(state, lambda k: k, what="ResNet trunk")
    raise FormatError("timm output supports ResNe(X)t, RegNet and ViT trunks only")


def timm_num_heads(arch: str) -> tuple[int, int] | None:
    """``(num_heads, embed_dim)`` of timm's ViT ``arch`` (built on the meta device), or None when
    timm does not know the name or it is not a ViT."""
    import timm
    import torch

    try:
        with torch.device("meta"):
            model = timm.create_model(arch, pretrained=False)
        return int(model.blocks[0].attn.num_heads), int(model.embed_dim)
    except Exception:  # noqa: BLE001 - unknown name, other architecture: no hint
        return None


def read_timm(obj: object) -> Weights:
    """A timm state dict (optionally under ``state_dict``/``model``) -> :class:`Weights`.

    A checkpoint written by timm's train script names its model (``arch``); a ViT's
    ``num_heads`` is then taken from timm's definition of that model when its width matches.
    """
    state = plain_state(obj)
    out = from_mapped(timm_to_ours(state))
    arch = obj.get("arch") if isinstance(obj, Mapping) else None
    if is_timm_vit(state) and isinstance(arch, str):
        found = timm_num_heads(arch)
        width = int(state["patch_embed.proj.weight"].shape[0])
        if found is not None and found[1] == width:
            out.arch_hints["num_heads"] = (found[0], f"timm's {arch}")
        else:
            out.notes.append(f"arch {arch!r} named by the file is not a timm ViT of width {width}; its num_heads not used")
    return out


def write_timm(payload: Mapping[str, Any]) -> tuple[dict[str, Tensor], list[str]]:
    """The timm state dict of an ssl checkpoint's trunk, and the head keys left out."""
    mapped = ours_to_timm(payload["trunk"]["state_dict"])
    return mapped_trunk(mapped, "timm"), head_keys(payload)
