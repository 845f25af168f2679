"""Reading pickles of numpy arrays (Caffe2 models, CIFAR batches) without running arbitrary
code: only the globals such a pickle needs are resolved, anything else is refused."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from ssl_data.prep.outputs import require_file

__all__ = ["load_array_pickle"]

_SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("collections", "OrderedDict"), ("_codecs", "encode"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
}  # fmt: skip


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def load_array_pickle(path: Path, what: str) -> Any:
    """Unpickle ``path`` (Python 2 pickles read as latin-1) allowing only numpy arrays, scalars,
    dtypes and plain containers. FileNotFoundError naming ``what`` when missing; ValueError (one
    line) for a file that is not such a pickle."""
    path = require_file(Path(path), what)
    try:
        with path.open("rb") as f:
            return _ArrayUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError, IndexError) as e:
        raise ValueError(f"{path} is not a pickle of numpy arrays ({what}; {type(e).__name__}: {e})") from None
