"""VISSL checkpoints <-> ssl-models weights.

In: the trunk and heads are found under ``classy_state_dict -> base_model -> model -> {trunk,
heads}``, or in a ``model_state_dict``, or in a flat state dict. Trunk keys lose the prefixes
``trunk.``, ``base_model.`` and ``_feature_blocks.`` (VISSL's ResNe(X)t trunk is torchvision's
with ``_feature_blocks.`` in front; its ViT trunk already uses timm's names). Heads keyed
``<index>.clf.*`` become ssl-models ``mlp`` heads; a SwAV head's ``projection_head`` and
``prototypes<k>`` become one ``mlp`` head each.

Out: ``{"classy_state_dict": {"base_model": {"model": {"trunk": ..., "heads": ...}}},
"ssl_convert": {"trunk": {"name", "kwargs"}, "heads": [{"name", "kwargs"}, ...]}}``. VISSL reads
the first entry (``WEIGHTS_INIT.STATE_DICT_KEY_NAME: classy_state_dict``) and ignores the second,
which lets ssl-convert rebuild the exact trunk and heads when the file comes back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from torch import Tensor

from ssl_convert.caffe2_alexnet import is_alexnet_state
from ssl_convert.errors import FormatError
from ssl_convert.keymap import MappedState, map_keys
from ssl_convert.mlp_head_arch import mlp_head_entry
from ssl_convert.regnet_keys import is_regnet_in, regnet_from_ours, regnet_key
from ssl_convert.resnet_arch import is_resnet_state
from ssl_convert.vit_keys import is_timm_vit
from ssl_convert.weights import Weights, from_mapped

__all__ = ["find_vissl_model", "ours_to_vissl_trunk", "read_vissl", "vissl_trunk_to_ours", "write_vissl"]

FEATURE_BLOCKS = "_feature_blocks."
_TRUNK_PREFIXES = ("trunk.", "base_model.", FEATURE_BLOCKS)


def find_vissl_model(obj: object) -> tuple[dict[str, Tensor], dict[str, Tensor], str]:
    """``(trunk state, heads state, where they were found)`` in a loaded VISSL checkpoint."""
    if not isinstance(obj, Mapping):
        raise FormatError("a VISSL checkpoint is a dict")
    if "classy_state_dict" in obj:
        try:
            model = obj["classy_state_dict"]["base_model"]["model"]
            return dict(model["trunk"]), dict(model.get("heads") or {}), "classy_state_dict.base_model.model"
        except (KeyError, TypeError):
            raise FormatError("classy_state_dict without base_model.model.trunk") from None
    where = "model_state_dict" if "model_state_dict" in obj else "flat state dict"
    flat = obj.get("model_state_dict", obj)
    if not isinstance(flat, Mapping):
        raise FormatError("model_state_dict is not a dict")
    if any(k.startswith("trunk.") for k in flat):
        # keys outside trunk./heads. stay in the trunk state, where no rule will match them
        trunk = {k: v for k, v in flat.items() if not k.startswith("heads.")}
        heads = {k[len("heads.") :]: v for k, v in flat.items() if k.startswith("heads.")}
        return trunk, heads, where
    return dict(flat), {}, where


def _strip_outer(key: str) -> str:
    for prefix in ("trunk.", "base_model."):
        key = key.removeprefix(prefix)
    return key


def vissl_trunk_to_ours(state: Mapping[str, Tensor]) -> MappedState:
    """VISSL trunk keys -> ssl-models names: drop ``trunk.``/``base_model.``/``_feature_blocks.``
    (RegNets: :mod:`ssl_convert.regnet_keys`)."""

    def rule(key: str) -> str | None:
        stripped = False
        for prefix in _TRUNK_PREFIXES:
            if key.startswith(prefix):
                key, stripped = key[len(prefix) :], True
        return key if stripped or vit else None

    outer = {_strip_outer(k): v for k, v in state.items()}
    if is_regnet_in(outer, "vissl"):
        return map_keys(state, lambda k: regnet_key(_strip_outer(k), "vissl", "ours"), what="VISSL RegNet trunk")
    if is_alexnet_state(outer):  # ssl-models' AlexNets keep VISSL's _feature_blocks names
        return map_keys(state, _strip_outer, what="VISSL AlexNet trunk")
    vit = is_timm_vit(state)
    return map_keys(state, rule, what="VISSL trunk")


def ours_to_vissl_trunk(state: Mapping[str, Tensor]) -> MappedState:
    """ssl-models trunk -> VISSL trunk keys (``_feature_blocks.`` in front for ResNe(X)ts)."""
    if is_timm_vit(state):
        return map_keys(state, lambda k: k, what="ViT trunk")
    if is_resnet_state(state):
        return map_keys(state, lambda k: FEATURE_BLOCKS + k, what="ResNet trunk")
    if is_regnet_in(state, "ours"):
        return regnet_from_ours(state, "vissl")
    if is_alexnet_state(state):
        return map_keys(state, lambda k: k, what="AlexNet trunk")
    raise FormatError("VISSL output supports ResNe(X)t, RegNet, AlexNet and ViT trunks only")


def _heads_by_index(heads: Mapping[str, Tensor]) -> dict[int, dict[str, Tensor]]:
    grouped: dict[int, dict[str, Tensor]] = {}
    for key, value in heads.items():
        index, _, rest = key.partition(".")
        if not index.isdigit():
            raise FormatError(f"VISSL head key {key!r} does not start with a head index")
        grouped.setdefault(int(index), {})[rest] = value
    return dict(sorted(grouped.items()))


def _sub(state: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def _vissl_head_entries(index: int, state: dict[str, Tensor]) -> list[dict[str, Any]] | None:
    if all(k.startswith("clf.") for k in state):
        return [mlp_head_entry(_sub(state, "clf."), f"VISSL head {index}")]
    protos = sorted({m.group(1) for k in state if (m := re.match(r"^(prototypes\d+)\.", k))})
    if protos and all(k.startswith(("projection_head.", "prototypes")) for k in state):
        entries = []
        if any(k.startswith("projection_head.") for k in state):
            entries.append(mlp_head_entry(_sub(state, "projection_head."), f"VISSL head {index} projection"))
        entries += [mlp_head_entry(_sub(state, f"{p}."), f"VISSL head {index} {p}") for p in protos]
        return entries
    return None


def read_vissl(obj: object) -> Weights:
    """A loaded VISSL checkpoint -> :class:`Weights` (heads rebuilt as ssl-models heads)."""
    trunk, heads, where = find_vissl_model(obj)
    mapped = vissl_trunk_to_ours(trunk)
    out = from_mapped(mapped)
    out.notes.append(f"VISSL weights found in {where}")
    meta = obj.get("ssl_convert") if isinstance(obj, Mapping) else None
    grouped = _heads_by_index(heads)
    if isinstance(meta, Mapping):
        out.trunk_name, out.trunk_kwargs = meta["trunk"]["name"], dict(meta["trunk"]["kwargs"])
        specs = list(meta.get("heads") or [])
        if len(specs) != len(grouped):
            raise FormatError(f"ssl_convert metadata names {len(specs)} heads, the checkpoint holds {len(grouped)}")
        out.heads = [{"name": s["name"], "kwargs": dict(s["kwargs"]), "state_dict": grouped[i]} for i, s in zip(grouped, specs)]
        return out
    for index, state in grouped.items():
        entries = _vissl_head_entries(index, state)
        if entries is None:
            out.dropped += [f"heads.{index}.{k}" for k in state]
            out.notes.append(f"VISSL head {index} has no ssl-models counterpart; its weights are dropped")
        else:
            out.heads += entries
    return out


def write_vissl(payload: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The VISSL checkpoint dict of an ssl checkpoint (nothing is dropped)."""
    mapped = ours_to_vissl_trunk(payload["trunk"]["state_dict"])
    heads_in = payload.get("heads") or []
    heads = {f"{i}.{k}": v for i, h in enumerate(heads_in) for k, v in h["state_dict"].items()}
    meta = {
        "trunk": {"name": payload["trunk"]["name"], "kwargs": dict(payload["trunk"]["kwargs"])},
        "heads": [{"name": h["name"], "kwargs": dict(h["kwargs"])} for h in heads_in],
    }
    obj = {"classy_state_dict": {"base_model": {"model": {"trunk": dict(mapped.state), "heads": heads}}}, "ssl_convert": meta}
    return obj, []
