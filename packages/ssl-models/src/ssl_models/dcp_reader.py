"""Reading ``torch.distributed.checkpoint`` (DCP) folders from anyone, without running their code.

A DCP folder (written by ``torch.distributed.checkpoint.save``, e.g. from FSDP2 / DTensor state
dicts) is a ``.metadata`` pickle plus one ``__<rank>_<n>.distcp`` file per writer. torch's
``FileSystemReader`` unpickles ``.metadata`` with plain ``pickle.load``, and its load planners read
every non-tensor entry (numbers, strings, an optimizer's hyperparameters) with
``torch.load(weights_only=False)``: a planted folder would run code. Here ``.metadata`` goes through
:mod:`ssl_models.restricted_pickle` (DCP's own metadata classes, torch dtypes and sizes, paths) and
is handed to torch already read, and non-tensor entries go through ``torch.load(weights_only=True)``;
anything else stops the load with :class:`~ssl_models.restricted_pickle.UnsafePickleError` before
it runs (unless ``allow_unsafe_load``).

- :func:`read_dcp`: every entry (or some top-level keys) as full CPU tensors, in one process
  without a process group, whatever the world size that wrote the folder.
- :class:`SafeDCPReader` and :class:`SafeLoadPlanner`: ``torch.distributed.checkpoint.load``'s
  ``storage_reader`` and ``planner`` for loading into an existing (sharded) state dict.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

import torch
from torch.distributed.checkpoint import FileSystemReader
from torch.distributed.checkpoint._traverse import set_element
from torch.distributed.checkpoint.api import CheckpointException
from torch.distributed.checkpoint.default_planner import DefaultLoadPlanner, _EmptyStateDictLoadPlanner
from torch.distributed.checkpoint.metadata import Metadata, StorageMeta
from torch.distributed.checkpoint.state_dict_loader import _load_state_dict

from ssl_models.restricted_pickle import SAFE_GLOBALS, UnsafePickleError, restricted_load

__all__ = ["SafeDCPReader", "SafeLoadPlanner", "dcp_metadata_globals", "is_dcp_dir", "read_dcp", "read_dcp_metadata"]

_DCP_METADATA = "torch.distributed.checkpoint.metadata"


def is_dcp_dir(path: str | os.PathLike[str]) -> bool:
    """True for a directory written by ``torch.distributed.checkpoint.save``."""
    p = Path(path)
    return p.is_dir() and (p / ".metadata").is_file()


def dcp_metadata_globals() -> frozenset[tuple[str, str]]:
    """What a DCP ``.metadata`` pickle may name: plain data, DCP's metadata dataclasses, torch
    sizes, dtypes, layouts and memory formats, and paths; nothing that can run code."""
    dcp_classes = (
        "Metadata", "StorageMeta", "BytesStorageMetadata", "TensorStorageMetadata", "TensorProperties",
        "ChunkStorageMetadata", "MetadataIndex", "_MEM_FORMAT_ENCODING",
    )  # fmt: skip
    dtypes = {("torch", n) for n in dir(torch) if isinstance(getattr(torch, n, None), torch.dtype)}
    return SAFE_GLOBALS | dtypes | {(_DCP_METADATA, n) for n in dcp_classes} | {
        ("torch.distributed.checkpoint.filesystem", "_StorageInfo"),
        ("torch.serialization", "_get_layout"),
        ("torch", "Size"),
        ("pathlib", "PosixPath"),
        ("pathlib", "PurePosixPath"),
    }


def read_dcp_metadata(path: str | os.PathLike[str]) -> Metadata:
    """``path/.metadata`` unpickled through the allow-list.

    Raises:
        UnsafePickleError: the pickle names anything but DCP metadata (nothing of it ran).
        pickle.UnpicklingError: truncated or not a pickle.
        ValueError: a pickle of something else than DCP metadata.
    """
    file = Path(path) / ".metadata"
    with file.open("rb") as stream:
        metadata = restricted_load(stream, file, dcp_metadata_globals())
    if not isinstance(metadata, Metadata):
        raise ValueError(f"{file} holds a {type(metadata).__name__}, not DCP metadata")
    return metadata


class SafeDCPReader(FileSystemReader):
    """torch's ``FileSystemReader`` whose ``.metadata`` is read through the allow-list when it is
    constructed (errors of :func:`read_dcp_metadata` are raised here, before any load)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path)
        self._checked_metadata = read_dcp_metadata(path)

    def read_metadata(self, *args: Any, **kwargs: Any) -> Metadata:
        metadata = self._checked_metadata
        if getattr(metadata, "storage_meta", None) is None:  # as torch's own read_metadata
            metadata.storage_meta = StorageMeta()
        metadata.storage_meta.load_id = self.load_id
        return metadata


