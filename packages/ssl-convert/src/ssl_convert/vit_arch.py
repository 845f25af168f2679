"""Working out a Vision Transformer's build arguments from the shapes of its timm-named weights."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from torch import Tensor

from ssl_convert.errors import FormatError
from ssl_convert.vit_keys import is_timm_vit

__all__ = ["WIDE_HEAD_VITS", "infer_vit", "num_heads_for_width"]

#: Standard ViT widths whose attention heads are not 64 wide (hidden_dim -> num_heads), as
#: timm defines them: SigLIP So400m (1152), ViT-H (1280), ViT-g (1408), ViT-G (1664). Every
#: other standard ViT/DeiT (Ti 192, S 384, M 512, B 768, L 1024, DINOv2-g 1536) has 64-wide heads.
WIDE_HEAD_VITS: dict[int, int] = {1152: 16, 1280: 16, 1408: 16, 1664: 16}


def num_heads_for_width(hidden_dim: int) -> tuple[int, str]:
    """``(num_heads, how it was chosen)`` for a ViT of width ``hidden_dim`` whose checkpoint does
    not say: :data:`WIDE_HEAD_VITS`, else 64-wide heads (``hidden_dim // 64``, at least 1)."""
    if hidden_dim in WIDE_HEAD_VITS:
        return WIDE_HEAD_VITS[hidden_dim], f"the standard value for width {hidden_dim}"
    return max(1, hidden_dim // 64), "assumed: 64-wide heads"


def infer_vit(state: Mapping[str, Tensor], num_heads: int | None = None) -> tuple[str, dict[str, Any]]:
    """``("vision_transformer", kwargs)`` for ``ssl_models.build_trunk`` from timm-named weights.

    ``image_size``, ``patch_size``, ``hidden_dim``, ``num_layers``, ``mlp_dim`` and ``qkv_bias``
    are read from the shapes. ``num_heads`` is not visible in the weights: it is taken from the
    argument, else from :func:`num_heads_for_width`.
    """
    if not is_timm_vit(state):
        raise FormatError("weights are not a timm-named ViT (no cls_token / patch_embed.proj.weight)")
    proj = state["patch_embed.proj.weight"]
    hidden, patch = int(proj.shape[0]), int(proj.shape[-1])
    tokens = int(state["pos_embed"].shape[1]) - 1
    side = math.isqrt(tokens)
    if side * side != tokens:
        raise FormatError(f"pos_embed holds {tokens} patch positions, not a square grid")
    layers = 1 + max(int(m.group(1)) for k in state if (m := re.match(r"^blocks\.(\d+)\.", k)))
    kwargs: dict[str, Any] = {
        "image_size": side * patch,
        "patch_size": patch,
        "num_layers": layers,
        "num_heads": int(num_heads) if num_heads is not None else num_heads_for_width(hidden)[0],
        "hidden_dim": hidden,
        "mlp_dim": int(state["blocks.0.mlp.fc1.weight"].shape[0]),
        "qkv_bias": "blocks.0.attn.qkv.bias" in state,
    }
    return "vision_transformer", kwargs
