"""Sharded checkpoints -> one state: ``torch.distributed.checkpoint`` (DCP) directories.

A DCP directory (``.metadata`` plus one ``__<rank>_<n>.distcp`` file per writer, as written by
``torch.distributed.checkpoint.save`` from FSDP2 / DTensor state dicts) is read in a single
process, without a process group: every shard of every tensor is stitched back into a full
tensor, so the result loads on any number of processes. Non-tensor entries (strings, numbers,
nested containers) are stored by DCP as pickled bytes; they are read with
``torch.load(weights_only=True)`` and need ``allow_unsafe_load=True`` only when they hold other
Python objects.

The ``.metadata`` file is a pickle too, and torch's ``FileSystemReader`` reads it with plain
``pickle.load``: here it is read first through ssl-models' restricted unpickler, admitting only
DCP's own metadata classes, torch dtypes and sizes, and handed to torch already read, so a planted
``.metadata`` runs nothing (``UnsafeLoadError`` unless ``allow_unsafe_load=True``).
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
from torch.distributed.checkpoint.default_planner import _EmptyStateDictLoadPlanner
from torch.distributed.checkpoint.metadata import Metadata, StorageMeta
from torch.distributed.checkpoint.state_dict_loader import _load_state_dict

from ssl_convert.errors import FormatError, UnsafeLoadError

__all__ = ["is_dcp_dir", "read_dcp"]


def is_dcp_dir(path: str | os.PathLike[str]) -> bool:
    """True for a directory written by ``torch.distributed.checkpoint.save``."""
    p = Path(path)
    return p.is_dir() and (p / ".metadata").is_file()


_DCP_METADATA = "torch.distributed.checkpoint.metadata"


def _metadata_globals() -> frozenset[tuple[str, str]]:
    """What a DCP ``.metadata`` pickle may name: plain data, DCP's metadata dataclasses, torch
    sizes, dtypes, layouts and memory formats, and paths; nothing that can run code."""
    from ssl_models.restricted_pickle import SAFE_GLOBALS  # lazy: ssl_models imports timm

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


def _read_metadata(path: Path) -> Metadata:
    """``path/.metadata`` unpickled through the allow-list (torch's reader uses ``pickle.load``)."""
    from ssl_models.restricted_pickle import UnsafePickleError, restricted_load

    file = path / ".metadata"
    try:
        with file.open("rb") as stream:
            metadata = restricted_load(stream, file, _metadata_globals())
    except UnsafePickleError as err:
        raise UnsafeLoadError(
            f"{file} pickles {err.global_name}, which is not DCP metadata; pass "
            "allow_unsafe_load=True (CLI: --unsafe-load) only if you trust this checkpoint"
        ) from None
    except pickle.UnpicklingError as err:
        raise FormatError(f"{path} is not a readable torch.distributed.checkpoint directory ({err})") from None
    if not isinstance(metadata, Metadata):
        raise FormatError(f"{file} holds a {type(metadata).__name__}, not DCP metadata")
    return metadata


class _CheckedMetadataReader(FileSystemReader):
    """torch's reader, handed metadata that was already read through the allow-list."""

    def __init__(self, path: Path, metadata: Metadata) -> None:
        super().__init__(path)
        self._metadata = metadata

    def read_metadata(self, *args: Any, **kwargs: Any) -> Metadata:
        if getattr(self._metadata, "storage_meta", None) is None:  # as torch's own read_metadata
            self._metadata.storage_meta = StorageMeta()
        self._metadata.storage_meta.load_id = self.load_id
        return self._metadata


class _SafeBytesPlanner(_EmptyStateDictLoadPlanner):
    """Loads every entry of the checkpoint; pickled (non-tensor) entries go through
    ``torch.load(weights_only=True)`` unless unsafe loading was allowed."""

    def __init__(self, path: Path, allow_unsafe_load: bool) -> None:
        super().__init__()
        self._path = path
        self._allow_unsafe_load = allow_unsafe_load

    def load_bytes(self, read_item: Any, value: io.BytesIO) -> None:
        raw = value.getvalue()
        try:
            obj = torch.load(io.BytesIO(raw), weights_only=True)
        except pickle.UnpicklingError:
            fqn = read_item.dest_index.fqn
            if not self._allow_unsafe_load:
                raise UnsafeLoadError(
                    f"{self._path}: entry {fqn!r} pickles a Python object; pass allow_unsafe_load=True "
                    "(CLI: --unsafe-load) only if you trust this checkpoint"
                ) from None
            obj = torch.load(io.BytesIO(raw), weights_only=False)
        fqn = read_item.dest_index.fqn
        if self.flatten_state_dict:
            set_element(self.original_state_dict, self.mappings[fqn], obj)
        else:
            self.state_dict[fqn] = obj


def _first_cause(err: BaseException) -> BaseException:
    """The exception a DCP ``CheckpointException`` wraps (its first rank's), else ``err``."""
    if isinstance(err, CheckpointException) and err.failures:
        exc, _trace = next(iter(err.failures.values()))
        return exc
    return err


def read_dcp(path: str | os.PathLike[str], allow_unsafe_load: bool = False) -> dict[str, Any]:
    """All entries of a DCP directory as one nested dict of full (unsharded) CPU tensors.

    Raises ``FileNotFoundError`` for a missing path and :class:`FormatError` for a directory
    that is not a readable DCP checkpoint.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"checkpoint not found: {p}")
    if not is_dcp_dir(p):
        raise FormatError(f"{p} is a directory without a torch.distributed.checkpoint .metadata file")
    state: dict[str, Any] = {}
    reader = FileSystemReader(p) if allow_unsafe_load else _CheckedMetadataReader(p, _read_metadata(p))
    try:
        # torch's own dcp_to_torch_save reads this way (a single process, no process group).
        _load_state_dict(state, storage_reader=reader, planner=_SafeBytesPlanner(p, allow_unsafe_load), no_dist=True)
    except (Exception, CheckpointException) as raw:  # noqa: BLE001 - any failure: unreadable shard set
        err = _first_cause(raw)
        if isinstance(err, UnsafeLoadError):
            raise err from None
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise FormatError(f"{p} is not a readable torch.distributed.checkpoint directory ({first})") from None
    return state
