"""One visual classifier per category from its ``K`` exemplar embeddings (the aggregation step of
MM-OVOD's ``get_exemplars_tta.py`` and ``generate_vision_classifier_agg.py``).

``aggregator``:

- ``"mean"`` (MM-OVOD's "avg" classifiers): the mean of the category's L2-normalised exemplar
  embeddings, L2-normalised;
- a path to the user's trained aggregator saved with ``torch.export.save`` (a ``.pt2`` file,
  the batch dimension exported as dynamic): called as ``module(features, mask)`` with
  ``features`` float32 ``[B, K, D]`` and ``mask`` bool ``[B, K]`` (True = a real exemplar) and
  returning ``[B, D]``, which is L2-normalised. MM-OVOD's own aggregator is a trained
  transformer whose architecture its data documentation does not give; its released checkpoint
  runs here once exported from MM-OVOD's code with ``torch.export``. Load only files you trust:
  a saved module is a program. Nothing is downloaded.

A category without exemplars (an all-zero row of ``exemplar_features``' output) gets a zero
classifier and is listed in the summary.
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ssl_data.prep.outputs import require_file, save_npy

__all__ = ["aggregate_exemplars", "exemplar_classifiers", "load_aggregator", "mean_aggregator"]


def mean_aggregator(features: Any, mask: Any) -> Any:
    """Mean of the masked, L2-normalised embeddings: features ``[B, K, D]``, mask ``[B, K]`` -> ``[B, D]``."""
    from torch.nn.functional import normalize

    weights = mask.to(features.dtype).unsqueeze(-1)
    return (normalize(features, dim=-1) * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)


def load_aggregator(path: Path) -> Callable[[Any, Any], Any]:
    """The module of a ``torch.export.save`` file (``.pt2``)."""
    import torch

    file = require_file(Path(path), "aggregator module")
    if file.suffix != ".pt2":
        raise ValueError(f"aggregator must be 'mean' or a torch.export .pt2 file, got {file}")
    if not zipfile.is_zipfile(file):
        raise ValueError(f"cannot load aggregator {file}: a torch.export .pt2 file is a zip archive, this is not")
    log = logging.getLogger("torch.export")
    level = log.level
    log.setLevel(logging.ERROR)  # the loader logs its own failure as a warning with a traceback
    try:
        return torch.export.load(str(file)).module()
    except Exception as e:  # the loader's errors vary by what is wrong with the file
        raise ValueError(f"cannot load aggregator {file} as a torch.export .pt2 file: {_first_line(e)}") from None
    finally:
        log.setLevel(level)


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def aggregate_exemplars(features: np.ndarray, aggregator: str | Callable[[Any, Any], Any] = "mean",
                        batch_size: int = 256) -> np.ndarray:
    """float32 ``[C, D]`` unit classifiers from exemplar embeddings ``[C, K, D]`` (zero rows =
    no exemplar); ``aggregator`` ``"mean"`` or a callable ``(features [B, K, D], mask [B, K]) -> [B, D]``."""
    import torch
    from torch.nn.functional import normalize

    x = np.asarray(features)
    if x.ndim != 3 or not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"exemplar features must be a float [C, K, D] array, got {x.dtype} {list(x.shape)}")
    if not np.isfinite(x).all():
        raise ValueError("exemplar features hold NaN or infinite values")
    if aggregator == "mean":
        fn: Callable[[Any, Any], Any] = mean_aggregator
    elif callable(aggregator):
        fn = aggregator
    else:
        raise ValueError(f"aggregator must be 'mean' or a module, got {aggregator!r}")
    feats = torch.from_numpy(x.astype(np.float32))
    mask = feats.abs().sum(dim=-1) > 0
    out = torch.zeros(feats.shape[0], feats.shape[2])
    rows = torch.nonzero(mask.any(dim=1)).flatten()
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            pick = rows[start : start + batch_size]
            try:
                got = fn(feats[pick], mask[pick])
            except Exception as e:  # a user's module: its failure is one line naming the input shape
                raise ValueError(f"the aggregator failed on features {list(feats[pick].shape)}: {_first_line(e)}") from None
            if not isinstance(got, torch.Tensor) or tuple(got.shape) != (len(pick), feats.shape[2]):
                shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
                raise ValueError(f"the aggregator returned {shape}, expected [{len(pick)}, {feats.shape[2]}]")
            out[pick] = normalize(got.float(), dim=-1)
    return out.numpy()


def exemplar_classifiers(input_path: Path, output_dir: Path, aggregator: str = "mean", batch_size: int = 256) -> dict[str, Any]:
    """``-i {stem}.npy`` (``[C, K, D]``, ``exemplar_features``) -> ``OUT/{stem}_avg.npy``
    (``aggregator=mean``) or ``OUT/{stem}_agg.npy`` (a saved module), float32 ``[C, D]``."""
    path = require_file(Path(input_path), "exemplar features")
    try:
        features = np.load(path, allow_pickle=False)
    except (ValueError, EOFError) as e:
        raise ValueError(f"{path} is not a NumPy array file ({str(e).splitlines()[0]})") from None
    fn = "mean" if aggregator == "mean" else load_aggregator(Path(aggregator))
    classifiers = aggregate_exemplars(features, fn, batch_size)
    out = save_npy(Path(output_dir) / f"{path.stem}_{'avg' if aggregator == 'mean' else 'agg'}.npy", classifiers)
    empty = np.flatnonzero(~(np.abs(features).sum(axis=(1, 2)) > 0)).tolist()
    return {"output": str(out), "shape": list(classifiers.shape), "aggregator": str(aggregator),
            "categories_without_exemplars": empty}
