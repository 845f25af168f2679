"""Sharded checkpoints of an FSDP2 run (``torch.distributed.checkpoint``) and their
consolidation into one single-file checkpoint of the project's format.

Under ``train.parallel=fsdp`` a checkpoint is two things in ``OUT/checkpoints/``:

- ``last.dcp/``: the online model's parameters and the optimizer's state, written by every rank
  (its own shards) with DCP, keyed by parameter name;
- ``last.pt``: the single-file resume state written by rank 0 (step, epoch, history, every rank's
  loader and random states, the method's other state: teachers, queues, centers), whose trunk
  and head entries are empty and whose ``"sharded"`` entry names the folder and the step.

:func:`consolidate_dcp` merges the two into one ``last.pt``-like file without a process group,
whatever the world size that wrote them.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch.distributed as dist
from torch import nn

from ssl_models import checkpoint as ckpt_format
from ssl_models.dcp_reader import SafeDCPReader, SafeLoadPlanner, read_dcp

__all__ = ["DCP_SUFFIX", "MODEL_PREFIX", "consolidate_dcp", "head_positions", "load_sharded", "save_sharded", "unshard_into"]

DCP_SUFFIX = ".dcp"
"""``last.pt`` -> ``last.dcp/``."""
MODEL_PREFIX = "model."
"""The online model's keys in the method's state dict (these live in the DCP folder)."""


def head_positions(model: nn.Module) -> list[list[int]]:
    """``[[chain, index], ...]`` of every head of an ``SSLModel`` in checkpoint order."""
    return [[i, j] for i, chain in enumerate(model.heads) for j in range(len(chain))]


def _state(model: nn.Module, optimizer: Any) -> dict[str, Any]:
    from torch.distributed.checkpoint.state_dict import get_state_dict

    msd, osd = get_state_dict(model, optimizer)
    return {"model": msd, "optim": osd}


def save_sharded(model: nn.Module, optimizer: Any, folder: str | Path, is_main: bool, step: int) -> Path:
    """Every rank writes its shards of ``model`` and ``optimizer`` (and ``step``) to ``folder``
    (collective).

    DCP writes into ``folder.tmp``; rank 0 then renames the previous folder to ``folder.old``
    and the new one into place. The previous one stays until the next save, because the
    single-file ``last.pt`` is written after this call: a kill in between leaves ``last.pt`` of
    the previous step, and :func:`load_sharded` reads the folder whose step matches it.
    """
    folder = Path(folder)
    import torch.distributed.checkpoint as dcp

    tmp, old = folder.with_name(folder.name + ".tmp"), folder.with_name(folder.name + ".old")
    if is_main:
        shutil.rmtree(tmp, ignore_errors=True)
    dist.barrier()
    dcp.save({**_state(model, optimizer), "step": step}, checkpoint_id=str(tmp))
    dist.barrier()
    if is_main:
        if folder.exists():
            shutil.rmtree(old, ignore_errors=True)
            folder.rename(old)
        tmp.rename(folder)
    dist.barrier()
    return folder


def _matching(folder: Path, step: int) -> Path:
    """``folder`` or ``folder.old``, whichever was written at ``step`` (no process group needed;
    read through ``ssl_models.dcp_reader``: a planted ``.metadata`` or entry runs nothing)."""
    seen = []
    for candidate in (folder, folder.with_name(folder.name + ".old")):
        if (candidate / ".metadata").is_file():
            saved = read_dcp(candidate, keys={"step"})
            if int(saved["step"]) == step:
                return candidate
            seen.append(f"{candidate.name} at step {saved['step']}")
    raise ValueError(f"no sharded checkpoint of step {step} in {folder.parent} (found: {', '.join(seen) or 'none'})")


def load_sharded(model: nn.Module, optimizer: Any, folder: str | Path, step: int) -> None:
    """Every rank reads its shards of ``model`` and ``optimizer`` from ``folder`` (or
    ``folder.old``), the one written at ``step`` (collective; the world size may differ from the
    one that wrote it: DCP reshards). ``ValueError`` when neither holds that step."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import set_state_dict

    state = _state(model, optimizer)
    source = _matching(Path(folder), step)
    dcp.load(state, storage_reader=SafeDCPReader(source), planner=SafeLoadPlanner(source))
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])


def _numbered_optimizer(osd: dict[str, Any]) -> dict[str, Any]:
    """A name-keyed optimizer state dict (DCP) -> the usual one numbered in param-group order."""
    ids: dict[str, int] = {}
    groups = []
    for group in osd["param_groups"]:
        params = [ids.setdefault(name, len(ids)) for name in group["params"]]
        groups.append({**group, "params": params})
    return {"state": {ids[name]: dict(s) for name, s in osd["state"].items()}, "param_groups": groups}


def consolidate_dcp(folder: str | Path, out_file: str | Path) -> Path:
    """Merge a sharded checkpoint (``last.dcp/`` and its ``last.pt``) into one file.

    Args:
        folder: the DCP folder written by an FSDP run (``OUT/checkpoints/last.dcp``); the
            single-file part is the ``.pt`` of the same name beside it.
        out_file: where to write the consolidated checkpoint (atomically): the project's format
            with the trunk and heads filled in (``ssl_models.checkpoint.trunk_from_checkpoint``
            loads it) and the whole train state (model keys in ``method``, the optimizer
            numbered as ``torch.optim.Optimizer.state_dict`` numbers it).

    Needs no process group and works for any world size that wrote the folder. The folder is read
    through ``ssl_models.dcp_reader`` (``.metadata`` through the allow-list unpickler, other
    entries with ``weights_only=True``), as ``ssl convert`` reads DCP folders: a planted pickle
    runs nothing.

    Raises:
        FileNotFoundError: ``folder`` or its ``.pt`` is missing.
        ValueError: the ``.pt`` is not the single-file part of a sharded checkpoint, neither
            the folder nor its ``.old`` was written at the ``.pt``'s step, or the folder is not
            a readable DCP folder.
        ssl_models.UnsafePickleError: the folder pickles Python objects (refused, not run).
    """
    folder = Path(folder)
    single = folder.with_suffix(".pt")
    if not single.is_file():
        raise FileNotFoundError(f"the single-file part of {folder} is missing: {single}")
    payload = ckpt_format.load_checkpoint(single)
    sharded = payload.get("sharded")
    if not sharded:
        raise ValueError(f"{single} is not the single-file part of a sharded checkpoint")
    full = read_dcp(_matching(folder, int(sharded["step"])))
    model = full["model"]
    ckpt_format.fill_sharded_weights(payload, model)
    train = payload.get("train_state")
    if train:
        train["method"].update({MODEL_PREFIX + k: v for k, v in model.items()})
        train["optimizer"] = _numbered_optimizer(full["optim"])
    payload["sharded"] = None
    return ckpt_format.save_checkpoint(payload, out_file)


def unshard_into(model: nn.Module, plain: nn.Module) -> nn.Module:
    """Load the full weights of the FSDP-sharded ``model`` into ``plain`` (an unsharded module of
    the same architecture) and return it (collective: every rank gets the full weights)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True))
    plain.load_state_dict({k: v.detach().cpu() for k, v in full.items()})
    return plain
