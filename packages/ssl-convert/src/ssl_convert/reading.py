"""Reading checkpoint files safely.

Torch files (zip or legacy) go through ``torch.load(weights_only=True)``; plain pickles
(detectron2 / Caffe2 ``.pkl``) through an unpickler that only admits NumPy arrays and plain
containers. A file that pickles anything else raises :class:`UnsafeLoadError` unless the caller
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
_SAFE_PICKLE_GLOBALS = {
    ("_codecs", "encode"),  # bytes in protocol-2 pickles written by Python 3
    ("collections", "OrderedDict"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
}


class _ForbiddenGlobal(pickle.UnpicklingError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits NumPy arrays, dtypes, scalars and plain containers; nothing else."""

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in _SAFE_PICKLE_GLOBALS or (
            module == "numpy.dtypes" and name.endswith("DType")
        ):
            return super().find_class(module, name)
        raise _ForbiddenGlobal(f"{module}.{name}")


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
    try:
        obj = _NumpyOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()
    except _ForbiddenGlobal as err:
        if not allow_unsafe_load:
            raise UnsafeLoadError(_unsafe_message(path, err.name)) from None
        try:
            return pickle.loads(data, encoding="latin1")  # noqa: S301 - explicitly allowed
        except Exception as err2:  # noqa: BLE001
            raise FormatError(f"{path} cannot be unpickled: {err2}") from None
    except EOFError:
        raise FormatError(f"{path} is truncated (the pickle ends early)") from None
    except Exception:  # noqa: BLE001 - anything else: not a pickle at all
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
