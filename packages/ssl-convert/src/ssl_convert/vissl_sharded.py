"""VISSL's fairscale-FSDP sharded and sliced checkpoints -> one consolidated VISSL checkpoint.

Sharded (``"type": "shard_list"``): VISSL's FSDP training writes one file per rank plus a primary
file ``{"type": "shard_list", "shards": [file names, relative to the primary's folder or
absolute]}``. Each shard file is ``{"type": "shard", "classy_state_dict": {"base_model": {"model":
{"trunk": <local state dict>, "heads": [<local state dict per head>] or {...}}, "meta": {"trunk":
<local metadata>, "heads": [<local metadata per head, {} for a head that is not FSDP>]}}, ...},
"phase_idx", "iteration", "loss", ...}``.

A fairscale ``FullyShardedDataParallel.local_metadata_dict()`` is ``{"param_metadata": [one entry
per FSDP instance: {"fsdp_path", "params": {backing name: {"names", "shapes", "numels",
"padding"}}, "no_broadcast_optim_state", "shared_param_info": [(source, destination)]}],
"buffer_names": [...]}``. The local state dict holds each backing parameter under
``"<fsdp_path>.<backing name>"``: rank r's slice of the flat concatenation of the parameters in
``names`` (``torch.chunk`` into world-size pieces), zero-padded at the end by ``padding``
elements. Consolidating is: unpad every rank's slice, concatenate in rank order, split by
``numels`` and view as ``shapes``; shared parameters are copies of their source; buffers are
replicated, taken from rank 0. This module does that without fairscale (fairscale's
``consolidate_shard_weights`` is the reference in the tests).

Sliced (``"type": "slice_list"``): ``classy_state_dict.base_model.model.{trunk,heads}`` map each
parameter name to a file ``{"type": "slice", "weight": tensor}`` (absolute paths, in a
``<checkpoint>_layers`` folder; looked up in that folder next to the list when moved).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ssl_convert.errors import FormatError
from ssl_convert.reading import read_file

__all__ = ["consolidate_fsdp_shards", "is_vissl_sharded", "read_vissl_sharded"]

_LIST_TYPES = ("shard_list", "slice_list")


def is_vissl_sharded(obj: object) -> bool:
    """A VISSL ``shard_list`` or ``slice_list`` checkpoint (the primary file)."""
    return isinstance(obj, Mapping) and obj.get("type") in _LIST_TYPES


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def consolidate_fsdp_shards(
    shard_weights: Sequence[Mapping[str, Tensor]], shard_metadata: Sequence[Mapping[str, Any]], what: str = "shards"
) -> tuple[dict[str, Tensor], list[str]]:
    """Full tensors from the per-rank local state dicts of one fairscale FSDP module.

    Args:
        shard_weights: ``local_state_dict()`` of every rank, in rank order (flat parameters of
            shape ``[ceil(N / world)]``, buffers at full size).
        shard_metadata: ``local_metadata_dict()`` of every rank (same order).
        what: names the module in error messages.

    Returns:
        ``(consolidated state dict, keys of rank 0 that no metadata entry explains)``.

    Raises :class:`FormatError` when the metadata does not fit the weights (missing flat
    parameter, sizes that do not add up, ranks that disagree).
    """
    if not shard_weights or len(shard_weights) != len(shard_metadata):
        raise FormatError(f"{what}: {len(shard_weights)} weight shards but {len(shard_metadata)} metadata entries")
    world = len(shard_weights)
    out: dict[str, Tensor] = {}
    used: set[str] = set()
    try:
        instances = shard_metadata[0]["param_metadata"]
        for index, meta in enumerate(instances):
            fsdp_path = meta["fsdp_path"]
            for backing, spec in meta["params"].items():
                key = _join(fsdp_path, backing)
                ranks = 1 if meta.get("no_broadcast_optim_state") else world
                pieces = []
                for rank in range(ranks):
                    if key not in shard_weights[rank]:
                        raise FormatError(f"{what}: rank {rank} has no flat parameter {key!r} named by the metadata")
                    pad = int(shard_metadata[rank]["param_metadata"][index]["params"][backing]["padding"])
                    flat = shard_weights[rank][key].reshape(-1)
                    pieces.append(flat[: flat.numel() - pad] if pad > 0 else flat)
                full = torch.cat(pieces) if len(pieces) > 1 else pieces[0]
                numels = [int(n) for n in spec["numels"]]
                if sum(numels) != full.numel():
                    raise FormatError(
                        f"{what}: {key!r} holds {full.numel()} elements over {ranks} ranks, the metadata names {sum(numels)}"
                    )
                used.add(key)
                for name, chunk, shape in zip(spec["names"], full.split(numels), spec["shapes"]):
                    out[_join(fsdp_path, name)] = chunk.reshape(tuple(shape)).clone()
        for meta in instances:
            for source, dest in meta.get("shared_param_info") or []:
                out[dest] = out[source]
        for name in shard_metadata[0]["buffer_names"]:
            if name not in shard_weights[0]:
                raise FormatError(f"{what}: buffer {name!r} named by the metadata is missing")
            out[name] = shard_weights[0][name]
            used.add(name)
    except (KeyError, TypeError, IndexError) as err:
        raise FormatError(f"{what}: not fairscale FSDP shard metadata ({type(err).__name__}: {err})") from None
    unexplained = [k for k in shard_weights[0] if k not in used]
    return out, unexplained


def _shard_path(primary: Path, name: object) -> Path:
    if not isinstance(name, str):
        raise FormatError(f"{primary}: shard entry {name!r} is not a file name")
    p = Path(name)
    return p if p.is_absolute() else primary.parent / p


def _model_entry(content: object, path: Path) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    try:
        base = content["classy_state_dict"]["base_model"]  # type: ignore[index]
        return base["model"], base.get("meta") or {}
    except (KeyError, TypeError):
        raise FormatError(f"{path}: a VISSL shard without classy_state_dict.base_model.model") from None


def _read_shards(primary: Path, obj: Mapping[str, Any], allow_unsafe_load: bool) -> tuple[dict[str, Any], list[str], list[str]]:
    names = obj.get("shards")
    if not isinstance(names, list) or not names:
        raise FormatError(f"{primary}: shard_list without a list of shards")
    trunks, trunk_metas, heads, head_metas = [], [], [], []
    for name in names:
        path = _shard_path(primary, name)
        if not path.is_file():
            raise FileNotFoundError(f"shard {path} listed by {primary} not found")
        content = read_file(path, allow_unsafe_load=allow_unsafe_load)
        if not isinstance(content, Mapping) or content.get("type") != "shard":
            raise FormatError(f"{path}: listed as a shard by {primary} but is not a VISSL shard file")
        model, meta = _model_entry(content, path)
        trunks.append(model["trunk"])
        trunk_metas.append(meta.get("trunk") or {})
        heads.append(model.get("heads") or {})
        head_metas.append(meta.get("heads") or [])
    notes = [f"VISSL fairscale-FSDP checkpoint: {len(names)} shards consolidated"]
    unexplained: list[str] = []
    if trunk_metas[0]:
        trunk, extra = consolidate_fsdp_shards(trunks, trunk_metas, f"{primary} trunk")
        unexplained += [f"trunk.{k}" for k in extra]
    else:  # trunk not FSDP-wrapped: replicated on every rank
        trunk = dict(trunks[0])
    out_heads: dict[str, Tensor] = {}
    if isinstance(heads[0], Mapping):  # no head was FSDP-wrapped: ``heads.state_dict()`` on every rank
        out_heads = dict(heads[0])
    else:
        for i in range(len(heads[0])):
            metas = [m[i] if i < len(m) else {} for m in head_metas]
            if metas[0]:
                state, extra = consolidate_fsdp_shards([h[i] for h in heads], metas, f"{primary} head {i}")
                unexplained += [f"heads.{i}.{k}" for k in extra]
            else:
                state = dict(heads[0][i])
            out_heads.update({f"{i}.{k}": v for k, v in state.items()})
    return {"classy_state_dict": {"base_model": {"model": {"trunk": trunk, "heads": out_heads}}}}, unexplained, notes


def _slice_path(primary: Path, recorded: object) -> Path:
    if not isinstance(recorded, str):
        raise FormatError(f"{primary}: slice entry {recorded!r} is not a file name")
    p = Path(recorded)
    if p.is_file():
        return p
    moved = primary.parent / f"{primary.stem}_layers" / p.name  # the folder moved with the list
    if moved.is_file():
        return moved
    raise FileNotFoundError(f"slice {recorded} listed by {primary} not found (nor {moved})")


def _read_slices(primary: Path, obj: Mapping[str, Any], allow_unsafe_load: bool) -> tuple[dict[str, Any], list[str], list[str]]:
    model, _ = _model_entry(obj, primary)
    parts: dict[str, dict[str, Tensor]] = {"trunk": {}, "heads": {}}
    for part in parts:
        for name, recorded in (model.get(part) or {}).items():
            path = _slice_path(primary, recorded)
            content = read_file(path, allow_unsafe_load=allow_unsafe_load)
            if not isinstance(content, Mapping) or content.get("type") != "slice" or not isinstance(content.get("weight"), Tensor):
                raise FormatError(f"{path}: listed as a slice by {primary} but is not a VISSL slice file")
            parts[part][name] = content["weight"]
    notes = [f"VISSL sliced checkpoint: {sum(len(p) for p in parts.values())} slice files read"]
    return {"classy_state_dict": {"base_model": {"model": parts}}}, [], notes


def read_vissl_sharded(
    path: str | os.PathLike[str], obj: Mapping[str, Any], allow_unsafe_load: bool = False
) -> tuple[dict[str, Any], list[str], list[str]]:
    """A consolidated VISSL checkpoint from a ``shard_list`` / ``slice_list`` primary file.

    Args:
        path: the primary file (shard and slice paths are resolved against its folder).
        obj: its loaded content.
        allow_unsafe_load: passed on to every shard / slice file read.

    Returns:
        ``({"classy_state_dict": {"base_model": {"model": {"trunk", "heads"}}}}, unexplained
        shard keys, notes)``; head keys are ``"<head index>.<name>"`` as in VISSL's own
        consolidated files. Optimizer, loss and other training state are left out.
    """
    primary = Path(path)
    kind = obj.get("type")
    if kind == "shard_list":
        return _read_shards(primary, obj, allow_unsafe_load)
    if kind == "slice_list":
        return _read_slices(primary, obj, allow_unsafe_load)
    raise FormatError(f"{primary}: not a VISSL shard_list / slice_list checkpoint (type {kind!r})")
