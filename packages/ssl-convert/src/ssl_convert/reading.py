"""Reading checkpoint files safely.

Torch files (zip or legacy) go through ``torch.load(weights_only=True)``; plain pickles
(detectron2 / Caffe2 / old VISSL ``.pkl``) through ssl-models' restricted unpickler, which only
admits NumPy arrays and plain containers (:mod:`ssl_models.restricted_pickle`). A file that
pickles anything else raises :class:`UnsafeLoadError`, before any of it runs, unless the caller
passes ``allow_unsafe_load=True``.
"""

from __future__ import annotations

import io
import os
import pickle
import re
from pathlib import Path

import torch

from ssl_convert.errors import FormatError, UnsafeLoadError

__all__ = ["load_bytes", "read_file"]

_ZIP_MAGIC = b"PK\x03\x04"
_LEGACY_TORCH_MAGIC = 0x1950A86A20F9469CFC6C


def _unsafe_message(path: Path, name: str) -> str:
    return (
        f"{path} pickles a Python object ({name}), so it needs the unsafe loader: "
        "pass allow_unsafe_load=True (CLI: --unsafe-load) only if you trust this file"
    )


def _torch_load(path: Path, data: bytes, allow_unsafe_load: bool) -> object:
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        name = found.group(1) if found else "a non-tensor object"
        if not allow_unsafe_load:
            raise UnsafeLoadError(_unsafe_message(path, name)) from None
        try:
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
        except Exception as err2:  # noqa: BLE001 - any failure here means an unreadable file
            raise FormatError(f"{path} cannot be read: {type(err2).__name__}: {err2}") from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise FormatError(f"{path} is truncated or corrupt ({first})") from None


def _pickle_load(path: Path, data: bytes, allow_unsafe_load: bool) -> object:
    from ssl_models.restricted_pickle import UnsafePickleError, restricted_loads  # lazy: ssl_models imports timm

    try:
        obj = restricted_loads(data, path)
    except UnsafePickleError as err:
        if not allow_unsafe_load:
            raise UnsafeLoadError(_unsafe_message(path, err.global_name)) from None
        try:
            return pickle.loads(data, encoding="latin1")  # noqa: S301 - explicitly allowed
        except Exception as err2:  # noqa: BLE001
            raise FormatError(f"{path} cannot be unpickled: {err2}") from None
    except pickle.UnpicklingError as err:
        if "truncated" in str(err):
            raise FormatError(f"{path} is truncated (the pickle ends early)") from None
        raise FormatError(
            f"{path} is not a checkpoint (neither a torch file nor a pickle; a text file?)"
        ) from None
    if obj == _LEGACY_TORCH_MAGIC:  # legacy (non-zip) torch.save file
        return _torch_load(path, data, allow_unsafe_load)
    return obj


def read_file(path: str | os.PathLike[str], allow_unsafe_load: bool = False) -> object:
    """Load a checkpoint file (torch zip, legacy torch, or plain pickle) on the CPU.

    Raises ``FileNotFoundError`` for a missing path, :class:`FormatError` for an empty, text,
    truncated or corrupt file, and :class:`UnsafeLoadError` when the file needs the unsafe loader
    and ``allow_unsafe_load`` is False.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"checkpoint not found: {p}")
    if p.is_dir():
        raise FormatError(f"{p} is a directory, not a checkpoint file")
    return load_bytes(p.read_bytes(), p, allow_unsafe_load)


def load_bytes(data: bytes, path: str | os.PathLike[str], allow_unsafe_load: bool = False) -> object:
    """Like :func:`read_file` for the bytes of a file (``path`` only names it in messages)."""
    p = Path(path)
    if not data:
        raise FormatError(f"{p} is empty")
    if data.startswith(_ZIP_MAGIC):
        return _torch_load(p, data, allow_unsafe_load)
    return _pickle_load(p, data, allow_unsafe_load)
