"""Working out a ResNe(X)t's build arguments from the shapes of its torchvision-named weights."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from torch import Tensor

from ssl_convert.errors import FormatError

__all__ = ["RESNET_BLOCKS", "infer_resnet", "is_resnet_state"]

#: (bottleneck?, blocks per stage) -> depth; the ResNets of ssl-models and torchvision.
RESNET_BLOCKS: dict[tuple[bool, tuple[int, int, int, int]], int] = {
    (False, (2, 2, 2, 2)): 18,
    (False, (3, 4, 6, 3)): 34,
    (True, (3, 4, 6, 3)): 50,
    (True, (3, 4, 23, 3)): 101,
    (True, (3, 8, 36, 3)): 152,
    (True, (3, 24, 36, 3)): 200,
}
_RESNEXT_PRESETS = {(50, 32, 4), (101, 32, 8), (101, 64, 4), (152, 32, 4), (152, 32, 8)}
_BLOCK = re.compile(r"^layer([1-4])\.(\d+)\.")


def is_resnet_state(state: Mapping[str, object]) -> bool:
    """True when the keys look like a torchvision-named ResNet (``conv1``, ``layer1.0...``)."""
    return "conv1.weight" in state and any(k.startswith("layer1.0.") for k in state)


def infer_resnet(state: Mapping[str, Tensor]) -> tuple[str, dict[str, Any]]:
    """``(trunk name, kwargs)`` for ``ssl_models.build_trunk`` from torchvision-named weights.

    Reads depth (blocks per stage, bottleneck or basic), ``width_multiplier`` (stem channels / 64),
    ``groups`` and ``width_per_group`` (layer1.0.conv2), ``small_input`` (3x3 first conv),
    ``in_channels`` and the norm (BatchNorm when running stats are present, else GroupNorm).
    ``layer4_stride`` cannot be read from weights and is left at its default (2).
    """
    if not is_resnet_state(state):
        raise FormatError("weights are not a torchvision-named ResNet (no conv1.weight / layer1.0.*)")
    counts = [0, 0, 0, 0]
    for key in state:
        m = _BLOCK.match(key)
        if m:
            stage, block = int(m.group(1)) - 1, int(m.group(2))
            counts[stage] = max(counts[stage], block + 1)
    bottleneck = "layer1.0.conv3.weight" in state
    depth = RESNET_BLOCKS.get((bottleneck, tuple(counts)))  # type: ignore[arg-type]
    if depth is None:
        kind = "bottleneck" if bottleneck else "basic"
        raise FormatError(f"no known ResNet has {kind} blocks per stage {tuple(counts)}")
    conv1 = state["conv1.weight"]
    stem = int(conv1.shape[0])
    kwargs: dict[str, Any] = {}
    if stem != 64:
        kwargs["width_multiplier"] = stem / 64
    if int(conv1.shape[-1]) == 3:
        kwargs["small_input"] = True
    if int(conv1.shape[1]) != 3:
        kwargs["in_channels"] = int(conv1.shape[1])
    if "bn1.running_mean" not in state:
        kwargs["norm"] = "GroupNorm"
    groups, width_per_group = 1, 64
    if bottleneck:
        conv2 = state["layer1.0.conv2.weight"]
        width = int(conv2.shape[0])
        groups = width // int(conv2.shape[1])
        width_per_group = width * 64 // (stem * groups)
    name = f"resnet{depth}"
    if (depth, groups, width_per_group) in _RESNEXT_PRESETS:
        name = f"resnext{depth}_{groups}x{width_per_group}d"
    elif groups != 1 or width_per_group != 64:
        kwargs.update(groups=groups, width_per_group=width_per_group)
    return name, kwargs
