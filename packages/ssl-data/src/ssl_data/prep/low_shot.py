"""Low-shot training subsets: VOC07 (per-class positives/negatives) and Places205 (k per class)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ssl_data.prep.outputs import require_file, save_npy

__all__ = ["places_low_shot", "sample_voc_low_shot", "voc_low_shot"]

DEFAULT_K = (1, 2, 4, 8, 16, 32, 64, 96)


def sample_voc_low_shot(targets: np.ndarray, k: int, rng: np.random.Generator, negatives_per_positive: int | None = None) -> np.ndarray:
    """One low-shot sample of a VOC target matrix (VISSL's ``create_voc_low_shot_samples.py``).

    ``targets`` int [N, C] in VISSL's convention, as the ``voc07`` preparer writes it: 1 positive,
    0 negative, -1 difficult (never drawn). For every class, ``k`` positives and ``(C - 1) * k``
    negatives (``negatives_per_positive * k`` when given) are drawn without replacement (all of
    them when fewer exist). Returns int8 [N, C] in the same convention: 1 chosen positive,
    0 chosen negative, -1 not in this sample (ignored by the SVM of that class).
    """
    t = np.asarray(targets)
    if t.ndim != 2 or not np.isin(t, (-1, 0, 1)).all():
        raise ValueError(f"targets must be an [N, C] array of 1/0/-1, got shape {t.shape}")
    n_neg = (t.shape[1] - 1) * k if negatives_per_positive is None else negatives_per_positive * k
    out = np.full(t.shape, -1, dtype=np.int8)
    for c in range(t.shape[1]):
        pos, neg = np.flatnonzero(t[:, c] == 1), np.flatnonzero(t[:, c] == 0)
        out[rng.choice(pos, min(k, len(pos)), replace=False), c] = 1
        out[rng.choice(neg, min(n_neg, len(neg)), replace=False), c] = 0
    return out


def _k_list(k_values: Sequence[int] | str) -> list[int]:
    ks = [int(k) for k in k_values.split(",")] if isinstance(k_values, str) else [int(k) for k in k_values]
    if not ks or min(ks) < 1:
        raise ValueError(f"k_values must be positive integers, got {k_values!r}")
    return ks


def voc_low_shot(
    input_path: Path, output_dir: Path, k_values: Sequence[int] | str = DEFAULT_K, num_samples: int = 5, seed: int = 0
) -> dict[str, Any]:
    """Preparer ``voc07_low_shot``: ``-i`` the VOC07 trainval targets .npy ([5011, 20] of 1/0/-1,
    e.g. ``trainval_labels.npy`` from the ``voc07`` preparer) -> ``OUT/train_targets_sample{s}_k{k}.npy``
    for s in 1..num_samples (see :func:`sample_voc_low_shot`). FAIR benchmark's
    ``create_voc_low_shot_samples.py``."""
    targets = np.load(require_file(Path(input_path), "VOC targets file"), allow_pickle=False)
    rng = np.random.default_rng(seed)
    written = []
    for k in _k_list(k_values):
        for s in range(1, num_samples + 1):
            sample = sample_voc_low_shot(targets, k, rng)
            written.append(str(save_npy(Path(output_dir) / f"train_targets_sample{s}_k{k}.npy", sample)))
    return {"files": written}


def places_low_shot(
    input_path: Path,
    output_dir: Path,
    labels_file: Path | None = None,
    k_values: Sequence[int] | str = DEFAULT_K,
    num_samples: int = 5,
    seed: int = 0,
) -> dict[str, Any]:
    """Preparer ``places205_low_shot``: ``-i`` the train images .npy (labels from ``labels_file``,
    default the sibling ``*_labels.npy``) -> ``OUT/train_images_sample{s}_k{k}.npy`` and
    ``..._labels...`` with ``k`` images per class (so each class has k positives and
    (classes - 1) * k negatives). FAIR benchmark's ``create_places_low_shot_samples.py``."""
    images_path = require_file(Path(input_path), "images filelist")
    labels_path = Path(labels_file) if labels_file else images_path.with_name(images_path.name.replace("_images", "_labels"))
    images = np.load(images_path, allow_pickle=False)
    labels = np.load(require_file(labels_path, "labels filelist"), allow_pickle=False)
    if len(images) != len(labels):
        raise ValueError(f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels")
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    written = []
    for k in _k_list(k_values):
        for s in range(1, num_samples + 1):
            keep = np.sort(np.concatenate([
                rng.choice(np.flatnonzero(labels == c), min(k, int((labels == c).sum())), replace=False) for c in classes
            ]))  # fmt: skip
            out = Path(output_dir)
            written.append(str(save_npy(out / f"train_images_sample{s}_k{k}.npy", images[keep])))
            written.append(str(save_npy(out / f"train_labels_sample{s}_k{k}.npy", labels[keep])))
    return {"files": written}
