"""Vision Transformer parameter names: timm's (also DeiT's, DINO's and VISSL's) <-> torchvision's.

ssl-models' ViT trunks use timm's names, so this table is also ours <-> torchvision.
"""

from __future__ import annotations

from collections.abc import Mapping

from ssl_convert.keymap import DROP, MappedState, map_keys, template_rule

__all__ = ["TIMM_TO_TORCHVISION_VIT", "is_timm_vit", "is_torchvision_vit", "timm_vit_to_torchvision", "torchvision_vit_to_timm"]

_TV_BLOCK = "encoder.layers.encoder_layer_{i}"

#: (timm name, torchvision name). qkv / in_proj share the [3D, D] q-k-v layout; the MLP's
#: Linears sit at indices 0 and 3 of torchvision's MLPBlock.
TIMM_TO_TORCHVISION_VIT: tuple[tuple[str, str], ...] = (
    ("cls_token", "class_token"),
    ("pos_embed", "encoder.pos_embedding"),
    ("patch_embed.proj.{p}", "conv_proj.{p}"),
    ("blocks.{i}.norm1.{p}", f"{_TV_BLOCK}.ln_1.{{p}}"),
    ("blocks.{i}.attn.qkv.weight", f"{_TV_BLOCK}.self_attention.in_proj_weight"),
    ("blocks.{i}.attn.qkv.bias", f"{_TV_BLOCK}.self_attention.in_proj_bias"),
    ("blocks.{i}.attn.proj.{p}", f"{_TV_BLOCK}.self_attention.out_proj.{{p}}"),
    ("blocks.{i}.norm2.{p}", f"{_TV_BLOCK}.ln_2.{{p}}"),
    ("blocks.{i}.mlp.fc1.{p}", f"{_TV_BLOCK}.mlp.0.{{p}}"),
    ("blocks.{i}.mlp.fc2.{p}", f"{_TV_BLOCK}.mlp.3.{{p}}"),
    ("norm.{p}", "encoder.ln.{p}"),
)


def is_timm_vit(state: Mapping[str, object]) -> bool:
    """timm/DeiT/DINO/VISSL ViT names (``cls_token``, ``patch_embed.proj.weight``)."""
    return "cls_token" in state and "patch_embed.proj.weight" in state


def is_torchvision_vit(state: Mapping[str, object]) -> bool:
    """torchvision ViT names (``class_token``, ``conv_proj.weight``)."""
    return "class_token" in state and "conv_proj.weight" in state


def timm_vit_to_torchvision(state: Mapping[str, object]) -> MappedState:
    """timm ViT trunk -> torchvision ``VisionTransformer`` names (classifier ``head.*`` dropped)."""
    table = template_rule(TIMM_TO_TORCHVISION_VIT)
    return map_keys(state, lambda k: DROP if k.startswith("head.") else table(k), what="timm ViT")


def torchvision_vit_to_timm(state: Mapping[str, object]) -> MappedState:
    """torchvision ``VisionTransformer`` -> timm names (classifier ``heads.*`` dropped)."""
    table = template_rule(TIMM_TO_TORCHVISION_VIT, reverse=True)
    return map_keys(state, lambda k: DROP if k.startswith("heads.") else table(k), what="torchvision ViT")