class _SafeBytes:
    """``load_bytes`` of a DCP load planner through ``torch.load(weights_only=True)``."""

    source: str = "<dcp>"
    allow_unsafe_load: bool = False
    flatten_state_dict: bool
    original_state_dict: dict[str, Any]
    mappings: dict[str, Any]
    state_dict: dict[str, Any]

    def load_bytes(self, read_item: Any, value: io.BytesIO) -> None:
        fqn = read_item.dest_index.fqn
        raw = value.getvalue()
        try:
            obj = torch.load(io.BytesIO(raw), weights_only=True)
        except pickle.UnpicklingError:
            if not self.allow_unsafe_load:
                raise UnsafePickleError(f"{self.source}: entry {fqn!r}", "a Python object") from None
            obj = torch.load(io.BytesIO(raw), weights_only=False)
        if self.flatten_state_dict:
            set_element(self.original_state_dict, self.mappings[fqn], obj)
        else:
            self.state_dict[fqn] = obj


class SafeLoadPlanner(_SafeBytes, DefaultLoadPlanner):
    """torch's ``DefaultLoadPlanner`` (load into the given state dict) with non-tensor entries
    read through ``torch.load(weights_only=True)``; ``source`` names the folder in errors."""

    def __init__(self, source: str | os.PathLike[str] = "<dcp>", allow_unsafe_load: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source = os.fspath(source)
        self.allow_unsafe_load = allow_unsafe_load


class _SafeFullPlanner(_SafeBytes, _EmptyStateDictLoadPlanner):
    """Every entry (or those under ``keys``) of the checkpoint into an empty state dict."""

    def __init__(self, source: str, allow_unsafe_load: bool, keys: set[str] | None) -> None:
        super().__init__(keys=keys)
        self.source = source
        self.allow_unsafe_load = allow_unsafe_load


def _first_cause(err: BaseException) -> BaseException:
    """The exception a DCP ``CheckpointException`` wraps (its first rank's), else ``err``."""
    if isinstance(err, CheckpointException) and err.failures:
        exc, _trace = next(iter(err.failures.values()))
        return exc
    return err


def read_dcp(path: str | os.PathLike[str], keys: set[str] | None = None, allow_unsafe_load: bool = False) -> dict[str, Any]:
    """The entries of a DCP folder as one nested dict of full (unsharded) CPU tensors.

    Args:
        path: the folder (``.metadata`` and the ``.distcp`` files).
        keys: top-level keys to read (``{"step"}``); ``None``: all.
        allow_unsafe_load: unpickle ``.metadata`` and non-tensor entries without the
            allow-list (only for folders you trust).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UnsafePickleError: ``.metadata`` or an entry pickles a Python object (nothing of it ran).
        ValueError: not a readable DCP folder (one line naming it).
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"checkpoint not found: {p}")
    if not is_dcp_dir(p):
        raise ValueError(f"{p} is a directory without a torch.distributed.checkpoint .metadata file")
    try:
        reader = FileSystemReader(p) if allow_unsafe_load else SafeDCPReader(p)
    except pickle.UnpicklingError as err:
        if isinstance(err, UnsafePickleError):
            raise
        raise ValueError(f"{p} is not a readable torch.distributed.checkpoint directory ({err})") from None
    state: dict[str, Any] = {}
    try:
        # torch's own dcp_to_torch_save reads this way (a single process, no process group).
        _load_state_dict(state, storage_reader=reader, planner=_SafeFullPlanner(str(p), allow_unsafe_load, keys), no_dist=True)
    except (Exception, CheckpointException) as raw:  # noqa: BLE001 - any failure: unreadable shard set
        err = _first_cause(raw)
        if isinstance(err, UnsafePickleError):
            raise err from None
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{p} is not a readable torch.distributed.checkpoint directory ({first})") from None
    return state
