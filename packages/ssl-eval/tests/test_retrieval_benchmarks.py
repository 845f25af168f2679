"""ROxford/RParis, CopyDays and INSTRE end to end on generated JPEGs in their on-disk layouts."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from scipy.io import savemat

from ssl_evaluation.retrieval import (
    evaluate_copydays,
    evaluate_instre,
    evaluate_revisited,
    extract_descriptors,
    feature_map_of,
    instre_val_subset,
    load_revisited,
)


class ColourGrid(torch.nn.Module):
    """A fixed 'trunk': 4x4 average colours split into positive and negative parts -> [B, 6, 4, 4]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = F.adaptive_avg_pool2d(x, 4)
        return torch.cat([p.clamp(min=0), (-p).clamp(min=0)], dim=1)


def make_image(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    grid = rng.integers(0, 256, size=(3, 4, 3), dtype=np.uint8)
    return Image.fromarray(np.kron(grid, np.ones((16, 16, 1), dtype=np.uint8)))  # 48x64 RGB


def noisy(img: Image.Image, seed: int, amount: float = 8.0) -> Image.Image:
    arr = np.asarray(img).astype(np.float64) + np.random.default_rng(seed).normal(0, amount, (48, 64, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


@pytest.fixture
def roxford(tmp_path):
    root = tmp_path / "roxford5k"
    (root / "jpg").mkdir(parents=True)
    base = [make_image(s) for s in range(8)]
    names = [f"db_{i}" for i in range(8)]
    for n, im in zip(names, base):
        im.save(root / "jpg" / f"{n}.jpg", quality=95)
    # query 0 is a copy of db 0 (easy); db 1 is a light-noise variant of db 0 (hard)
    base[1] = noisy(base[0], 1)
    base[1].save(root / "jpg" / "db_1.jpg", quality=95)
    base[0].save(root / "jpg" / "q_0.jpg", quality=95)
    base[5].save(root / "jpg" / "q_1.jpg", quality=95)
    gnd = [
        {"easy": np.array([0]), "hard": np.array([1]), "junk": np.array([7]), "bbx": [0, 0, 64, 48]},
        {"easy": np.array([5]), "hard": np.array([], dtype=np.int64), "junk": np.array([]), "bbx": [8, 8, 40, 40]},
    ]
    with open(root / "gnd_roxford5k.pkl", "wb") as f:
        pickle.dump({"imlist": names, "qimlist": ["q_0", "q_1"], "gnd": gnd}, f)
    white = tmp_path / "whitening"
    white.mkdir()
    for s in range(20):
        make_image(100 + s).save(white / f"w{s}.jpg", quality=95)
    return root, sorted(white.iterdir())


def test_revisited_end_to_end(roxford):
    root, whitening = roxford
    out = evaluate_revisited(ColourGrid(), root, "roxford5k", pooling="gem", resize_max=64)
    assert out["mAP"] == pytest.approx({"e": 100.0, "m": 100.0, "h": 100.0})
    assert out["mp@k"]["e"] == pytest.approx([100.0, 100.0, 100.0])
    assert out["protocol"]["gem_p"] == 4.0
    # R-MAC, two scales, ROI crop of queries, L2 ranking and PCA whitening on a separate set all run
    out = evaluate_revisited(
        ColourGrid(), root, "roxford5k", pooling="rmac", scales=(1.0, 0.75), crop_query_roi=True,
        whitening_paths=whitening, num_pca=8, similarity="l2", resize_max=64,
    )
    for tag in "emh":
        assert 0.0 <= out["mAP"][tag] <= 100.0
    assert out["protocol"]["pca_whitening"] is True


def test_revisited_bad_inputs(roxford, tmp_path):
    root, _ = roxford
    with pytest.raises(FileNotFoundError, match="gnd_rparis6k.pkl"):
        load_revisited(root, "rparis6k")
    with pytest.raises(ValueError, match="must be one of"):
        load_revisited(root, "oxford")
    bad = tmp_path / "bad"
    bad.mkdir()
    with open(bad / "gnd_roxford5k.pkl", "wb") as f:
        pickle.dump({"imlist": ["a"], "qimlist": ["q"], "gnd": [{"easy": [3], "hard": [], "junk": []}]}, f)
    with pytest.raises(ValueError, match="outside"):
        load_revisited(bad, "roxford5k")
    with open(bad / "gnd_roxford5k.pkl", "wb") as f:
        pickle.dump({"imlist": ["a"], "qimlist": ["q"], "gnd": [{"easy": [0], "hard": [], "junk": []}]}, f)
    with pytest.raises(FileNotFoundError, match="a.jpg|q.jpg"):
        evaluate_revisited(ColourGrid(), bad, "roxford5k")
    with open(bad / "gnd_roxford5k.pkl", "wb") as f:
        pickle.dump({"imlist": ["a"], "qimlist": ["q"], "gnd": [{"easy": [0], "hard": [], "junk": []}], "x": pickle.Pickler}, f)
    with pytest.raises(ValueError, match="pickles _pickle.Pickler, which is not an allowed data type"):
        load_revisited(bad, "roxford5k")


def test_copydays_splits_and_distractors(tmp_path):
    root = tmp_path / "copydays"
    (root / "queries").mkdir(parents=True)
    (root / "database_and_distractors").mkdir()
    originals = {200000: make_image(1), 200100: make_image(2), 200200: make_image(3)}
    for number, im in originals.items():
        im.save(root / "database_and_distractors" / f"{number}.jpg", quality=95)
        im.save(root / "queries" / f"original_{number}.jpg", quality=95)
    # a distractor whose number falls in block 2001: it must never count as a match
    make_image(9).save(root / "database_and_distractors" / "distractor_200101.jpg", quality=95)
    originals[200100].save(root / "queries" / "jpegqual_3_200100.jpg", quality=3)
    originals[200200].save(root / "queries" / "jpegqual_30_200200.jpg", quality=30)
    out = evaluate_copydays(ColourGrid(), root, use_distractors=True, resize_max=64)
    assert set(out) == {"original", "jpegqual_3", "jpegqual_30", "protocol"}
    assert out["jpegqual_30"]["mAP"] == pytest.approx(100.0)
    assert out["jpegqual_3"]["mAP"] == pytest.approx(100.0)
    assert out["original"]["mAP"] == pytest.approx(100.0)
    assert out["original"]["mp@k"]["k"] == [1, 5, 10]
    with pytest.raises(FileNotFoundError, match="database"):
        evaluate_copydays(ColourGrid(), root, use_distractors=False)


def test_instre_layout_and_val_subset(tmp_path):
    root = tmp_path / "instre"
    (root / "img").mkdir(parents=True)
    imlist, qimlist = [], []
    for i in range(6):
        make_image(10 + i).save(root / "img" / f"{i}.jpg", quality=95)
        imlist.append(f"img/{i}.jpg")
    for q, src in enumerate([0, 2, 4]):
        noisy(make_image(10 + src), q, 4.0).save(root / "img" / f"q{q}.jpg", quality=95)
        qimlist.append(f"img/q{q}.jpg")
    gnd = np.empty((1, 3), dtype=[("ok", "O")])
    for q, src in enumerate([0, 2, 4]):
        gnd[0, q]["ok"] = np.array([[src + 1]], dtype=np.float64)  # MATLAB: 1-based
    cells = lambda xs: np.array([np.array([x]) for x in xs] + [None], dtype=object)[:-1].reshape(1, -1)  # noqa: E731
    savemat(root / "gnd_instre.mat", {"gnd": gnd, "qimlist": cells(qimlist), "imlist": cells(imlist)})
    out = evaluate_instre(ColourGrid(), root, resize_max=64)
    assert out["mAP"] == pytest.approx(100.0)
    assert out["mAP_val"] is None  # fewer than 10 queries
    rs = np.random.RandomState(123)
    assert instre_val_subset(50) == sorted(set(rs.choice(50, 5).tolist()))


def test_descriptor_inputs(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        extract_descriptors(ColourGrid(), [])
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        extract_descriptors(ColourGrid(), [tmp_path / "nope.jpg"])
    make_image(0).save(tmp_path / "a.jpg")
    with pytest.raises(ValueError, match="feature map"):
        extract_descriptors(lambda x: x.mean(dim=(2, 3)), [tmp_path / "a.jpg"])
    d = extract_descriptors(lambda x: x.mean(dim=(2, 3)), [tmp_path / "a.jpg"], pooling="none")
    assert d.shape == (1, 3) and torch.allclose(d.norm(dim=1), torch.ones(1))

    class Fake(torch.nn.Module):
        def feature_names(self):
            return ["res4", "res5"]

        def forward_features(self, x, names):
            return {n: x for n in names}

    fn = feature_map_of(Fake(), "res5")
    assert extract_descriptors(fn, [tmp_path / "a.jpg"], resize_max=16).shape == (1, 3)
    with pytest.raises(ValueError, match="res9"):
        feature_map_of(Fake(), "res9")


def test_copydays_and_instre_missing_or_empty(tmp_path):
    (tmp_path / "cd" / "queries").mkdir(parents=True)
    (tmp_path / "cd" / "database").mkdir()
    with pytest.raises(ValueError, match="no .jpg images"):
        evaluate_copydays(ColourGrid(), tmp_path / "cd")
    make_image(0).save(tmp_path / "cd" / "queries" / "original.jpg")
    make_image(0).save(tmp_path / "cd" / "database" / "200000.jpg")
    with pytest.raises(ValueError, match="_<image number>"):
        evaluate_copydays(ColourGrid(), tmp_path / "cd")
    with pytest.raises(FileNotFoundError, match="gnd_instre.mat"):
        evaluate_instre(ColourGrid(), tmp_path)
