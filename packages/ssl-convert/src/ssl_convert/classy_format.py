"""ClassyVision ResNe(X)t checkpoints <-> ssl-models weights (VISSL's published key map).

| ssl-models / torchvision | ClassyVision |
| --- | --- |
| ``conv1.weight`` | ``initial_block._module.0.weight`` |
| ``bn1.*`` | ``initial_block._module.1.*`` |
| ``layer{s}.{j}.conv1/conv2/conv3.weight`` | ``blocks.{s-1}.block{s-1}-{j}.convolutional_block.0/3/6.weight`` |
| ``layer{s}.{j}.bn1.*`` / ``bn2.*`` | ``...convolutional_block.1.*`` / ``...convolutional_block.4.*`` |
| ``layer{s}.{j}.bn3.*`` | ``blocks.{s-1}.block{s-1}-{j}.bn.*`` |
| ``layer{s}.{j}.downsample.0/1.*`` | ``blocks.{s-1}.block{s-1}-{j}.shortcut.0/1.*`` |

Bottleneck ResNe(X)ts (depth 50, 101, 152, 200; any width and cardinality) and RegNets
(:mod:`ssl_convert.regnet_keys`). The file is
``{"classy_state_dict": {"base_model": {"model": {"trunk": ..., "heads": {}}}}}`` plus the
``ssl_convert`` entry that names the trunk (ignored by ClassyVision). Heads: see
:mod:`ssl_convert.classy_heads` (optional on the way out, ``include_heads``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor

from ssl_convert.classy_heads import CLASSY_HEAD_BLOCK, CLASSY_HEAD_NAME, classy_head_to_mlp, is_classy_head, mlp_head_to_classy
from ssl_convert.errors import FormatError
from ssl_convert.keymap import MappedState, map_keys, template_rule
from ssl_convert.regnet_keys import is_regnet_in, regnet_from_ours, regnet_to_ours
from ssl_convert.weights import Weights, from_mapped

__all__ = ["CLASSY_RESNET_KEYS", "classy_to_ours", "is_classy_trunk", "ours_to_classy", "read_classy", "write_classy"]


def _pairs() -> tuple[tuple[str, str], ...]:
    pairs = [("conv1.weight", "initial_block._module.0.weight"), ("bn1.{p}", "initial_block._module.1.{p}")]
    for s in range(1, 5):
        ours, classy = f"layer{s}.{{j}}", f"blocks.{s - 1}.block{s - 1}-{{j}}"
        pairs += [
            (f"{ours}.conv1.weight", f"{classy}.convolutional_block.0.weight"),
            (f"{ours}.bn1.{{p}}", f"{classy}.convolutional_block.1.{{p}}"),
            (f"{ours}.conv2.weight", f"{classy}.convolutional_block.3.weight"),
            (f"{ours}.bn2.{{p}}", f"{classy}.convolutional_block.4.{{p}}"),
            (f"{ours}.conv3.weight", f"{classy}.convolutional_block.6.weight"),
            (f"{ours}.bn3.{{p}}", f"{classy}.bn.{{p}}"),
            (f"{ours}.downsample.0.weight", f"{classy}.shortcut.0.weight"),
            (f"{ours}.downsample.1.{{p}}", f"{classy}.shortcut.1.{{p}}"),
        ]
    return tuple(pairs)


#: (ssl-models name template, ClassyVision name template).
CLASSY_RESNET_KEYS: tuple[tuple[str, str], ...] = _pairs()


def is_classy_trunk(state: Mapping[str, object]) -> bool:
    """ClassyVision ResNe(X)t (``initial_block._module.0.weight``) or RegNet trunk keys."""
    return "initial_block._module.0.weight" in state or is_regnet_in(state, "classy")


def ours_to_classy(state: Mapping[str, Tensor]) -> MappedState:
    """ssl-models bottleneck ResNe(X)t or RegNet trunk -> ClassyVision trunk keys."""
    if is_regnet_in(state, "ours"):
        return regnet_from_ours(state, "classy")
    if "layer1.0.conv1.weight" in state and "layer1.0.conv3.weight" not in state:
        raise FormatError("ClassyVision conversion supports bottleneck ResNe(X)ts only (depth 50 and up)")
    return map_keys(state, template_rule(CLASSY_RESNET_KEYS), what="ResNet trunk")


def classy_to_ours(state: Mapping[str, Tensor]) -> MappedState:
    """ClassyVision ResNe(X)t or RegNet trunk keys -> ssl-models (torchvision) names."""
    if is_regnet_in(state, "classy"):
        return regnet_to_ours(state, "classy")
    return map_keys(state, template_rule(CLASSY_RESNET_KEYS, reverse=True), what="ClassyVision trunk")


def read_classy(obj: object) -> Weights:
    """A loaded ClassyVision checkpoint (or a bare trunk state dict) -> :class:`Weights`.

    A head in VISSL's ``--include_heads`` layout (``heads["block3-2"]["default_head"]``) becomes
    an ssl-models ``mlp`` head; other heads are dropped and listed.
    """
    meta = None
    if isinstance(obj, Mapping) and "classy_state_dict" in obj:
        try:
            model = obj["classy_state_dict"]["base_model"]["model"]
            trunk, heads = dict(model["trunk"]), dict(model.get("heads") or {})
        except (KeyError, TypeError):
            raise FormatError("classy_state_dict without base_model.model.trunk") from None
        meta = obj.get("ssl_convert")
    elif isinstance(obj, Mapping):
        trunk, heads = dict(obj), {}
    else:
        raise FormatError("a ClassyVision checkpoint is a dict")
    mapped = classy_to_ours(trunk)
    out = from_mapped(mapped)
    if is_classy_head(heads):
        entry = classy_head_to_mlp(heads[CLASSY_HEAD_BLOCK][CLASSY_HEAD_NAME])
        specs = list(meta.get("heads") or []) if isinstance(meta, Mapping) else []
        if specs:
            entry["name"], entry["kwargs"] = specs[0]["name"], dict(specs[0]["kwargs"])
        else:
            out.notes.append("ClassyVision head read as an mlp (ReLU after every hidden layer assumed)")
        out.heads.append(entry)
        heads = {k: v for k, v in heads.items() if k != CLASSY_HEAD_BLOCK}
    out.dropped += [f"heads.{k}" for k in heads]
    if heads:
        out.notes.append("ClassyVision heads outside block3-2.default_head are not converted; dropped")
    if isinstance(meta, Mapping):
        out.trunk_name, out.trunk_kwargs = meta["trunk"]["name"], dict(meta["trunk"]["kwargs"])
    return out


def write_classy(payload: Mapping[str, Any], include_heads: bool = False) -> tuple[dict[str, Any], list[str]]:
    """The ClassyVision checkpoint dict of an ssl checkpoint, and the head keys left out.

    With ``include_heads`` the first head goes to ``heads["block3-2"]["default_head"]`` in
    VISSL's layout (:mod:`ssl_convert.classy_heads`); other heads are left out and listed.
    """
    mapped = ours_to_classy(payload["trunk"]["state_dict"])
    if mapped.unconverted:
        raise FormatError(f"ClassyVision has no place for trunk key {mapped.unconverted[0]!r}")
    all_heads = list(payload.get("heads") or [])
    kept = all_heads[:1] if include_heads else []
    heads = {CLASSY_HEAD_BLOCK: {CLASSY_HEAD_NAME: mlp_head_to_classy(kept[0])}} if kept else {}
    meta = {
        "trunk": {"name": payload["trunk"]["name"], "kwargs": dict(payload["trunk"]["kwargs"])},
        "heads": [{"name": h["name"], "kwargs": dict(h["kwargs"])} for h in kept],
    }
    obj = {"classy_state_dict": {"base_model": {"model": {"trunk": dict(mapped.state), "heads": heads}}}, "ssl_convert": meta}
    left_out = [f"heads.{i}.{k}" for i, h in enumerate(all_heads) if i >= len(kept) for k in h["state_dict"]]
    return obj, left_out
