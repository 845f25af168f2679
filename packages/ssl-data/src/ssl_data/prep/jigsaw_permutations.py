"""Jigsaw permutation sets with maximal Hamming distance (Noroozi & Favaro; Goyal et al. 2019)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np

from ssl_data.prep.outputs import save_npy

__all__ = ["generate_jigsaw_permutations", "jigsaw_permutations"]


def generate_jigsaw_permutations(num_permutations: int, num_patches: int = 9, seed: int = 0) -> np.ndarray:
    """``num_permutations`` permutations of ``range(num_patches)`` chosen greedily to be far apart.

    Farthest-point selection over all ``num_patches!`` permutations: start from a random one, then
    repeatedly add the permutation whose minimum Hamming distance to those already chosen is
    largest (ties broken at random). Returns int64 [num_permutations, num_patches], 0-based.
    """
    if not 2 <= num_patches <= 10:
        raise ValueError(f"num_patches must be in 2..10 (all permutations are enumerated), got {num_patches}")
    total = math.factorial(num_patches)
    if not 1 <= num_permutations <= total:
        raise ValueError(f"num_permutations must be in 1..{total} for {num_patches} patches, got {num_permutations}")
    rng = np.random.default_rng(seed)
    candidates = np.array(list(itertools.permutations(range(num_patches))), dtype=np.int8)
    tie_break = rng.random(total)  # fixed random order among equally distant candidates
    chosen = [int(rng.integers(total))]
    min_dist = (candidates != candidates[chosen[0]]).sum(1).astype(np.int16)
    for _ in range(num_permutations - 1):
        best = int(np.argmax(min_dist + tie_break))  # distances are integers, tie_break < 1
        chosen.append(best)
        np.minimum(min_dist, (candidates != candidates[best]).sum(1), out=min_dist)
    return candidates[chosen].astype(np.int64)


def jigsaw_permutations(
    input_path: Path | None, output_dir: Path, num_permutations: int = 2000, num_patches: int = 9, seed: int = 0
) -> dict[str, Any]:
    """Preparer ``jigsaw_permutations``: writes ``OUT/permutations_{N}.npy`` (int64 [N, patches],
    0-based; the file ``ShuffleImgPatches(perm_file=...)`` reads). ``input_path`` is unused.
    VISSL ``generate_jigsaw_permutations.py --N`` (100, 701, 2000, 5000, 10000 in the papers)."""
    perms = generate_jigsaw_permutations(num_permutations, num_patches, seed)
    path = save_npy(Path(output_dir) / f"permutations_{num_permutations}.npy", perms)
    dists = (perms[:, None, :] != perms[None, :, :]).sum(-1) if len(perms) <= 2000 else None
    summary: dict[str, Any] = {"permutations": str(path), "num_permutations": int(len(perms))}
    if dists is not None and len(perms) > 1:
        summary["min_hamming_distance"] = int(dists[~np.eye(len(perms), dtype=bool)].min())
    return summary
