"""Revisited mAP / mP@k against hand-worked values and an independent implementation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssl_evaluation.retrieval import retrieval_mean_average_precision, rank_database, revisited_metrics


def reference_ap_and_pk(ranking, ok, junk, ks):
    """Second implementation: build the whole precision/recall curve (junk dropped), start it
    at (recall 0, precision 1) and integrate with the trapezoidal rule; P@k by a plain loop with
    the protocol's cut-off min(k, position of the last relevant image)."""
    ok, junk = set(int(i) for i in ok), set(int(i) for i in junk)
    kept = [i for i in ranking if i not in junk]
    hits = np.array([1.0 if i in ok else 0.0 for i in kept])
    cum = np.cumsum(hits)
    ranks = np.arange(1, len(kept) + 1)
    recall = np.concatenate([[0.0], cum / len(ok)])
    precision = np.concatenate([[1.0], cum / ranks])
    ap = float(np.sum((recall[1:] - recall[:-1]) * (precision[1:] + precision[:-1]) / 2))
    last = max((n + 1 for n, i in enumerate(kept) if i in ok), default=0)
    pks = []
    for k in ks:
        if last == 0:
            pks.append(0.0)
            continue
        cut = min(k, last)
        count = 0
        for n in range(cut):
            if kept[n] in ok:
                count += 1
        pks.append(count / cut)
    return ap, pks


def test_hand_worked_single_query_with_junk():
    # ranking: ok, junk, bad, ok, bad -> after junk removal ok at positions 0 and 2
    ranks = np.array([[0, 1, 2, 3, 4]])
    s = retrieval_mean_average_precision(ranks, [[0, 3]], [[1]], ks=(1, 5, 10))
    # AP = (1 + 1)/2 * 1/2 + (1/2 + 2/3)/2 * 1/2 = 19/24
    assert s.mean_ap == pytest.approx(19 / 24)
    assert s.mean_precision_at_k == pytest.approx({1: 1.0, 5: 2 / 3, 10: 2 / 3})


def test_hand_worked_easy_medium_hard():
    gnd = [
        {"easy": [0], "hard": [2], "junk": [4]},
        {"easy": [3], "hard": [], "junk": []},  # no hard image: left out of the Hard mean
    ]
    ranks = np.array([[1, 2, 4, 0, 3, 5], [3, 0, 1, 2, 4, 5]])
    out = revisited_metrics(ranks, gnd)
    # query 0: E [1,0,3,5] -> AP 1/4; M [1,2,0,3,5] -> AP 5/12; H [1,2,3,5] -> AP 1/4
    assert out["mAP"]["e"] == pytest.approx(100 * (0.25 + 1) / 2)
    assert out["mAP"]["m"] == pytest.approx(100 * (5 / 12 + 1) / 2)
    assert out["mAP"]["h"] == pytest.approx(100 * 0.25)
    assert out["mp@k"]["k"] == [1, 5, 10]
    assert out["mp@k"]["e"] == pytest.approx([50.0, 75.0, 75.0])
    assert out["mp@k"]["m"] == pytest.approx([50.0, 100 * (2 / 3 + 1) / 2, 100 * (2 / 3 + 1) / 2])
    assert out["mp@k"]["h"] == pytest.approx([0.0, 50.0, 50.0])


def test_missing_relevant_images_count_as_not_found():
    # 3 relevant images, only the first ranked (ranking truncated to 3 of 6)
    s = retrieval_mean_average_precision(np.array([[5, 1, 2]]), [[5, 0, 4]], None, ks=(1,))
    assert s.mean_ap == pytest.approx(1 / 3)


@pytest.mark.parametrize("seed", range(6))
def test_random_rankings_match_independent_reference(seed):
    rng = np.random.default_rng(seed)
    nq, ndb, ks = 7, 40, (1, 5, 10)
    ranks = np.stack([rng.permutation(ndb) for _ in range(nq)])
    gnd = []
    for _ in range(nq):
        perm = rng.permutation(ndb)
        ne, nh, nj = rng.integers(0, 5), rng.integers(0, 5), rng.integers(0, 6)
        gnd.append({"easy": perm[:ne], "hard": perm[ne : ne + nh], "junk": perm[ne + nh : ne + nh + nj]})
    gnd[0]["easy"], gnd[0]["hard"] = np.array([3]), np.array([4])  # at least one non-empty query
    out = revisited_metrics(ranks, gnd, ks)
    for tag, ok_keys, junk_keys in (
        ("e", ("easy",), ("junk", "hard")),
        ("m", ("easy", "hard"), ("junk",)),
        ("h", ("hard",), ("junk", "easy")),
    ):
        aps, pks = [], []
        for q in range(nq):
            ok = np.concatenate([gnd[q][k] for k in ok_keys])
            if len(ok) == 0:
                continue
            junk = np.concatenate([gnd[q][k] for k in junk_keys])
            ap, pk = reference_ap_and_pk(ranks[q].tolist(), ok, junk, ks)
            aps.append(ap)
            pks.append(pk)
        assert out["mAP"][tag] == pytest.approx(100 * np.mean(aps))
        assert out["mp@k"][tag] == pytest.approx((100 * np.mean(pks, axis=0)).tolist())


def test_ties_resolve_to_lower_database_index_and_score_accordingly():
    q = torch.tensor([[1.0, 0.0]])
    db = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.0, 2.0], [3.0, 0.0], [1.0, 1.0]])
    scores = (q @ torch.nn.functional.normalize(db, dim=1).T)[0].tolist()
    expected = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    ranks = rank_database(q, db, "cosine")
    assert ranks[0].tolist() == expected == [1, 3, 4, 0, 2]
    # relevant {3}: it ties at the top with 1 but loses the tie -> AP (0 + 1/2)/2 = 1/4
    assert retrieval_mean_average_precision(ranks, [[3]]).mean_ap == pytest.approx(0.25)
    # L2 ranking of the raw rows: distances 2, 0, 5, 4, 1 -> [1, 4, 0, 3, 2]
    assert rank_database(q, db, "l2")[0].tolist() == [1, 4, 0, 3, 2]


def test_bad_inputs():
    with pytest.raises(ValueError, match="query rows"):
        retrieval_mean_average_precision(np.zeros((2, 3), dtype=int), [[0]])
    with pytest.raises(ValueError, match="undefined"):
        retrieval_mean_average_precision(np.zeros((1, 3), dtype=int), [[]])
    with pytest.raises(ValueError, match="dimension"):
        rank_database(torch.zeros(2, 3), torch.zeros(4, 5))
    with pytest.raises(ValueError, match="empty"):
        rank_database(torch.zeros(0, 3), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="similarity"):
        rank_database(torch.zeros(1, 3), torch.zeros(4, 3), "dot")  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="hard"):
        revisited_metrics(np.zeros((1, 3), dtype=int), [{"easy": [0], "junk": []}])
