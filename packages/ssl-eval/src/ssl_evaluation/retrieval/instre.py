"""INSTRE: mAP over all queries and over a seeded 10% "val" subset (VISSL's protocol)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
from typing_extensions import Unpack

from ssl_evaluation.retrieval.revisited_map import retrieval_mean_average_precision
from ssl_evaluation.retrieval.search import SearchOptions, describe_and_rank, search_protocol

__all__ = ["InstreDataset", "load_instre", "instre_val_subset", "evaluate_instre"]


@dataclass(frozen=True)
class InstreDataset:
    """INSTRE images and, per query, its relevant database indices (0-based)."""

    database_paths: list[Path]
    query_paths: list[Path]
    relevant: list[np.ndarray]


def _strings(cell: np.ndarray) -> list[str]:
    return [str(np.asarray(c).reshape(-1)[0]) for c in np.asarray(cell, dtype=object).reshape(-1)]


def load_instre(data_dir: str | PathLike[str]) -> InstreDataset:
    """Read ``data_dir/gnd_instre.mat`` (MATLAB: cell arrays ``qimlist``, ``imlist``; struct
    array ``gnd`` whose ``ok`` field holds 1-based database indices); image paths are
    relative to ``data_dir``."""
    try:
        from scipy.io import loadmat
    except ImportError:
        raise ImportError("INSTRE's .mat ground truth needs SciPy: pip install 'ssl-evaluation[retrieval]'") from None

    root = Path(data_dir)
    mat_file = root / "gnd_instre.mat"
    if not mat_file.is_file():
        raise FileNotFoundError(f"INSTRE ground-truth file not found: {mat_file}")
    mat = loadmat(str(mat_file))
    for key in ("gnd", "qimlist", "imlist"):
        if key not in mat:
            raise ValueError(f"{mat_file} lacks the variable {key!r}")
    qimlist, imlist = _strings(mat["qimlist"]), _strings(mat["imlist"])
    gnd = np.asarray(mat["gnd"]).reshape(-1)
    if len(gnd) != len(qimlist):
        raise ValueError(f"{mat_file}: {len(qimlist)} queries but {len(gnd)} ground-truth entries")
    relevant = []
    for q, g in enumerate(gnd):
        ok = np.asarray(g["ok"]).astype(np.int64).reshape(-1) - 1
        if ok.size and (ok.min() < 0 or ok.max() >= len(imlist)):
            raise ValueError(f"{mat_file}: gnd[{q}].ok indexes outside 1..{len(imlist)}")
        relevant.append(ok)
    return InstreDataset([root / n for n in imlist], [root / n for n in qimlist], relevant)


def instre_val_subset(num_queries: int, seed: int = 123) -> list[int]:
    """Sorted distinct query indices of ``RandomState(seed).choice(num_queries, num_queries // 10)``
    (drawn with replacement, as VISSL does)."""
    rs = np.random.RandomState(seed)
    return sorted({int(i) for i in rs.choice(num_queries, num_queries // 10)}) if num_queries >= 10 else []


def evaluate_instre(
    feature_fn: Callable[[torch.Tensor], torch.Tensor],
    data_dir: str | PathLike[str],
    **options: Unpack[SearchOptions],
) -> dict[str, Any]:
    """``{"mAP": percent, "mAP_val": percent or None (fewer than 10 queries), "protocol": {...}}``.

    AP is the same trapezoidal AP as the revisited protocol, with no junk images."""
    ds = load_instre(data_dir)
    ranks = describe_and_rank(feature_fn, ds.query_paths, ds.database_paths, **options)
    scores = retrieval_mean_average_precision(ranks, ds.relevant, None, (1,))
    val = instre_val_subset(len(ds.query_paths))
    val_aps = scores.aps[val] if val else np.array([])
    val_aps = val_aps[~np.isnan(val_aps)]
    return {
        "mAP": 100.0 * scores.mean_ap,
        "mAP_val": 100.0 * float(val_aps.mean()) if val_aps.size else None,
        "protocol": {"dataset": "instre", "val_seed": 123, **search_protocol(options)},
    }
