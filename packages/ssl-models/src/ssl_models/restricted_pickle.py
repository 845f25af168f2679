"""Unpickling files from anyone: an allow-list of globals, so a pickle cannot run code.

``pickle.load`` calls whatever function a file names (``os.system`` included). This module's
unpickler resolves only the globals on an allow-list; any other name stops the load *before*
anything of it runs, with :class:`UnsafePickleError`. The default list, :data:`SAFE_GLOBALS`,
admits plain containers, NumPy arrays, dtypes and scalars: what Caffe2 / detectron2 ``.pkl``
weights and the revisited-Oxford/Paris ground truth hold. A caller with a richer format (DCP
``.metadata``) passes its own list, extending this one.

This is the one restricted loader of ssl-models, ssl-convert and ssl-evaluation. ssl-data,
which imports no sibling package (DESIGN.md), has its own small copy for its one pickle read.
"""

from __future__ import annotations

import io
import os
import pickle
from collections.abc import Collection
from typing import BinaryIO

__all__ = ["SAFE_GLOBALS", "UnsafePickleError", "restricted_load", "restricted_loads"]

#: ``(module, name)`` pairs a plain-data pickle may reference (besides ``numpy.dtypes.*DType``).
SAFE_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        ("_codecs", "encode"),  # bytes in protocol-2 pickles written by Python 3
        ("collections", "OrderedDict"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),  # arrays in protocol-5 pickles
        ("numpy._core.numeric", "_frombuffer"),
    }
)


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle names a global outside the allow-list; nothing of the file was run.

    ``global_name`` is the refused ``module.name``; the message is one line naming the file.
    """

    def __init__(self, source: str, global_name: str) -> None:
        super().__init__(
            f"{source} pickles {global_name}, which is not an allowed data type "
            "(unpickling it could run code); refused"
        )
        self.source = source
        self.global_name = global_name


class _AllowListUnpickler(pickle.Unpickler):
    def __init__(self, file: BinaryIO, source: str, allowed: Collection[tuple[str, str]], encoding: str) -> None:
        super().__init__(file, encoding=encoding)
        self._source = source
        self._allowed = allowed

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in self._allowed or (module == "numpy.dtypes" and name.endswith("DType")):
            return super().find_class(module, name)
        raise UnsafePickleError(self._source, f"{module}.{name}")


def restricted_load(
    file: BinaryIO,
    source: str | os.PathLike[str],
    allowed: Collection[tuple[str, str]] = SAFE_GLOBALS,
    encoding: str = "latin1",
) -> object:
    """Unpickle one object from ``file``, resolving only the ``allowed`` globals.

    Args:
        file: a binary file positioned at the pickle.
        source: names the file in error messages (a path, or ``"<bytes>"``).
        allowed: ``(module, name)`` pairs that may be referenced (default :data:`SAFE_GLOBALS`).
        encoding: how Python-2 ``str`` objects are decoded (``"latin1"`` keeps NumPy buffers).

    Raises:
        UnsafePickleError: the pickle references any other global (nothing was run).
        pickle.UnpicklingError: the data is not a complete pickle (truncated, text, corrupt);
            one line naming ``source``.
    """
    name = os.fspath(source)
    try:
        return _AllowListUnpickler(file, name, allowed, encoding).load()
    except UnsafePickleError:
        raise
    except Exception as err:  # noqa: BLE001 - a malformed pickle raises almost anything
        if isinstance(err, EOFError) or "truncated" in str(err):
            raise pickle.UnpicklingError(f"{name} is truncated (the pickle ends early)") from None
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise pickle.UnpicklingError(f"{name} is not a readable pickle ({first})") from None


def restricted_loads(
    data: bytes,
    source: str | os.PathLike[str] = "<bytes>",
    allowed: Collection[tuple[str, str]] = SAFE_GLOBALS,
    encoding: str = "latin1",
) -> object:
    """:func:`restricted_load` on the bytes of a pickle."""
    return restricted_load(io.BytesIO(data), source, allowed, encoding)
