"""Trunks built by timm: ViT/DeiT, ConViT, XCiT, Swin, ConvNeXt and any timm model by name.

Models are created with ``pretrained=False`` and ``num_classes=0`` (no classifier): nothing is
ever downloaded. ``state_dict()`` keys are exactly timm's (the wrapped model's keys, without a
prefix), so a timm checkpoint minus its classifier loads with ``strict=True``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from ssl_models.trunk import Trunk, capture_outputs

__all__ = ["TIMM_PRESETS", "TimmTrunk", "timm_preset_kwargs", "vision_transformer"]

#: our name -> timm model name. Transformers built with the published architecture (qkv bias on).
TIMM_PRESETS: dict[str, str] = {
    "vit_b_16": "vit_base_patch16_224",
    "vit_b_32": "vit_base_patch32_224",
    "vit_l_16": "vit_large_patch16_224",
    "vit_l_32": "vit_large_patch32_224",
    "vit_h_14": "vit_huge_patch14_224",
    "deit_tiny": "deit_tiny_patch16_224",
    "deit_small": "deit_small_patch16_224",
    "deit_base": "deit_base_patch16_224",
    "convit_tiny": "convit_tiny",
    "convit_small": "convit_small",
    "convit_base": "convit_base",
    "xcit_small_12_p16": "xcit_small_12_p16_224",
    "xcit_medium_24_p16": "xcit_medium_24_p16_224",
    "xcit_large_24_p16": "xcit_large_24_p16_224",
    "xcit_small_12_p8": "xcit_small_12_p8_224",
    "swin_tiny": "swin_tiny_patch4_window7_224",
    "swin_small": "swin_small_patch4_window7_224",
    "swin_base": "swin_base_patch4_window7_224",
    "convnext_tiny": "convnext_tiny",
    "convnext_small": "convnext_small",
    "convnext_base": "convnext_base",
    "convnext_large": "convnext_large",
}

#: VISSL option name -> timm keyword.
_VISSL_TO_TIMM = {
    "image_size": "img_size",
    "dropout_rate": "drop_rate",
    "attention_dropout_rate": "attn_drop_rate",
}

_PREFIX = "model."


def timm_preset_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Rename VISSL's option names (image_size, dropout_rate, attention_dropout_rate) to timm's."""
    return {_VISSL_TO_TIMM.get(k, k): v for k, v in kwargs.items()}


def _strip_prefix(module: nn.Module, state_dict: dict[str, Any], prefix: str, local_metadata: Any) -> None:
    for key in [k for k in state_dict if k.startswith(prefix + _PREFIX)]:
        state_dict[prefix + key[len(prefix) + len(_PREFIX) :]] = state_dict.pop(key)


def _add_prefix(
    module: nn.Module, state_dict: dict[str, Any], prefix: str, local_metadata: Any, strict: bool, missing: list[str], unexpected: list[str], errors: list[str]
) -> None:
    for key in [k for k in state_dict if k.startswith(prefix) and not k.startswith(prefix + _PREFIX)]:
        state_dict[prefix + _PREFIX + key[len(prefix) :]] = state_dict.pop(key)


def _import_timm() -> Any:
    """timm, imported when a transformer trunk is built (the ``timm`` extra of ssl-models)."""
    try:
        import timm
    except ImportError:
        raise ImportError("transformer trunks need timm: pip install 'ssl-models[timm]'") from None
    return timm


