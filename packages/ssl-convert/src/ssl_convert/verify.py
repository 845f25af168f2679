"""Verifying a conversion: load the written bytes into the target architecture, run it on a fixed
input, and compare with the source model (the ssl-models trunk holding the source weights).

Targets are built by the target library itself (torchvision, timm) from the weight shapes, not by
ssl-models. Libraries that are not installed here (VISSL, ClassyVision, detectron2) are replaced
by reading the written file back, renaming its keys to torchvision's and running torchvision's
ResNet; the report says which way was used.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ssl_convert.caffe2_alexnet import is_alexnet_state
from ssl_convert.classy_format import classy_to_ours
from ssl_convert.errors import FormatError, VerificationError
from ssl_convert.reading import load_bytes
from ssl_convert.regnet_keys import regnet_to_ours
from ssl_convert.resnet_arch import RESNET_BLOCKS, infer_resnet
from ssl_convert.torchvision_format import is_regnet_state
from ssl_convert.vit_keys import is_timm_vit

__all__ = ["timm_resnet", "torchvision_resnet", "verify_conversion"]


def _resnet_shape(state: Mapping[str, Tensor]) -> tuple[bool, tuple[int, ...], int, int, int, int, bool]:
    """(bottleneck, blocks per stage, stem channels, groups, width_per_group, in_channels, small_input)."""
    name, kwargs = infer_resnet(state)
    bottleneck = "layer1.0.conv3.weight" in state
    depth = int(name.removeprefix("resnet").removeprefix("resnext").split("_")[0])
    layers = next(blocks for (bn, blocks), d in RESNET_BLOCKS.items() if d == depth and bn == bottleneck)
    groups, wpg = int(kwargs.get("groups", 1)), int(kwargs.get("width_per_group", 64))
    if name.startswith("resnext"):
        groups, wpg = (int(x) for x in name.split("_")[1].rstrip("d").split("x"))
    conv1 = state["conv1.weight"]
    return bottleneck, layers, int(conv1.shape[0]), groups, wpg, int(conv1.shape[1]), conv1.shape[-1] == 3


def torchvision_resnet(state: Mapping[str, Tensor], layer4_stride: int = 2, groupnorm_groups: int | None = None) -> nn.Module:
    """A torchvision ``ResNet`` (``fc`` = Identity) shaped for torchvision-named ``state``.

    Wider stems and stages (VISSL's width multiplier) and the small-input stem are made by
    re-running torchvision's own ``_make_layer`` with the wider plane counts.
    """
    from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

    bottleneck, layers, base, groups, wpg, in_ch, small = _resnet_shape(state)
    block = Bottleneck if bottleneck else BasicBlock
    norm = nn.BatchNorm2d if groupnorm_groups is None else (lambda c: nn.GroupNorm(groupnorm_groups, c))
    with torch.device("meta"):  # the default-width modules are all replaced below
        m = ResNet(block, list(layers), groups=groups, width_per_group=wpg, norm_layer=norm)
    m.inplanes = base
    m.conv1 = nn.Conv2d(in_ch, base, 3, 1, 1, bias=False) if small else nn.Conv2d(in_ch, base, 7, 2, 3, bias=False)
    m.bn1 = norm(base)
    if small:
        m.maxpool = nn.Identity()
    m.layer1 = m._make_layer(block, base, layers[0])
    m.layer2 = m._make_layer(block, base * 2, layers[1], stride=2)
    m.layer3 = m._make_layer(block, base * 4, layers[2], stride=2)
    m.layer4 = m._make_layer(block, base * 8, layers[3], stride=layer4_stride)
    m.fc = nn.Identity()
    return m


def timm_resnet(state: Mapping[str, Tensor]) -> nn.Module:
    """A timm ``ResNet`` (no classifier) shaped for ``state`` (64-channel 7x7 stem only: timm
    widens its stem only for deep stems, so width-multiplied trunks cannot be built)."""
    from timm.models import resnet as timm_resnet_module

    bottleneck, layers, base, groups, wpg, in_ch, small = _resnet_shape(state)
    if small or base != 64:
        raise FormatError("timm's ResNet has no 3x3 stride-1 stem and no widened 7x7 stem")
    block = timm_resnet_module.Bottleneck if bottleneck else timm_resnet_module.BasicBlock
    return timm_resnet_module.ResNet(
        block, tuple(layers), num_classes=0, in_chans=in_ch, cardinality=groups, base_width=wpg,
        stem_width=base, channels=(base, base * 2, base * 4, base * 8),
    )  # fmt: skip


def _detectron2_to_torchvision_names(model: Mapping[str, Any]) -> dict[str, Tensor]:
    """detectron2 backbone names -> torchvision's, by plain string edits (independent of the
    forward table in detectron2_format)."""
    out = {}
    for key, value in model.items():
        k = key.replace("stem.conv1.norm.", "bn1.").replace("stem.conv1.", "conv1.")
        for s in (2, 3, 4, 5):
            if k.startswith(f"res{s}."):
                k = f"layer{s - 1}." + k[len(f"res{s}.") :]
        k = k.replace(".shortcut.norm.", ".downsample.1.").replace(".shortcut.", ".downsample.0.")
        for c in (1, 2, 3):
            k = k.replace(f".conv{c}.norm.", f".bn{c}.")
        out[k] = torch.as_tensor(value)
    return out


def _vissl_trunk_plain(obj: Mapping[str, Any]) -> dict[str, Tensor]:
    trunk = obj["classy_state_dict"]["base_model"]["model"]["trunk"]
    return {k.removeprefix("_feature_blocks."): v for k, v in trunk.items()}


def _vit_target(to: str, obj: Any, kwargs: Mapping[str, Any]) -> tuple[nn.Module, str]:
    if to == "torchvision":
        from torchvision.models.vision_transformer import VisionTransformer

        m: nn.Module = VisionTransformer(
            image_size=kwargs["image_size"], patch_size=kwargs["patch_size"], num_layers=kwargs["num_layers"],
            num_heads=kwargs["num_heads"], hidden_dim=kwargs["hidden_dim"], mlp_dim=kwargs["mlp_dim"],
        )  # fmt: skip
        m.heads = nn.Identity()
        m.load_state_dict(obj, strict=True)
        return m, "torchvision VisionTransformer"
    if to in ("timm", "vissl"):
        from timm.models.vision_transformer import VisionTransformer as TimmViT

        state = obj["classy_state_dict"]["base_model"]["model"]["trunk"] if to == "vissl" else obj
        m = TimmViT(
            img_size=kwargs["image_size"], patch_size=kwargs["patch_size"], embed_dim=kwargs["hidden_dim"],
            depth=kwargs["num_layers"], num_heads=kwargs["num_heads"], mlp_ratio=kwargs["mlp_dim"] / kwargs["hidden_dim"],
            qkv_bias=bool(kwargs.get("qkv_bias", False)), num_classes=0,
        )  # fmt: skip
        m.load_state_dict(state, strict=True)
        return m, "timm VisionTransformer" + (" (VISSL's ViT trunk uses timm's names)" if to == "vissl" else "")
    raise FormatError(f"no ViT verification for format {to!r}")


#: torchvision RegNet presets -> timm's model of the same name (used when its shapes fit: a few
#: timm configs differ from torchvision's, e.g. regnetx_004).
_TIMM_REGNETS = {
    f"regnet_{kind}_{size}": f"regnet{kind}_{code}"
    for kind in ("x", "y")
    for size, code in (("400mf", "004"), ("800mf", "008"), ("1_6gf", "016"), ("3_2gf", "032"), ("8gf", "080"), ("16gf", "160"), ("32gf", "320"), ("128gf", "1280"))
}


def _timm_regnet(obj: Mapping[str, Tensor], name: str) -> nn.Module | None:
    import timm

    if name not in _TIMM_REGNETS:
        return None
    with torch.device("meta"):
        expected = timm.create_model(_TIMM_REGNETS[name], pretrained=False, num_classes=0).state_dict()
    if expected.keys() != obj.keys() or any(expected[k].shape != obj[k].shape for k in expected):
        return None
    m = timm.create_model(_TIMM_REGNETS[name], pretrained=False, num_classes=0)
    m.load_state_dict(obj, strict=True)
    return m


def _regnet_target(to: str, obj: Any, name: str) -> tuple[nn.Module, str]:
    """timm's own RegNet for timm files of a preset it builds the same; otherwise the file read
    back with the inverse name map into torchvision's RegNet of that preset."""
    import torchvision

    if not name.startswith("regnet_"):
        raise FormatError("RegNet verification covers the named presets only")
    if to == "timm" and (m := _timm_regnet(obj, name)) is not None:
        return m, f"timm {_TIMM_REGNETS[name]}"
    if to == "torchvision":
        state, how = obj, f"torchvision {name}"
    elif to == "timm":
        state, how = regnet_to_ours(obj, "timm").state, f"torchvision {name} (timm's {_TIMM_REGNETS.get(name, 'RegNet')} has other shapes: file read back)"
    elif to in ("vissl", "classy"):
        trunk = obj["classy_state_dict"]["base_model"]["model"]["trunk"]
        state, how = regnet_to_ours(trunk, to).state, f"torchvision {name} ({to} file read back with the inverse name map)"
    else:
        raise FormatError(f"no RegNet verification for format {to!r}")
    m = torchvision.models.get_model(name, weights=None)
    m.fc = nn.Identity()
    m.load_state_dict(state, strict=True)
    return m, how


