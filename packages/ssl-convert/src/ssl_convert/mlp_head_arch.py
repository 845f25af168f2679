"""Rebuilding ssl-models ``mlp`` head entries from ``nn.Sequential`` weights (VISSL, MoCo, SwAV)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from torch import Tensor

from ssl_convert.errors import FormatError

__all__ = ["mlp_head_entry"]

_INDEX = re.compile(r"^(\d+)\.(weight|bias|running_mean|running_var|num_batches_tracked)$")


def mlp_head_entry(seq_state: Mapping[str, Tensor], what: str) -> dict[str, Any]:
    """An ``{"name": "mlp", "kwargs", "state_dict"}`` entry from the weights of a Sequential.

    ``seq_state`` keys are ``"<index>.<param>"`` (Linear: 2-D weight; BatchNorm1d: running
    stats). Layer sizes come from the Linear weights; ``use_bn`` from BatchNorm layers; the
    modules without weights between two Linears are taken to be ReLU (then Dropout when two).
    The state dict gets the head's ``clf.`` prefix.
    """
    layers: dict[int, dict[str, Tensor]] = {}
    for key, value in seq_state.items():
        m = _INDEX.match(key)
        if not m:
            raise FormatError(f"{what}: {key!r} is not a Linear/BatchNorm weight of a Sequential")
        layers.setdefault(int(m.group(1)), {})[m.group(2)] = value
    linears = [i for i in sorted(layers) if layers[i]["weight"].ndim == 2]
    bns = [i for i in sorted(layers) if "running_mean" in layers[i]]
    if not linears:
        raise FormatError(f"{what}: no Linear layer found")
    dims = [int(layers[linears[0]]["weight"].shape[1])] + [int(layers[i]["weight"].shape[0]) for i in linears]
    use_bn = bool(bns)
    gap = (linears[1] - linears[0] - 1 - int(use_bn)) if len(linears) > 1 else 1
    kwargs = {
        "dims": dims,
        "use_bn": use_bn,
        "use_relu": gap >= 1,
        "skip_last_layer_relu_bn": not (bns and bns[-1] > linears[-1]),
        "use_bias": "bias" in layers[linears[0]],
        "use_dropout": gap >= 2,
    }
    return {"name": "mlp", "kwargs": kwargs, "state_dict": {f"clf.{k}": v for k, v in seq_state.items()}}
