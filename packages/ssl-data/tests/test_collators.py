"""Collators: layouts checked with images whose pixels encode (sample, view)."""

from __future__ import annotations

import pytest
import torch

import ssl_data.collators as C


def _img(sample: int, view: int, size: int = 4) -> torch.Tensor:
    return torch.full((3, size, size), float(100 * sample + view))


def _batch(b: int = 3, sizes: tuple[int, ...] = (4, 4)) -> list[tuple]:
    return [([_img(i, v, s) for v, s in enumerate(sizes)], 10 + i, 50 + i) for i in range(b)]


def test_default_collator_tuple_and_dict_samples() -> None:
    out = C.default_collator([(_img(i, 0), i, 7 + i) for i in range(3)])
    assert out["data"].shape == (3, 3, 4, 4) and out["label"].tolist() == [0, 1, 2]
    assert out["data_idx"].tolist() == [7, 8, 9] and out["data_valid"].all()
    vissl = [{"data": [_img(i, 0)], "label": [i], "data_valid": [i != 1], "data_idx": [i]} for i in range(3)]
    out = C.default_collator(vissl)
    assert out["data_valid"].tolist() == [True, False, True]
    with pytest.raises(ValueError, match="empty batch"):
        C.default_collator([])
    with pytest.raises(ValueError, match="sample 1 has 1 views"):
        C.default_collator([([_img(0, 0), _img(0, 1)], 0, 0), (_img(1, 0), 0, 1)])


def test_simclr_collator_is_crop_major() -> None:
    out = C.simclr_collator(_batch(3))
    assert out["data"].shape == (6, 3, 4, 4)
    codes = out["data"][:, 0, 0, 0].tolist()
    assert codes == [100 * i + v for v in range(2) for i in range(3)]
    assert out["label"].tolist() == [10, 11, 12, 10, 11, 12]
    assert out["data_idx"].tolist() == [50, 51, 52, 50, 51, 52]


def test_moco_collator() -> None:
    out = C.moco_collator(_batch(3))
    assert out["data"][:, 0, 0, 0].tolist() == [0, 100, 200]
    assert out["data_momentum"][:, 0, 0, 0].tolist() == [1, 101, 201]
    with pytest.raises(ValueError, match="exactly 2 views"):
        C.moco_collator(_batch(2, sizes=(4, 4, 4)))


def test_multicrop_collator_groups_by_resolution() -> None:
    out = C.multicrop_collator(_batch(2, sizes=(8, 8, 4, 4, 4)))
    assert [tuple(t.shape) for t in out["data"]] == [(4, 3, 8, 8), (6, 3, 4, 4)]
    assert out["crops_per_resolution"] == [2, 3]
    assert out["data"][0][:, 0, 0, 0].tolist() == [0, 100, 1, 101]
    assert out["data"][1][:, 0, 0, 0].tolist() == [2, 102, 3, 103, 4, 104]
    assert out["label"].tolist() == [10, 11] * 5


def test_multicrop_mixup_blends_pairs() -> None:
    torch.manual_seed(0)
    out = C.multicrop_mixup_collator(_batch(4, sizes=(8, 4)), beta=0.2)
    lam = out["mix_lambda"]
    assert 0.0 <= lam <= 1.0
    big, small = out["data"]
    assert big.shape == (2, 3, 8, 8) and small.shape == (2, 3, 4, 4)
    for pair in range(2):
        for view, t in ((0, big), (1, small)):
            a, b = 100 * (2 * pair) + view, 100 * (2 * pair + 1) + view
            assert t[pair, 0, 0, 0].item() == pytest.approx(lam * a + (1 - lam) * b, rel=1e-5)
    assert out["label"].tolist() == [10, 12, 10, 12]
    with pytest.raises(ValueError, match="even batch"):
        C.multicrop_mixup_collator(_batch(3))


def test_siamese_and_patch_and_image() -> None:
    batch = [(torch.arange(4.0).view(4, 1, 1, 1) + 10 * i, i, i) for i in range(2)]
    out = C.siamese_collator(batch)
    assert out["data"].shape == (8, 1, 1, 1) and out["data"].flatten().tolist() == [0, 1, 2, 3, 10, 11, 12, 13]
    assert out["label"].tolist() == [0, 1]
    pirl = [([_img(i, 0, 8)] + [_img(i, k, 2) for k in range(1, 4)], i, i) for i in range(2)]
    out = C.patch_and_image_collator(pirl)
    assert out["images"].shape == (2, 3, 8, 8) and out["patches"].shape == (6, 3, 2, 2)
    assert out["patches"][:, 0, 0, 0].tolist() == [1, 2, 3, 101, 102, 103]


def test_targets_one_hot() -> None:
    batch = [(_img(0, 0), ([1, 3], [0]), 0), (_img(1, 0), ([2], []), 1)]
    out = C.targets_one_hot_collator(batch, num_classes=4)
    assert out["label"].tolist() == [[0, 1, -1, 1], [-1, -1, 1, -1]]
    with pytest.raises(ValueError, match="outside 0..3"):
        C.targets_one_hot_collator([(_img(0, 0), ([4], []), 0)], num_classes=4)


def test_cutmixup_mixup_and_label_smoothing() -> None:
    pytest.importorskip("timm")
    torch.manual_seed(0)
    import numpy as np

    np.random.seed(0)
    batch = [([_img(i, 0), _img(i, 1)], i % 3, i) for i in range(4)]
    out = C.cutmixup_collator(batch, mixup_alpha=1.0, cutmix_alpha=0.0, label_smoothing=0.1, num_classes=3)
    assert len(out["data"]) == 2 and out["label"].shape == (8, 3)
    torch.testing.assert_close(out["label"].sum(1), torch.ones(8))
    # batch mode: one lambda per crop, each image mixed with the flipped batch (timm's definition)
    for v in range(2):
        x = out["data"][v][:, 0, 0, 0]
        a = torch.tensor([100.0 * i + v for i in range(4)])
        lam = (x[0] - a[3]) / (a[0] - a[3])
        torch.testing.assert_close(x, lam * a + (1 - lam) * a.flip(0))
        y_a = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 0]), 3).float() * 0.9 + 0.1 / 3
        torch.testing.assert_close(out["label"][4 * v : 4 * v + 4], lam * y_a + (1 - lam) * y_a.flip(0))
    sim = C.cutmixup_collator(batch, mixup_alpha=0.0, cutmix_alpha=1.0, num_classes=3, ssl_method="simclr")
    assert sim["data"].shape == (8, 3, 4, 4)
    moco = C.cutmixup_collator(batch, num_classes=3, ssl_method="moco")
    assert moco["data"].shape == (4, 3, 4, 4) and moco["label"].shape == (4, 3)
    with pytest.raises(ValueError, match="mode"):
        C.cutmixup_collator(batch, mode="bogus", num_classes=3)


def test_build_collator() -> None:
    fn = C.build_collator("targets_one_hot_default_collator", num_classes=4)
    assert fn([(_img(0, 0), ([1], []), 0)])["label"].shape == (1, 4)
    assert C.build_collator("simclr_collator") is C.simclr_collator
    with pytest.raises(ValueError, match="unknown collator"):
        C.build_collator("nope")
    with pytest.raises(ValueError, match="no parameter"):
        C.build_collator("simclr_collator", beta=1)
