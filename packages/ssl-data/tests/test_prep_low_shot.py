"""Low-shot sampling (VOC07 per-class positives/negatives, Places k per class)."""

from __future__ import annotations

import numpy as np
import pytest

from ssl_data.prep import prepare, sample_voc_low_shot


def _voc_targets(n: int = 400, c: int = 5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.choice([1, -1, -1, -1, 0], size=(n, c))


def test_voc_sample_counts_and_subsets() -> None:
    t = _voc_targets()
    s = sample_voc_low_shot(t, k=4, rng=np.random.default_rng(0))
    for c in range(t.shape[1]):
        assert (s[:, c] == 1).sum() == 4 and (s[:, c] == -1).sum() == 4 * 4  # (C - 1) * k negatives
        assert (t[s[:, c] == 1, c] == 1).all() and (t[s[:, c] == -1, c] == -1).all()
    few = sample_voc_low_shot(np.array([[1, -1], [-1, 1], [-1, -1]]), k=8, rng=np.random.default_rng(0))
    assert (few[:, 0] == 1).sum() == 1 and (few[:, 0] == -1).sum() == 2


def test_voc_preparer_files_seeded(tmp_path) -> None:
    np.save(tmp_path / "trainval_labels.npy", _voc_targets())
    a = prepare("voc07_low_shot", tmp_path / "trainval_labels.npy", tmp_path / "a", k_values="1,2", num_samples=3)
    b = prepare("voc07_low_shot", tmp_path / "trainval_labels.npy", tmp_path / "b", k_values=[1, 2], num_samples=3)
    assert len(a["files"]) == 6 and (tmp_path / "a" / "train_targets_sample3_k2.npy").is_file()
    assert all(np.array_equal(np.load(x), np.load(y)) for x, y in zip(a["files"], b["files"]))
    s1, s2 = np.load(tmp_path / "a" / "train_targets_sample1_k2.npy"), np.load(tmp_path / "a" / "train_targets_sample2_k2.npy")
    assert not np.array_equal(s1, s2)
    np.save(tmp_path / "bad.npy", np.full((3, 2), 5))
    with pytest.raises(ValueError, match="-1/0/1"):
        prepare("voc07_low_shot", tmp_path / "bad.npy", tmp_path / "c")
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        prepare("voc07_low_shot", tmp_path / "missing.npy", tmp_path / "c")


def test_places_low_shot(tmp_path) -> None:
    labels = np.repeat(np.arange(6), 10)
    np.save(tmp_path / "train_images.npy", np.array([f"/img/{i}.jpg" for i in range(60)]))
    np.save(tmp_path / "train_labels.npy", labels)
    out = prepare("places205_low_shot", tmp_path / "train_images.npy", tmp_path / "o", k_values="3", num_samples=2)
    imgs = np.load(tmp_path / "o" / "train_images_sample1_k3.npy")
    labs = np.load(tmp_path / "o" / "train_labels_sample1_k3.npy")
    assert len(out["files"]) == 4 and np.bincount(labs).tolist() == [3] * 6
    assert all(labels[int(p.split("/")[-1][:-4])] == lab for p, lab in zip(imgs, labs))
