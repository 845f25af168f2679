"""ssl-models ``mlp`` heads <-> ClassyVision heads, as VISSL's ``convert_vissl_to_classy_vision.py
--include_heads`` writes them.

The head sits under ``heads["block3-2"]["default_head"]`` (a nested dict) with, for an MLP of
``n`` Linear layers: ``mlp.layers.{i}.fc.{weight,bias}`` and ``mlp.layers.{i}.batch_norm.*`` for
the first ``n - 1`` layers and ``embedding_fc.{weight,bias}`` for the last one. ReLUs carry no
weights; reading assumes one after every hidden layer (VISSL's ``mlp`` default).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from ssl_convert.errors import FormatError
from ssl_convert.mlp_head_arch import mlp_head_entry

__all__ = ["CLASSY_HEAD_BLOCK", "CLASSY_HEAD_NAME", "classy_head_to_mlp", "is_classy_head", "mlp_head_to_classy"]

#: where VISSL's converter puts the head: ``heads[CLASSY_HEAD_BLOCK][CLASSY_HEAD_NAME]``.
CLASSY_HEAD_BLOCK = "block3-2"
CLASSY_HEAD_NAME = "default_head"
_OUT_PREFIX = "embedding"
_LAYER = re.compile(r"^mlp\.layers\.(\d+)\.(fc|batch_norm)\.(weight|bias|running_mean|running_var|num_batches_tracked)$")
_LAST = re.compile(rf"^{_OUT_PREFIX}_fc\.(weight|bias)$")


def is_classy_head(heads: object) -> bool:
    """True for ClassyVision heads in VISSL's converted layout."""
    return isinstance(heads, Mapping) and isinstance(heads.get(CLASSY_HEAD_BLOCK), Mapping) and CLASSY_HEAD_NAME in heads[CLASSY_HEAD_BLOCK]


def _layers(state: Mapping[str, Tensor]) -> dict[int, dict[str, Tensor]]:
    layers: dict[int, dict[str, Tensor]] = {}
    for key, value in state.items():
        index, _, param = key.removeprefix("clf.").partition(".")
        layers.setdefault(int(index), {})[param] = value
    return layers


def mlp_head_to_classy(entry: Mapping[str, Any]) -> dict[str, Tensor]:
    """The ClassyVision ``default_head`` state of an ssl-models ``mlp`` head entry.

    Raises :class:`FormatError` for heads VISSL's layout cannot hold (another head type,
    dropout, BN or ReLU after the last layer).
    """
    kwargs = entry.get("kwargs") or {}
    if entry.get("name") != "mlp" or kwargs.get("use_dropout") or not kwargs.get("skip_last_layer_relu_bn", True):
        raise FormatError(f"ClassyVision heads hold plain Linear[-BN]-ReLU MLPs only; head {entry.get('name')!r} {dict(kwargs)} does not fit")
    layers = _layers(entry["state_dict"])
    linears = [i for i in sorted(layers) if layers[i]["weight"].ndim == 2]
    out: dict[str, Tensor] = {}
    for n, index in enumerate(linears):
        last = n == len(linears) - 1
        name = f"{_OUT_PREFIX}_fc" if last else f"mlp.layers.{n}.fc"
        out.update({f"{name}.{p}": v for p, v in layers[index].items()})
        bn = layers.get(index + 1, {})
        if not last and "running_mean" in bn:
            out.update({f"mlp.layers.{n}.batch_norm.{p}": v for p, v in bn.items()})
    return out


def classy_head_to_mlp(state: Mapping[str, Tensor]) -> dict[str, Any]:
    """An ssl-models ``mlp`` head entry from a ClassyVision ``default_head`` state; batch norms
    without ``num_batches_tracked`` (VISSL's converter leaves it out) get 0."""
    fcs: dict[int, dict[str, Tensor]] = {}
    bns: dict[int, dict[str, Tensor]] = {}
    last: dict[str, Tensor] = {}
    for key, value in state.items():
        if m := _LAYER.match(key):
            (fcs if m.group(2) == "fc" else bns).setdefault(int(m.group(1)), {})[m.group(3)] = value
        elif m := _LAST.match(key):
            last[m.group(1)] = value
        else:
            raise FormatError(f"ClassyVision head key {key!r} is not part of VISSL's head layout")
    if not last or sorted(fcs) != list(range(len(fcs))):
        raise FormatError(f"ClassyVision head without {_OUT_PREFIX}_fc or with gaps in mlp.layers")
    seq: dict[str, Tensor] = {}
    index = 0
    for n in range(len(fcs)):
        seq.update({f"{index}.{p}": v for p, v in fcs[n].items()})
        index += 1
        if n in bns:
            seq.update({f"{index}.{p}": v for p, v in bns[n].items()})
            if "num_batches_tracked" not in bns[n]:
                seq[f"{index}.num_batches_tracked"] = bns[n]["running_mean"].new_zeros((), dtype=torch.long)
            index += 1
        index += 1  # ReLU
    seq.update({f"{index}.{p}": v for p, v in last.items()})
    return mlp_head_entry(seq, "ClassyVision default_head")
