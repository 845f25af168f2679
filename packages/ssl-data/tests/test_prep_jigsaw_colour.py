"""Jigsaw permutations (maximal Hamming distance) and colorization bins/priors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image

from ssl_data.prep import colorization_bins, generate_jigsaw_permutations, prepare
from ssl_data.transforms import ShuffleImgPatches


def _min_pairwise(perms: np.ndarray) -> int:
    d = (perms[:, None, :] != perms[None, :, :]).sum(-1)
    return int(d[~np.eye(len(perms), dtype=bool)].min())


def test_permutations_are_distinct_and_far_apart() -> None:
    perms = generate_jigsaw_permutations(30, num_patches=5, seed=0)
    assert perms.shape == (30, 5)
    assert (np.sort(perms, 1) == np.arange(5)).all() and len({tuple(p) for p in perms}) == 30
    rng = np.random.default_rng(0)
    random_sets = [np.array([rng.permutation(5) for _ in range(30)]) for _ in range(20)]
    assert _min_pairwise(perms) >= max(_min_pairwise(r) for r in random_sets)


def test_small_case_reaches_the_brute_force_optimum() -> None:
    # the best possible minimum distance for 3 permutations of 4 items, by exhaustive search
    allp = np.array(list(itertools.permutations(range(4))))
    best = max(_min_pairwise(allp[list(c)]) for c in itertools.combinations(range(24), 3))
    assert _min_pairwise(generate_jigsaw_permutations(3, num_patches=4, seed=1)) == best == 4


def test_jigsaw_preparer_writes_a_file_shuffle_can_read(tmp_path) -> None:
    summary = prepare("jigsaw_permutations", None, tmp_path, num_permutations=10, num_patches=4)
    t = ShuffleImgPatches(perm_file=summary["permutations"])
    assert t.perms.shape == (10, 4) and summary["min_hamming_distance"] >= 2
    with pytest.raises(ValueError, match="num_permutations must be in 1..24"):
        generate_jigsaw_permutations(25, num_patches=4)
    assert not list(tmp_path.glob(".*.tmp"))


def test_color_bins_against_skimage(tmp_path) -> None:
    skcolor = pytest.importorskip("skimage.color")
    colours = {"red": (255, 0, 0), "blue": (0, 0, 255), "ochre": (200, 150, 50)}
    sizes = {"red": (8, 8), "blue": (8, 4), "ochre": (4, 4)}
    paths = []
    for name, rgb in colours.items():
        p = tmp_path / f"{name}.png"
        Image.new("RGB", sizes[name], rgb).save(p)
        paths.append(p)
    bins, priors = colorization_bins(paths, grid_size=10, ab_max=110)
    expected = {}
    for name, rgb in colours.items():
        a, b = skcolor.rgb2lab(np.array([[rgb]], dtype=np.float64) / 255.0)[0, 0, 1:]
        cell = (np.floor((a + 110) / 10), np.floor((b + 110) / 10))
        expected[cell] = expected.get(cell, 0) + sizes[name][0] * sizes[name][1]
    got = {(float((a + 110) // 10), float((b + 110) // 10)): p for (a, b), p in zip(bins, priors)}
    total = sum(expected.values())
    assert set(got) == set(expected)
    for cell, count in expected.items():
        assert got[cell] == pytest.approx(count / total)
    np.save(tmp_path / "train_images.npy", np.array([str(p) for p in paths]))
    out = prepare("color_bins", tmp_path / "train_images.npy", tmp_path / "out")
    assert np.load(out["bins"]).shape == (3, 2) and np.load(out["priors"]).sum() == pytest.approx(1.0)
