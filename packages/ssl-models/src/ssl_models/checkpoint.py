"""The project's one checkpoint format (DESIGN.md, "Checkpoints").

A checkpoint is a dict of tensors and plain containers, loadable with
``torch.load(..., weights_only=True)``::

    {"format": "ssl-checkpoint", "format_version": 1,
     "trunk": {"name": str, "kwargs": dict, "state_dict": dict},
     "heads": [{"name": str, "kwargs": dict, "state_dict": dict}, ...],
     "recipe": dict | None,        # resolved recipe (plain containers)
     "train_state": dict | None,   # resume state, written by ssl-train only
     "sharded": dict | None}       # ssl-train FSDP runs only, see below

The single-file part of a sharded (FSDP) training checkpoint (``OUT/checkpoints/last.pt`` beside
its ``torch.distributed.checkpoint`` folder ``last.dcp/``) has empty trunk and head state dicts
and ``"sharded": {"folder": "last.dcp", "step": int, "heads": [[chain, index], ...]}``; the
folder's ``model`` entry holds the weights under ``trunk.*`` and ``heads.<chain>.<index>.*``
(:func:`fill_sharded_weights` puts them back).

Files are written atomically (:mod:`ssl_models.atomic_files`): a temporary file in the same
folder, flushed and fsynced, then ``os.replace``d over the target, so a crash never leaves a
half-written checkpoint.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ssl_models.atomic_files import write_atomically
from ssl_models.catalog import build_head, build_trunk
from ssl_models.heads.base import Head
from ssl_models.trunk import Trunk

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "CheckpointError",
    "fill_sharded_weights",
    "heads_from_checkpoint",
    "load_checkpoint",
    "model_payload",
    "save_checkpoint",
    "trunk_from_checkpoint",
]

FORMAT = "ssl-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, or not in the ssl-checkpoint format."""


def _module_entry(module: nn.Module, what: str) -> dict[str, Any]:
    name = getattr(module, "name", None)
    kwargs = getattr(module, "kwargs", None)
    if not isinstance(name, str) or not isinstance(kwargs, dict):
        raise TypeError(f"{what} must have a str `name` and a dict `kwargs` (build it with build_{what}), got {type(module).__name__}")
    return {"name": name, "kwargs": dict(kwargs), "state_dict": dict(module.state_dict())}


def model_payload(trunk: Trunk, heads: Sequence[Head] = (), recipe: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The checkpoint dict for a trunk and its heads (``train_state`` None)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "trunk": _module_entry(trunk, "trunk"),
        "heads": [_module_entry(h, "head") for h in heads],
        "recipe": dict(recipe) if recipe is not None else None,
        "train_state": None,
    }


def save_checkpoint(payload: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``payload`` to ``path`` atomically and return the path.

    The parent folder is created when missing and the file gets the user's umask (0644 under
    022). On any error the target is left untouched and the temporary file removed; a full disk
    raises :class:`ssl_models.atomic_files.DiskFullError` and a read-only folder
    ``PermissionError``, each one line naming the path (see :mod:`ssl_models.atomic_files`).
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"checkpoint path is a directory: {path}")
    return write_atomically(path, lambda f: torch.save(payload, f))


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read an ssl checkpoint with ``torch.load(weights_only=True)`` onto the CPU.

    Raises:
        CheckpointError: the file is missing, is not a torch file (text, truncated, corrupt),
            holds anything but tensors and plain containers, or is not an ssl checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types here (UnpicklingError, RuntimeError, EOFError, AssertionError, ...)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"not a readable torch checkpoint: {path} ({first})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"not an ssl checkpoint (no 'format': {FORMAT!r}): {path}")
    version = ckpt.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"unsupported ssl checkpoint format_version {version!r} (this ssl-models reads {FORMAT_VERSION}): {path}")
    trunk = ckpt.get("trunk")
    if not isinstance(trunk, dict) or not {"name", "kwargs", "state_dict"} <= trunk.keys():
        raise CheckpointError(f"ssl checkpoint without a valid 'trunk' entry: {path}")
    return ckpt


def trunk_from_checkpoint(ckpt: Mapping[str, Any]) -> Trunk:
    """Rebuild the trunk of a checkpoint dict and load its weights (strict)."""
    entry = ckpt["trunk"]
    trunk = build_trunk(entry["name"], **entry["kwargs"])
    trunk.load_state_dict(entry["state_dict"], strict=True)
    return trunk


def heads_from_checkpoint(ckpt: Mapping[str, Any]) -> list[Head]:
    """Rebuild the heads of a checkpoint dict, in order, and load their weights (strict)."""
    heads = []
    for entry in ckpt.get("heads") or []:
        head = build_head(entry["name"], **entry["kwargs"])
        head.load_state_dict(entry["state_dict"], strict=True)
        heads.append(head)
    return heads


def fill_sharded_weights(ckpt: dict[str, Any], model_state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """Fill the empty trunk and head state dicts of the single-file part of a sharded checkpoint
    (``ckpt["sharded"]``, see the module docstring) from the full ``model_state`` of its DCP
    folder (keys ``trunk.*`` and ``heads.<chain>.<index>.*``); returns ``ckpt`` (changed in place).

    Raises:
        CheckpointError: ``ckpt`` is not the single-file part of a sharded checkpoint, or
            ``model_state`` holds no trunk weights.
    """
    sharded = ckpt.get("sharded")
    if not isinstance(sharded, Mapping) or len(sharded.get("heads", [])) != len(ckpt.get("heads") or []):
        raise CheckpointError("not the single-file part of a sharded checkpoint (no valid 'sharded' entry)")
    trunk = {k[len("trunk."):]: v for k, v in model_state.items() if k.startswith("trunk.")}
    if not trunk:
        raise CheckpointError("the sharded checkpoint's model state holds no trunk.* weights")
    ckpt["trunk"]["state_dict"] = trunk
    for entry, (chain, index) in zip(ckpt["heads"], sharded["heads"]):
        prefix = f"heads.{chain}.{index}."
        entry["state_dict"] = {k[len(prefix):]: v for k, v in model_state.items() if k.startswith(prefix)}
    return ckpt
