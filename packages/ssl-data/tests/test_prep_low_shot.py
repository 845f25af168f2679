"""Low-shot sampling (VOC07 per-class positives/negatives, Places k per class)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ssl_data.prep import VOC_CLASSES, prepare, sample_voc_low_shot


def _voc_targets(n: int = 400, c: int = 5, seed: int = 0) -> np.ndarray:
    """VISSL-convention VOC targets: 1 positive, 0 negative, -1 difficult (ignored)."""
    rng = np.random.default_rng(seed)
    return rng.choice([1, 0, 0, 0, -1], size=(n, c))


def test_voc_sample_counts_and_subsets() -> None:
    t = _voc_targets()
    s = sample_voc_low_shot(t, k=4, rng=np.random.default_rng(0))
    assert set(np.unique(s).tolist()) == {-1, 0, 1}
    for c in range(t.shape[1]):
        assert (s[:, c] == 1).sum() == 4 and (s[:, c] == 0).sum() == 4 * 4  # (C - 1) * k negatives
        assert (t[s[:, c] == 1, c] == 1).all() and (t[s[:, c] == 0, c] == 0).all()
        assert (s[t[:, c] == -1, c] == -1).all()  # difficult rows are never drawn
        assert (s[:, c] == -1).sum() == len(t) - 4 - 16  # everything else is left out (ignored)
    # class 0: one positive, two negatives, one difficult; class 1: one positive, one negative
    few = sample_voc_low_shot(np.array([[1, 0], [0, 1], [0, -1], [-1, -1]]), k=8, rng=np.random.default_rng(0))
    assert few.tolist() == [[1, 0], [0, 1], [0, -1], [-1, -1]]  # fewer than asked: all of them


def test_voc_preparer_files_seeded(tmp_path) -> None:
    np.save(tmp_path / "trainval_labels.npy", _voc_targets())
    a = prepare("voc07_low_shot", tmp_path / "trainval_labels.npy", tmp_path / "a", k_values="1,2", num_samples=3)
    b = prepare("voc07_low_shot", tmp_path / "trainval_labels.npy", tmp_path / "b", k_values=[1, 2], num_samples=3)
    assert len(a["files"]) == 6 and (tmp_path / "a" / "train_targets_sample3_k2.npy").is_file()
    assert all(np.array_equal(np.load(x), np.load(y)) for x, y in zip(a["files"], b["files"]))
    s1, s2 = np.load(tmp_path / "a" / "train_targets_sample1_k2.npy"), np.load(tmp_path / "a" / "train_targets_sample2_k2.npy")
    assert not np.array_equal(s1, s2)
    np.save(tmp_path / "bad.npy", np.full((3, 2), 5))
    with pytest.raises(ValueError, match="1/0/-1"):
        prepare("voc07_low_shot", tmp_path / "bad.npy", tmp_path / "c")
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        prepare("voc07_low_shot", tmp_path / "missing.npy", tmp_path / "c")


def test_voc_preparer_reads_the_voc07_preparer_output(tmp_path) -> None:
    # VOC class lists (1 present, -1 absent, 0 difficult only) for 6 images x 20 classes: every
    # image shows class (i % 2) and image 5 also a difficult-only class 0
    voc = tmp_path / "VOC2007"
    main = voc / "ImageSets" / "Main"
    main.mkdir(parents=True)
    (voc / "JPEGImages").mkdir()
    ids = [f"{i:06d}" for i in range(6)]
    for i in ids:
        Image.new("RGB", (4, 4)).save(voc / "JPEGImages" / f"{i}.jpg")
    for c, name in enumerate(VOC_CLASSES):
        flags = [1 if int(i) % 2 == c else (0 if (c == 0 and i == "000005") else -1) for i in ids]
        (main / f"{name}_trainval.txt").write_text("".join(f"{i} {f}\n" for i, f in zip(ids, flags)))
    prepare("voc07", voc, tmp_path / "lists")
    prepare("voc07_low_shot", tmp_path / "lists" / "trainval_labels.npy", tmp_path / "ls", k_values="1", num_samples=1)
    s = np.load(tmp_path / "ls" / "train_targets_sample1_k1.npy")
    # class 0: positives 0, 2, 4; negatives 1, 3 (image 5 is difficult); 1 positive + 19 negatives wanted
    assert (s[:, 0] == 1).sum() == 1 and np.flatnonzero(s[:, 0] == 1)[0] in (0, 2, 4)
    assert np.flatnonzero(s[:, 0] == 0).tolist() == [1, 3] and s[5, 0] == -1
    # class 1: positives 1, 3, 5; negatives 0, 2, 4; classes 2..19: no positives, 19 negatives > 6 images
    assert (s[:, 1] == 1).sum() == 1 and np.flatnonzero(s[:, 1] == 0).tolist() == [0, 2, 4]
    assert (s[:, 2:] == 0).all()


def test_places_low_shot(tmp_path) -> None:
    labels = np.repeat(np.arange(6), 10)
    np.save(tmp_path / "train_images.npy", np.array([f"/img/{i}.jpg" for i in range(60)]))
    np.save(tmp_path / "train_labels.npy", labels)
    out = prepare("places205_low_shot", tmp_path / "train_images.npy", tmp_path / "o", k_values="3", num_samples=2)
    imgs = np.load(tmp_path / "o" / "train_images_sample1_k3.npy")
    labs = np.load(tmp_path / "o" / "train_labels_sample1_k3.npy")
    assert len(out["files"]) == 4 and np.bincount(labs).tolist() == [3] * 6
    assert all(labels[int(p.split("/")[-1][:-4])] == lab for p, lab in zip(imgs, labs))
