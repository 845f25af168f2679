"""Sharded checkpoints -> one state: ``torch.distributed.checkpoint`` (DCP) directories.

A DCP directory (``.metadata`` plus one ``__<rank>_<n>.distcp`` file per writer, as written by
``torch.distributed.checkpoint.save`` from FSDP2 / DTensor state dicts) is read in a single
process, without a process group: every shard of every tensor is stitched back into a full
tensor, so the result loads on any number of processes. Non-tensor entries (strings, numbers,
nested containers) are stored by DCP as pickled bytes; they are read with
``torch.load(weights_only=True)`` and need ``allow_unsafe_load=True`` only when they hold other
Python objects.

The ``.metadata`` file is a pickle too, and torch's ``FileSystemReader`` reads it with plain
``pickle.load``: ``ssl_models.dcp_reader`` (the reader ssl-train's ``consolidate_dcp`` uses too)
reads it first through ssl-models' restricted unpickler, admitting only DCP's own metadata
classes, torch dtypes and sizes, and hands it to torch already read, so a planted ``.metadata``
runs nothing (``UnsafeLoadError`` unless ``allow_unsafe_load=True``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ssl_convert.errors import FormatError, UnsafeLoadError

__all__ = ["is_dcp_dir", "read_dcp", "training_run_part"]


def is_dcp_dir(path: str | os.PathLike[str]) -> bool:
    """True for a directory written by ``torch.distributed.checkpoint.save``."""
    from ssl_models.dcp_reader import is_dcp_dir as is_dcp  # lazy: ssl_models imports timm

    return is_dcp(path)


def read_dcp(path: str | os.PathLike[str], allow_unsafe_load: bool = False) -> dict[str, Any]:
    """All entries of a DCP directory as one nested dict of full (unsharded) CPU tensors
    (``ssl_models.dcp_reader.read_dcp``, with this package's errors).

    Raises ``FileNotFoundError`` for a missing path, :class:`FormatError` for a directory
    that is not a readable DCP checkpoint and :class:`UnsafeLoadError` for one that pickles
    Python objects (nothing of them ran).
    """
    from ssl_models.dcp_reader import read_dcp as read  # lazy: ssl_models imports timm
    from ssl_models.restricted_pickle import UnsafePickleError

    try:
        return read(Path(path), allow_unsafe_load=allow_unsafe_load)
    except UnsafePickleError as err:
        what = f"{err.global_name}, which is not DCP metadata" if err.source.endswith(".metadata") else err.global_name
        raise UnsafeLoadError(
            f"{err.source} pickles {what}; pass allow_unsafe_load=True (CLI: --unsafe-load) only if you trust this checkpoint"
        ) from None
    except ValueError as err:
        raise FormatError(str(err)) from None


def training_run_part(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The single-file part of an ssl-train FSDP checkpoint beside ``folder``, or None.

    ``OUT/checkpoints/last.dcp/`` (or ``last.dcp.old/``) of a ``train.parallel=fsdp`` run holds
    the weights; ``last.pt`` beside it names the trunk and heads (architecture and constructor
    arguments, the same for every step of the run) and marks itself with a ``sharded`` entry.
    Read with ``weights_only=True``.
    """
    from ssl_models import checkpoint as ckpt_format  # lazy: ssl_models imports timm

    p = Path(folder)
    if ".dcp" not in p.name:
        return None
    single = p.with_name(p.name[: p.name.rindex(".dcp")] + ".pt")
    try:
        payload = ckpt_format.load_checkpoint(single)
    except ckpt_format.CheckpointError:
        return None
    sharded = payload.get("sharded")
    return payload if isinstance(sharded, dict) and sharded.get("folder") == single.stem + ".dcp" else None