class TimmTrunk(Trunk):
    """A timm model (no classifier) behind the Trunk interface.

    Features:
        the modules timm lists in ``feature_info`` (``blocks.0`` ... for ViT/DeiT/ConViT/XCiT:
        tokens ``[B, T, D]`` with the class token first where it is already present;
        ``layers.0`` ... for Swin: ``[B, H, W, C]``; ``stages.0`` ... for ConvNeXt: ``[B, C, H, W]``),
        ``norm`` (timm's ``forward_features`` output, after the final norm),
        ``cls_token`` ``[B, D]`` (class-token models only: row 0 of ``norm``),
        ``flatten`` ``[B, num_features]`` (timm's pre-logits: class token or global pool).

    Args:
        name: factory name recorded on the trunk.
        model: a timm model name, or an already built timm model (``num_classes=0``).
        kwargs: recorded for rebuilding.
        timm_kwargs: passed to ``timm.create_model`` (``img_size``, ``drop_path_rate``, ...).
    """

    def __init__(self, name: str, model: str | nn.Module, kwargs: dict[str, Any] | None = None, **timm_kwargs: Any) -> None:
        if isinstance(model, str):
            timm = _import_timm()
            if not timm.is_model(model):
                raise ValueError(f"unknown timm model {model!r}")
            built = timm.create_model(model, pretrained=False, num_classes=0, **timm_kwargs)
        else:
            built = model
        num_features = int(getattr(built, "head_hidden_size", None) or built.num_features)
        super().__init__(name, kwargs if kwargs is not None else {}, num_features)
        self.model = built
        info = getattr(built, "feature_info", None) or []
        self._blocks = [f["module"] for f in info if f.get("module")]
        if not self._blocks and hasattr(built, "blocks"):
            self._blocks = [f"blocks.{i}" for i in range(len(built.blocks))]
        self._has_cls = getattr(built, "cls_token", None) is not None and getattr(built, "global_pool", "token") == "token"
        self.register_state_dict_post_hook(_strip_prefix)
        self.register_load_state_dict_pre_hook(_add_prefix)

    def set_activation_checkpointing(self, enabled: bool = True, splits: int | None = None) -> None:
        """timm's own gradient checkpointing (every block is one checkpoint). ``splits`` (VISSL's
        bucketing) is not available for timm models: give ``None``."""
        if splits is not None:
            raise NotImplementedError(f"timm trunk {self.name!r} checkpoints every block (timm's own); splits must be None, got {splits!r}")
        self.activation_checkpointing = bool(enabled)
        self.model.set_grad_checkpointing(bool(enabled))

    def no_weight_decay(self) -> set[str]:
        """timm's own ``no_weight_decay()`` names (position embeddings, class/distillation tokens)."""
        declared = getattr(self.model, "no_weight_decay", None)
        names = set(declared()) if callable(declared) else set()
        own = {n for n, _ in self.model.named_parameters()}
        return {f"model.{n}" for n in names if n in own}

    def feature_names(self) -> list[str]:
        return [*self._blocks, "norm", *(["cls_token"] if self._has_cls else []), "flatten"]

    def forward_features(self, x: Tensor, names: Sequence[str]) -> dict[str, Tensor]:
        """Run the timm model once and return the requested features (see the class docstring)."""
        self._check_names(names)
        wanted = set(names)
        blocks = {n: self.model.get_submodule(n) for n in self._blocks if n in wanted}
        with capture_outputs(blocks) as out:
            tokens = self.model.forward_features(x)
        out["norm"] = tokens
        if "cls_token" in wanted:
            out["cls_token"] = tokens[:, 0]
        if "flatten" in wanted:
            out["flatten"] = self.model.forward_head(tokens, pre_logits=True)
        return {n: out[n] for n in names}

    def forward(self, x: Tensor) -> Tensor:
        """``[B, 3, H, W] -> [B, num_features]`` (timm's pre-logits features)."""
        return self.model.forward_head(self.model.forward_features(x), pre_logits=True)


def vision_transformer(
    name: str,
    kwargs: dict[str, Any],
    *,
    image_size: int = 224,
    patch_size: int = 16,
    num_layers: int = 12,
    num_heads: int = 12,
    hidden_dim: int = 768,
    mlp_dim: int = 3072,
    dropout_rate: float = 0.0,
    attention_dropout_rate: float = 0.0,
    drop_path_rate: float = 0.0,
    qkv_bias: bool = False,
    qk_scale: float | None = None,
    classifier: str = "token",
) -> TimmTrunk:
    """VISSL's ``vision_transformer`` trunk (VISION_TRANSFORMERS options, VISSL defaults: ViT-B/16
    without qkv bias), built as a timm ``VisionTransformer``."""
    _import_timm()
    from timm.models.vision_transformer import VisionTransformer

    if classifier != "token":
        raise ValueError(f"classifier must be 'token' (VISSL's only option), got {classifier!r}")
    if qk_scale not in (None, False) and float(qk_scale) != (hidden_dim // num_heads) ** -0.5:
        raise ValueError(f"qk_scale other than head_dim**-0.5 is not supported, got {qk_scale!r}")
    if hidden_dim % num_heads:
        raise ValueError(f"hidden_dim {hidden_dim} must be divisible by num_heads {num_heads}")
    model = VisionTransformer(
        img_size=image_size,
        patch_size=patch_size,
        embed_dim=hidden_dim,
        depth=num_layers,
        num_heads=num_heads,
        mlp_ratio=mlp_dim / hidden_dim,
        qkv_bias=qkv_bias,
        drop_rate=dropout_rate,
        attn_drop_rate=attention_dropout_rate,
        drop_path_rate=drop_path_rate,
        num_classes=0,
    )
    return TimmTrunk(name, model, kwargs=kwargs)
