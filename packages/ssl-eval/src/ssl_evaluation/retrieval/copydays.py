"""CopyDays copy detection: mAP and mP@1,5,10 per query split (original, strong, jpegqual_*, crops_*)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import torch
from typing_extensions import Unpack

from ssl_evaluation.retrieval.revisited_map import REVISITED_KS, retrieval_mean_average_precision
from ssl_evaluation.retrieval.search import SearchOptions, describe_and_rank, search_protocol

__all__ = ["COPYDAYS_QUERY_SPLITS", "copydays_ground_truth", "evaluate_copydays"]

COPYDAYS_QUERY_SPLITS: tuple[str, ...] = (
    ("original", "strong")
    + tuple(f"jpegqual_{q}" for q in (3, 5, 8, 10, 15, 20, 30, 50, 75))
    + tuple(f"crops_{c}" for c in (10, 15, 20, 30, 40, 50, 60, 70, 80))
)

_NAME = re.compile(r"^(?:(?P<split>.+)_)?(?P<number>\d+)$")


def _parse(path: Path) -> tuple[str, int]:
    m = _NAME.match(path.stem)
    if m is None:
        raise ValueError(f"CopyDays file name must end in _<image number>.jpg: {path.name}")
    return m.group("split") or "", int(m.group("number"))


def _jpgs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"CopyDays folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".jpg")
    if not files:
        raise ValueError(f"CopyDays folder has no .jpg images: {folder}")
    return files


def copydays_ground_truth(
    query_paths: Sequence[Path], database_paths: Sequence[Path]
) -> tuple[dict[str, list[int]], list[list[int]]]:
    """Query indices per split and, per query, the matching database indices.

    A database image matches a query when both image numbers share ``number // 100`` (the
    CopyDays block of one original photo); database files with ``distractor`` in the name
    never match. The split is the file-name stem before the final ``_<number>``
    (``jpegqual_3_200000.jpg`` is split ``jpegqual_3``; exact, so ``jpegqual_3`` and
    ``jpegqual_30`` stay apart).
    """
    splits: dict[str, list[int]] = {}
    blocks = []
    for i, p in enumerate(query_paths):
        split, number = _parse(Path(p))
        splits.setdefault(split, []).append(i)
        blocks.append(number // 100)
    db_blocks = [
        None if "distractor" in Path(p).name else _parse(Path(p))[1] // 100 for p in database_paths
    ]
    relevant = [[j for j, b in enumerate(db_blocks) if b == qb] for qb in blocks]
    return splits, relevant


def evaluate_copydays(
    feature_fn: Callable[[torch.Tensor], torch.Tensor],
    data_dir: str | PathLike[str],
    *,
    use_distractors: bool = False,
    ks: Sequence[int] = REVISITED_KS,
    **options: Unpack[SearchOptions],
) -> dict[str, Any]:
    """CopyDays from ``data_dir/queries/*.jpg`` and ``data_dir/database/*.jpg``
    (``database_and_distractors/`` when ``use_distractors``), VISSL's layout.

    Returns percent scores ``{split: {"mAP": float, "mp@k": {"k": [...], "mAP": [...]}}}``
    for each split that has queries with a match, plus ``"protocol"``. ``options`` as for
    :func:`ssl_evaluation.retrieval.evaluate_revisited`.
    """
    root = Path(data_dir)
    queries = _jpgs(root / "queries")
    database = _jpgs(root / ("database_and_distractors" if use_distractors else "database"))
    splits, relevant = copydays_ground_truth(queries, database)
    ranks = describe_and_rank(feature_fn, queries, database, **options)
    out: dict[str, Any] = {}
    order = [s for s in COPYDAYS_QUERY_SPLITS if s in splits] + sorted(set(splits) - set(COPYDAYS_QUERY_SPLITS))
    for split in order:
        idx = splits[split]
        rel = [relevant[i] for i in idx]
        if not any(rel):
            continue
        scores = retrieval_mean_average_precision(ranks[idx], rel, None, ks)
        out[split] = {
            "mAP": 100.0 * scores.mean_ap,
            "mp@k": {"k": [int(k) for k in ks], "mAP": [100.0 * scores.mean_precision_at_k[int(k)] for k in ks]},
        }
    if not out:
        raise ValueError(f"no CopyDays query in {root / 'queries'} has a matching database image")
    out["protocol"] = {"dataset": "copydays", "use_distractors": use_distractors, **search_protocol(options)}
    return out