def _target_model(to: str, data: bytes, payload: Mapping[str, Any]) -> tuple[nn.Module, str]:
    """The target architecture with the written weights loaded, and how it was built."""
    kwargs = payload["trunk"]["kwargs"]
    stride = int(kwargs.get("layer4_stride", 2))
    gn = int(kwargs.get("groupnorm_groups", 32)) if kwargs.get("norm") == "GroupNorm" else None
    obj = load_bytes(data, f"<converted {to}>")
    if to == "ssl":
        from ssl_models.checkpoint import trunk_from_checkpoint

        return trunk_from_checkpoint(obj), "ssl-models (file read back)"  # type: ignore[arg-type]
    if is_timm_vit(payload["trunk"]["state_dict"]):
        return _vit_target(to, obj, kwargs)
    if is_alexnet_state(payload["trunk"]["state_dict"]) and to == "vissl":
        from ssl_models import build_trunk

        m = build_trunk(payload["trunk"]["name"], **kwargs)
        m.load_state_dict(obj["classy_state_dict"]["base_model"]["model"]["trunk"], strict=True)
        return m, "ssl-models AlexNet (VISSL's AlexNet names are ssl-models'; file read back)"
    if is_regnet_state(payload["trunk"]["state_dict"]):
        return _regnet_target(to, obj, payload["trunk"]["name"])
    if to == "torchvision":
        m, how = torchvision_resnet(obj, stride, gn), "torchvision ResNet"  # type: ignore[arg-type]
        m.load_state_dict(obj, strict=True)  # type: ignore[arg-type]
        return m, how
    if to == "timm":
        conv1 = payload["trunk"]["state_dict"]["conv1.weight"]
        if conv1.shape[-1] == 3 or conv1.shape[0] != 64 or stride != 2 or gn is not None:
            how = "torchvision ResNet (timm's ResNet cannot take this stem width, stem, stride or norm)"
            m = torchvision_resnet(obj, stride, gn)  # type: ignore[arg-type]
        else:
            m, how = timm_resnet(obj), "timm ResNet"  # type: ignore[arg-type]
        m.load_state_dict(obj, strict=True)  # type: ignore[arg-type]
        return m, how
    if to == "vissl":
        state = _vissl_trunk_plain(obj)  # type: ignore[arg-type]
        how = "torchvision ResNet (VISSL's trunk is torchvision's under _feature_blocks.)"
    elif to == "classy":
        state = dict(classy_to_ours(obj["classy_state_dict"]["base_model"]["model"]["trunk"]).state)  # type: ignore[index]
        how = "torchvision ResNet (ClassyVision not installed: file read back with the inverse key map)"
    elif to == "detectron2":
        state = _detectron2_to_torchvision_names(obj["model"])  # type: ignore[index]
        installed = importlib.util.find_spec("detectron2") is not None
        how = "torchvision ResNet (file read back, FrozenBN = eval-mode BatchNorm" + ("" if installed else "; detectron2 not installed") + ")"
    else:
        raise FormatError(f"no verification for format {to!r}")
    m = torchvision_resnet(state, stride, gn)
    missing, unexpected = m.load_state_dict(state, strict=False)
    if unexpected or any(not k.endswith("num_batches_tracked") for k in missing):
        raise VerificationError(f"written {to} weights do not fit the target: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return m, how


@torch.no_grad()
def verify_conversion(payload: Mapping[str, Any], to: str, data: bytes, tolerance: float = 1e-4) -> tuple[float, str]:
    """``(max abs difference, how the target was built)`` between the source trunk (ssl-models,
    built from ``payload``) and the target model holding the written ``data``, on a fixed input
    ``[2, C, S, S]`` (seeded normal; ``S`` the ViT's image size, 67 for AlexNets, else 32).

    Raises :class:`VerificationError` when the difference exceeds ``tolerance``.
    """
    from ssl_models.checkpoint import trunk_from_checkpoint

    source = trunk_from_checkpoint(payload).eval()
    target, how = _target_model(to, data, payload)
    target.eval()
    conv1 = payload["trunk"]["state_dict"].get("conv1.weight")
    channels = int(conv1.shape[1]) if conv1 is not None else 3
    smallest = 67 if payload["trunk"]["name"].startswith("alexnet") else 32  # AlexNet's 11x11 conv and 3 pools
    size = int(payload["trunk"]["kwargs"].get("image_size", smallest))
    x = torch.randn(2, channels, size, size, generator=torch.Generator().manual_seed(0))
    a, b = source(x), target(x)
    if a.shape != b.shape:
        raise VerificationError(f"source and converted {to} models give shapes {tuple(a.shape)} and {tuple(b.shape)}")
    diff = float((a - b).abs().max())
    if not diff <= tolerance:
        raise VerificationError(f"converted {to} model differs from the source by {diff:.3g} (tolerance {tolerance:g})")
    return diff, how
