"""The one name -> factory map of ssl-models: every trunk and head buildable by name.

``build_trunk(name, **kwargs)`` and ``build_head(name, **kwargs)`` look names up here; a trunk
or head records ``name`` and ``kwargs`` so that checkpoints can rebuild it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

from ssl_models.heads import (
    AvgPoolHead,
    DINOHead,
    EvalMLPHead,
    ExpanderHead,
    Head,
    LinearEvalMLPHead,
    MLPHead,
    PredictorHead,
    SiameseConcatView,
    SwAVHead,
    VisionTransformerHead,
)
from ssl_models.alexnet import ALEXNET_VARIANTS, AlexNetTrunk
from ssl_models.regnet import REGNET_PRESETS, RegNetTrunk
from ssl_models.resnet import ResNetTrunk
from ssl_models.timm_trunk import TIMM_PRESETS, TimmTrunk, timm_preset_kwargs, vision_transformer
from ssl_models.torchvision_trunk import EfficientNetTrunk, TorchvisionTrunk
from ssl_models.trunk import Trunk

__all__ = ["build_head", "build_trunk", "list_heads", "list_trunks"]


@dataclass(frozen=True)
class _Entry:
    kind: Literal["trunk", "head"]
    factory: Callable[..., nn.Module]  # called as factory(name, kwargs)
    summary: str


def _preset(cls: Callable[..., Trunk], **fixed: Any) -> Callable[[str, dict[str, Any]], Trunk]:
    """A factory for ``cls`` with some arguments fixed by the name (e.g. depth=50)."""

    def factory(name: str, kwargs: dict[str, Any]) -> Trunk:
        clash = sorted(set(fixed) & set(kwargs))
        if clash:
            raise ValueError(f"trunk {name!r} fixes {', '.join(f'{k}={fixed[k]!r}' for k in clash)}; do not pass {', '.join(clash)}")
        return cls(name, kwargs=kwargs, **fixed, **kwargs)

    return factory


def _head(cls: Callable[..., Head]) -> Callable[[str, dict[str, Any]], Head]:
    return lambda name, kwargs: cls(**kwargs)


def _resnets() -> dict[str, _Entry]:
    entries = {"resnet": _Entry("trunk", _preset(ResNetTrunk), "ResNe(X)t, any depth (VISSL's resnet trunk)")}
    for depth in (18, 34, 50, 101, 152, 200):
        entries[f"resnet{depth}"] = _Entry("trunk", _preset(ResNetTrunk, depth=depth), f"ResNet-{depth}")
    for depth, groups, wpg in ((50, 32, 4), (101, 32, 8), (101, 64, 4), (152, 32, 4), (152, 32, 8)):
        entries[f"resnext{depth}_{groups}x{wpg}d"] = _Entry(
            "trunk",
            _preset(ResNetTrunk, depth=depth, groups=groups, width_per_group=wpg),
            f"ResNeXt-{depth} {groups}x{wpg}d",
        )
    return entries


def _timm_preset(name: str, kwargs: dict[str, Any]) -> Trunk:
    return TimmTrunk(name, TIMM_PRESETS[name], kwargs=kwargs, **timm_preset_kwargs(kwargs))


def _timm_any(name: str, kwargs: dict[str, Any]) -> Trunk:
    if "model" not in kwargs:
        raise ValueError("trunk 'timm' needs model=<timm model name>")
    rest = {k: v for k, v in kwargs.items() if k != "model"}
    return TimmTrunk(name, kwargs["model"], kwargs=kwargs, **rest)


def _others() -> dict[str, _Entry]:
    entries = {"regnet": _Entry("trunk", _preset(RegNetTrunk), "RegNet: preset=... or custom depth/w_0/w_a/w_m/group_width")}
    for preset in REGNET_PRESETS:
        entries[preset] = _Entry("trunk", _preset(RegNetTrunk, preset=preset), f"torchvision {preset}")
    for variant in ALEXNET_VARIANTS:
        entries[variant] = _Entry("trunk", _preset(AlexNetTrunk), f"VISSL {variant}")
    entries["efficientnet"] = _Entry("trunk", _preset(EfficientNetTrunk), "EfficientNet, variant=b0..b7")
    for i in range(8):
        entries[f"efficientnet_b{i}"] = _Entry("trunk", _preset(EfficientNetTrunk, variant=f"b{i}"), f"EfficientNet-B{i}")
    entries["vision_transformer"] = _Entry(
        "trunk", lambda name, kw: vision_transformer(name, kw, **kw), "VISSL's vision_transformer (VISION_TRANSFORMERS options)"
    )
    for preset, timm_name in TIMM_PRESETS.items():
        entries[preset] = _Entry("trunk", _timm_preset, f"timm {timm_name}")
    entries["timm"] = _Entry("trunk", _timm_any, "any timm model: model=<name>")
    entries["torchvision"] = _Entry("trunk", _preset(TorchvisionTrunk), "any torchvision classifier: model=<name>")
    return entries


_CATALOG: dict[str, _Entry] = {
    **_resnets(),
    **_others(),
    "mlp": _Entry("head", _head(MLPHead), "VISSL's mlp head"),
    "eval_mlp": _Entry("head", _head(EvalMLPHead), "BatchNorm2d + Linear (multi-layer linear eval)"),
    "linear_eval_mlp": _Entry("head", _head(LinearEvalMLPHead), "BatchNorm1d + Linear"),
    "siamese_concat_view": _Entry("head", _head(SiameseConcatView), "concatenate tower features"),
    "swav_head": _Entry("head", _head(SwAVHead), "SwAV projection + prototypes"),
    "dino_head": _Entry("head", _head(DINOHead), "DINO MLP + weight-normalised prototypes"),
    "vision_transformer_head": _Entry("head", _head(VisionTransformerHead), "supervised ViT classifier"),
    "avg_pool": _Entry("head", _head(AvgPoolHead), "AvgPool2d (linear-eval pooling in a chain)"),
    "predictor": _Entry("head", _head(PredictorHead), "BYOL/SimSiam predictor"),
    "expander": _Entry("head", _head(ExpanderHead), "VICReg/Barlow Twins expander"),
}


def _lookup(name: str, kind: Literal["trunk", "head"]) -> _Entry:
    entry = _CATALOG.get(name)
    if entry is None or entry.kind != kind:
        known = ", ".join(n for n, e in _CATALOG.items() if e.kind == kind)
        raise ValueError(f"unknown {kind} name {name!r}; known {kind}s: {known}")
    return entry


def build_trunk(name: str, **kwargs: Any) -> Trunk:
    """Build the trunk called ``name`` (see ``list_trunks()``) with its keyword options."""
    trunk = _lookup(name, "trunk").factory(name, kwargs)
    assert isinstance(trunk, Trunk)
    return trunk


def build_head(name: str, **kwargs: Any) -> Head:
    """Build the head called ``name`` (see ``list_heads()``) with its keyword options."""
    head = _lookup(name, "head").factory(name, kwargs)
    assert isinstance(head, Head)
    return head


def list_trunks() -> list[str]:
    """Every trunk name ``build_trunk`` accepts."""
    return [n for n, e in _CATALOG.items() if e.kind == "trunk"]


def list_heads() -> list[str]:
    """Every head name ``build_head`` accepts."""
    return [n for n, e in _CATALOG.items() if e.kind == "head"]
