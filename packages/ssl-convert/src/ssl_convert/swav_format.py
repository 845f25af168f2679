"""Official SwAV and DeepCluster-v2 checkpoints (``swav_800ep_pretrain.pth.tar``) -> ssl-models.

Keys lose ``module.``; ``projection_head.*`` (Linear-BN-ReLU-Linear) becomes an ``mlp`` head and
the prototypes (``prototypes.weight``, or DeepCluster-v2's ``prototypes.prototypes<k>.weight``)
one bias-free ``mlp`` head each ``[D] -> [K]``; everything else is the torchvision-named ResNet.
"""

from __future__ import annotations

import re

from ssl_convert.errors import FormatError
from ssl_convert.keymap import DROP, map_keys
from ssl_convert.mlp_head_arch import mlp_head_entry
from ssl_convert.weights import Weights, state_dict_entry

__all__ = ["is_swav", "read_swav"]


def is_swav(obj: object) -> bool:
    """True for SwAV / DeepCluster-v2 weights (``prototypes`` next to a ResNet)."""
    try:
        keys = [k.removeprefix("module.") for k in state_dict_entry(obj, "SwAV")]
    except FormatError:
        return False
    return "conv1.weight" in keys and any(k.startswith("prototypes") for k in keys)


def read_swav(obj: object) -> Weights:
    """Trunk plus projection head and prototypes as ``mlp`` heads."""
    state = {k.removeprefix("module."): v for k, v in state_dict_entry(obj, "SwAV").items()}
    heads_prefixes = ["projection_head."] if any(k.startswith("projection_head.") for k in state) else []
    protos = sorted({m.group(1) for k in state if (m := re.match(r"^(prototypes(?:\.prototypes\d+)?)\.weight$", k))})
    heads_prefixes += [p + "." for p in protos]
    mapped = map_keys(state, lambda k: DROP if k.startswith(tuple(heads_prefixes)) else k, what="SwAV state dict")
    out = Weights(dict(mapped.state), unconverted=mapped.unconverted)  # type: ignore[arg-type]
    for prefix in heads_prefixes:
        sub = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if prefix.startswith("prototypes"):
            sub = {f"0.{k}": v for k, v in sub.items()}
        out.heads.append(mlp_head_entry(sub, f"SwAV {prefix[:-1]}"))
    out.notes.append(f"SwAV/DeepCluster-v2: {len(out.heads)} heads (projection head, prototypes)")
    return out
