"""Junk-aware mean average precision and mP@k of the revisited Oxford/Paris protocol.

Definitions follow Radenović et al., "Revisiting Oxford and Paris" (CVPR 2018):

* junk images are removed from a query's ranked list before anything is counted;
* AP is the trapezoidal area under the precision/recall curve: each relevant image found at
  0-based position ``r`` (after junk removal), being the ``j``-th relevant one found (0-based),
  adds ``(p0 + p1) / 2 / n_relevant`` with ``p0 = j / r`` (``1`` when ``r == 0``) and
  ``p1 = (j + 1) / (r + 1)``; relevant images missing from the ranking add nothing;
* mP@k is the protocol's precision at ``k``: with 1-based positions of the relevant images,
  ``kq = min(k, last relevant position)`` and ``P = #(positions <= kq) / kq`` (the cut-off is
  capped at the last relevant image, as in the reference evaluation code);
* queries without any relevant image are left out of both means.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "RetrievalScores",
    "average_precision",
    "retrieval_mean_average_precision",
    "revisited_metrics",
    "REVISITED_KS",
]

REVISITED_KS: tuple[int, ...] = (1, 5, 10)


@dataclass(frozen=True)
class RetrievalScores:
    """Result of :func:`retrieval_mean_average_precision` (fractions in [0, 1], not percent).

    ``aps`` holds one AP per query (NaN for a query without relevant images) and
    ``precisions`` one row of P@k per query (NaN rows likewise)."""

    mean_ap: float
    mean_precision_at_k: dict[int, float]
    aps: np.ndarray
    precisions: np.ndarray


def average_precision(positions: np.ndarray, num_relevant: int) -> float:
    """Trapezoidal AP from the sorted 0-based positions (junk already removed) of the
    relevant images found in a ranking; ``num_relevant`` counts all relevant images."""
    if num_relevant <= 0:
        raise ValueError(f"num_relevant must be positive, got {num_relevant}")
    pos = np.asarray(positions, dtype=np.float64)
    found = np.arange(len(pos), dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p0 = np.where(pos == 0, 1.0, found / np.where(pos == 0, 1.0, pos))
    p1 = (found + 1.0) / (pos + 1.0)
    return float(((p0 + p1) / 2.0).sum() / num_relevant)


def _as_index_array(values: object, name: str) -> np.ndarray:
    arr = np.asarray(values if values is not None else [], dtype=np.int64).reshape(-1)
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} holds negative database indices")
    return arr


def retrieval_mean_average_precision(
    ranks: torch.Tensor | np.ndarray,
    relevant: Sequence[Sequence[int] | np.ndarray],
    junk: Sequence[Sequence[int] | np.ndarray] | None = None,
    ks: Sequence[int] = REVISITED_KS,
) -> RetrievalScores:
    """Retrieval mAP and mP@k over queries' rankings (revisitop's ``compute_map``; not the
    classification mAP over classes, ``ssl_evaluation.voc_mean_average_precision``).

    Args:
        ranks: int ``[num_queries, L]``: row ``q`` lists database indices best first
            (``L`` may be shorter than the database: missing relevant images count as not found).
        relevant: per query, the database indices that count as correct.
        junk: per query, database indices to drop from the ranking before scoring (or None).
        ks: cut-offs for mP@k.
    """
    r = ranks.cpu().numpy() if isinstance(ranks, torch.Tensor) else np.asarray(ranks)
    if r.ndim != 2:
        raise ValueError(f"ranks must be 2-D [num_queries, L], got shape {tuple(r.shape)}")
    nq = r.shape[0]
    if len(relevant) != nq:
        raise ValueError(f"ranks has {nq} query rows but relevant has {len(relevant)} entries")
    if junk is not None and len(junk) != nq:
        raise ValueError(f"ranks has {nq} query rows but junk has {len(junk)} entries")
    if any(int(k) <= 0 for k in ks):
        raise ValueError(f"ks must be positive, got {list(ks)}")
    aps = np.full(nq, np.nan)
    precisions = np.full((nq, len(ks)), np.nan)
    for q in range(nq):
        ok = _as_index_array(relevant[q], f"relevant[{q}]")
        if ok.size == 0:
            continue
        bad = _as_index_array(junk[q] if junk is not None else None, f"junk[{q}]")
        row = r[q]
        row = row[~np.isin(row, bad)]
        pos = np.flatnonzero(np.isin(row, ok))
        aps[q] = average_precision(pos, len(np.unique(ok)))
        one_based = pos + 1
        for j, k in enumerate(ks):
            if one_based.size == 0:
                precisions[q, j] = 0.0
                continue
            kq = min(int(one_based.max()), int(k))
            precisions[q, j] = float((one_based <= kq).sum()) / kq
    valid = ~np.isnan(aps)
    if not valid.any():
        raise ValueError("no query has a relevant database image: mAP is undefined")
    return RetrievalScores(
        mean_ap=float(aps[valid].mean()),
        mean_precision_at_k={int(k): float(precisions[valid, j].mean()) for j, k in enumerate(ks)},
        aps=aps,
        precisions=precisions,
    )


def revisited_metrics(
    ranks: torch.Tensor | np.ndarray,
    gnd: Sequence[Mapping[str, object]],
    ks: Sequence[int] = REVISITED_KS,
) -> dict[str, dict]:
    """ROxford/RParis Easy, Medium and Hard scores in percent.

    ``gnd[q]`` holds the database indices ``"easy"``, ``"hard"`` and ``"junk"`` of query ``q``
    (the layout of ``gnd_roxford5k.pkl``). Easy: ok = easy, junk = junk + hard. Medium:
    ok = easy + hard, junk = junk. Hard: ok = hard, junk = junk + easy.

    Returns ``{"mAP": {"e", "m", "h"}, "mp@k": {"k": [...], "e": [...], "m": [...], "h": [...]}}``.
    """

    def field(g: Mapping[str, object], key: str) -> np.ndarray:
        if key not in g:
            raise KeyError(f"ground-truth entry lacks the key {key!r} (needs easy, hard, junk)")
        return np.asarray(g[key], dtype=np.int64).reshape(-1)

    protocols = {
        "e": (("easy",), ("junk", "hard")),
        "m": (("easy", "hard"), ("junk",)),
        "h": (("hard",), ("junk", "easy")),
    }
    out: dict[str, dict] = {"mAP": {}, "mp@k": {"k": [int(k) for k in ks]}}
    for tag, (ok_keys, junk_keys) in protocols.items():
        ok = [np.concatenate([field(g, k) for k in ok_keys]) for g in gnd]
        jk = [np.concatenate([field(g, k) for k in junk_keys]) for g in gnd]
        scores = retrieval_mean_average_precision(ranks, ok, jk, ks)
        out["mAP"][tag] = 100.0 * scores.mean_ap
        out["mp@k"][tag] = [100.0 * scores.mean_precision_at_k[int(k)] for k in ks]
    return out
