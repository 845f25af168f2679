"""Revisited Oxford 5k / Paris 6k: read ``gnd_<name>.pkl`` and score a trunk (mAP E/M/H, mP@1,5,10)."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
from typing_extensions import Unpack

from ssl_evaluation.retrieval.revisited_map import REVISITED_KS, revisited_metrics
from ssl_evaluation.retrieval.search import SearchOptions, describe_and_rank, search_protocol

__all__ = ["REVISITED_DATASETS", "RevisitedDataset", "load_revisited", "evaluate_revisited"]

REVISITED_DATASETS: tuple[str, ...] = ("roxford5k", "rparis6k")


@dataclass(frozen=True)
class RevisitedDataset:
    """One revisited benchmark: image paths, query boxes and per-query ground truth.

    ``gnd[q]`` has int arrays ``easy``, ``hard``, ``junk`` (database indices) and ``bbx``
    ``(xmin, ymin, xmax, ymax)`` of the query's region in its own image.
    """

    name: str
    database_paths: list[Path]
    query_paths: list[Path]
    gnd: list[dict[str, np.ndarray]]


def load_revisited(data_dir: str | PathLike[str], name: str = "roxford5k") -> RevisitedDataset:
    """Read ``data_dir/gnd_<name>.pkl`` (keys ``imlist``, ``qimlist``, ``gnd``) and the images
    ``data_dir/jpg/<image>.jpg`` (the layout of the revisitop download).

    The pickle is read through ssl-models' allow-list unpickler: a file that names anything but
    plain containers and NumPy arrays is refused (``ValueError``, one line) before any of it runs.
    """
    if name not in REVISITED_DATASETS:
        raise ValueError(f"name must be one of {REVISITED_DATASETS}, got {name!r}")
    root = Path(data_dir)
    gnd_file = root / f"gnd_{name}.pkl"
    if not gnd_file.is_file():
        raise FileNotFoundError(f"ground-truth file not found: {gnd_file}")
    from ssl_models.restricted_pickle import restricted_load  # lazy: ssl_models imports timm

    with gnd_file.open("rb") as f:
        try:
            cfg = restricted_load(f, gnd_file)  # plain data and NumPy only: the file runs no code
        except pickle.UnpicklingError as exc:
            raise ValueError(f"not a revisited ground-truth file: {exc}") from None
    if not isinstance(cfg, dict) or not {"imlist", "qimlist", "gnd"} <= set(cfg):
        raise ValueError(f"{gnd_file} must hold a dict with keys imlist, qimlist, gnd")
    imlist, qimlist, gnd = list(cfg["imlist"]), list(cfg["qimlist"]), list(cfg["gnd"])
    if len(gnd) != len(qimlist):
        raise ValueError(f"{gnd_file}: {len(qimlist)} queries but {len(gnd)} ground-truth entries")
    if not imlist or not qimlist:
        raise ValueError(f"{gnd_file}: empty database or query list")
    entries = []
    for q, g in enumerate(gnd):
        missing = {"easy", "hard", "junk"} - set(g)
        if missing:
            raise ValueError(f"{gnd_file}: gnd[{q}] lacks {sorted(missing)}")
        entry = {k: np.asarray(g[k], dtype=np.int64).reshape(-1) for k in ("easy", "hard", "junk")}
        for k, v in entry.items():
            if v.size and (v.min() < 0 or v.max() >= len(imlist)):
                raise ValueError(f"{gnd_file}: gnd[{q}][{k!r}] indexes outside the {len(imlist)} database images")
        entry["bbx"] = np.asarray(g.get("bbx", []), dtype=np.float64).reshape(-1)
        entries.append(entry)
    images = root / "jpg"
    return RevisitedDataset(
        name=name,
        database_paths=[images / f"{n}.jpg" for n in imlist],
        query_paths=[images / f"{n}.jpg" for n in qimlist],
        gnd=entries,
    )


def evaluate_revisited(
    feature_fn: Callable[[torch.Tensor], torch.Tensor],
    data_dir: str | PathLike[str],
    name: str = "roxford5k",
    *,
    crop_query_roi: bool = False,
    ks: Sequence[int] = REVISITED_KS,
    **options: Unpack[SearchOptions],
) -> dict[str, Any]:
    """Revisited protocol for a trunk (``options``: see :class:`SearchOptions` /
    :func:`describe_and_rank`: pooling, gem_p, rmac_levels, scales, resize_max, whitening_paths,
    num_pca, similarity, device); returns percent scores
    ``{"mAP": {"e","m","h"}, "mp@k": {"k", "e", "m", "h"}, "protocol": {...}}``."""
    ds = load_revisited(data_dir, name)
    rois = [g["bbx"].tolist() for g in ds.gnd] if crop_query_roi else None
    if rois is not None and any(len(r) != 4 for r in rois):
        raise ValueError("crop_query_roi=True but some queries have no 4-value bbx")
    ranks = describe_and_rank(feature_fn, ds.query_paths, ds.database_paths, query_rois=rois, **options)
    out: dict[str, Any] = revisited_metrics(ranks, ds.gnd, ks)
    out["protocol"] = {"dataset": name, "crop_query_roi": crop_query_roi, **search_protocol(options)}
    return out
