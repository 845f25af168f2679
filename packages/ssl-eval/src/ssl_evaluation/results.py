"""``OUT/results.json``: every metric of a run under a path that names it, written atomically."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from ssl_evaluation.atomic_files import atomic_write_text

__all__ = ["to_json_value", "write_results"]


def to_json_value(value: object, where: str = "results") -> object:
    """Plain-JSON copy of ``value``: tensors/arrays become lists or numbers, paths strings,
    tuples lists, non-finite floats ``None``. ``TypeError`` names the offending key path."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (torch.Tensor, np.ndarray, np.generic)):
        array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value
        return to_json_value(np.asarray(array).tolist(), where)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"{where}: key {key!r} is not a string")
            out[str(key)] = to_json_value(item, f"{where}.{key}")
        return out
    if isinstance(value, (list, tuple)):
        return [to_json_value(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise TypeError(f"{where} holds a {type(value).__name__}, which JSON cannot store")


def write_results(out_dir: str | os.PathLike[str], results: Mapping[str, object]) -> Path:
    """Write ``results`` to ``out_dir/results.json`` atomically and return that path.

    Nested dicts keep their structure (for example ``results["benchmarks"]["knn"]["top1"]``).
    """
    if not isinstance(results, Mapping):
        raise TypeError(f"results must be a dict, got {type(results).__name__}")
    text = json.dumps(to_json_value(results), indent=2, allow_nan=False) + "\n"
    return atomic_write_text(Path(out_dir) / "results.json", text)
