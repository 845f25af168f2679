"""MM-OVOD's exemplar tools on small real files written here: the collated exemplar dictionary
(LVIS + ImageNet-21K + Visual Genome, expected lists worked out by hand), CLIP exemplar
embeddings with test-time augmentation (a tiny randomly initialised open_clip model, checked
against open_clip's own encode_image and NumPy) and the aggregated classifiers (NumPy means; a
user's TorchScript / torch.export module whose output is known by hand)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ssl_data.prep import prepare
from ssl_data.prep.exemplar_features import exemplar_embeddings, exemplar_views

RNG = np.random.default_rng(0)


def _jpeg(path: Path, h: int = 64, w: int = 64) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(RNG.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path, quality=95)
    return path


def _datasets(root: Path) -> None:
    """MM-OVOD's datasets/ folder: LVIS (+ COCO images), ImageNet-LVIS info, Visual Genome."""
    lvis = {
        "categories": [{"id": 1, "name": "apple", "synset": "apple.n.01"}, {"id": 2, "name": "ball", "synset": "ball.n.01"},
                       {"id": 3, "name": "cat", "synset": "cat.n.01"}],
        "images": [{"id": 10, "coco_url": "http://images.cocodataset.org/train2017/000000000010.jpg"},
                   {"id": 11, "coco_url": "http://images.cocodataset.org/val2017/000000000011.jpg"}],
        "annotations": [
            {"id": 100, "image_id": 10, "category_id": 1, "bbox": [0, 0, 40, 40]},   # area 1600
            {"id": 101, "image_id": 10, "category_id": 1, "bbox": [0, 0, 10, 10]},   # 100 < 1024: skipped
            {"id": 102, "image_id": 11, "category_id": 1, "bbox": [5, 5, 50, 30]},   # 1500
            {"id": 103, "image_id": 11, "category_id": 2, "bbox": [1, 1, 32, 32]},   # 1024: kept
        ],
    }  # fmt: skip
    (root / "lvis").mkdir(parents=True)
    (root / "lvis" / "lvis_v1_train.json").write_text(json.dumps(lvis))
    _jpeg(root / "coco" / "train2017" / "000000000010.jpg")
    _jpeg(root / "coco" / "val2017" / "000000000011.jpg")
    info = {"images": [{"id": 1, "file_name": "n07739125/a.JPEG", "pos_category_ids": [1]}], "categories": lvis["categories"]}
    (root / "imagenet" / "annotations").mkdir(parents=True)
    (root / "imagenet" / "annotations" / "imagenet_lvis_image_info.json").write_text(json.dumps(info))
    _jpeg(root / "imagenet" / "imagenet21k_P" / "train" / "n07739125" / "a.JPEG")
    vg = root / "VisualGenome"
    vg.mkdir()
    (vg / "image_data.json").write_text(json.dumps([{"image_id": 5, "url": "https://cs.stanford.edu/people/rak248/VG_100K/5.jpg"}]))
    (vg / "objects.json").write_text(json.dumps([{"image_id": 5, "objects": [
        {"object_id": 900, "x": 2, "y": 3, "w": 40, "h": 40, "synsets": ["ball.n.01"]},
        {"object_id": 901, "x": 0, "y": 0, "w": 60, "h": 60, "synsets": ["tree.n.01"]},
        {"object_id": 902, "x": 0, "y": 0, "w": 10, "h": 10, "synsets": ["ball.n.01"]},
    ]}]))  # fmt: skip
    _jpeg(vg / "VG_100K" / "5.jpg")


def test_collate_exemplars_from_three_sources(tmp_path) -> None:
    root = tmp_path / "datasets"
    _datasets(root)
    summary = prepare("collate_exemplars", root, tmp_path / "out", min_exemplars=2)
    got = json.loads((tmp_path / "out" / "exemplar_dict.json").read_text())
    r = root.resolve()
    assert got == {
        "1": [{"source": "imagenet", "file_name": str(r / "imagenet/imagenet21k_P/train/n07739125/a.JPEG"), "bbox": None, "id": 1},
              {"source": "lvis", "file_name": str(r / "coco/train2017/000000000010.jpg"), "bbox": [0, 0, 40, 40], "id": 100},
              {"source": "lvis", "file_name": str(r / "coco/val2017/000000000011.jpg"), "bbox": [5, 5, 50, 30], "id": 102}],
        "2": [{"source": "lvis", "file_name": str(r / "coco/val2017/000000000011.jpg"), "bbox": [1, 1, 32, 32], "id": 103},
              {"source": "visual_genome", "file_name": str(r / "VisualGenome/VG_100K/5.jpg"), "bbox": [2, 3, 40, 40], "id": 900}],
        "3": [],
    }  # fmt: skip
    assert summary["exemplars"] == {"lvis": 3, "imagenet": 1, "visual_genome": 1}
    assert summary["categories_with_fewer_than_min"] == [3]
    prepare("collate_exemplars", root, tmp_path / "one", max_per_source=1)
    one = json.loads((tmp_path / "one" / "exemplar_dict.json").read_text())
    assert [e["id"] for e in one["1"]] == [1, 100] and [e["id"] for e in one["2"]] == [103, 900]


def test_collate_refuses_missing_images_and_bad_boxes_in_one_line(tmp_path) -> None:
    root = tmp_path / "datasets"
    _datasets(root)
    (root / "VisualGenome" / "VG_100K" / "5.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="5.jpg") as e:
        prepare("collate_exemplars", root, tmp_path / "out")
    assert "\n" not in str(e.value) and not (tmp_path / "out").exists()
    lvis = json.loads((root / "lvis" / "lvis_v1_train.json").read_text())
    lvis["annotations"][0]["bbox"] = [0, 0, "wide"]
    (root / "lvis" / "lvis_v1_train.json").write_text(json.dumps(lvis))
    with pytest.raises(ValueError, match="LVIS annotation 100: bbox must be 4 numbers"):
        prepare("collate_exemplars", root, tmp_path / "out", check_files=False)
    assert not (tmp_path / "out").exists()


TINY_CLIP = {"embed_dim": 16, "vision_cfg": {"layers": 1, "width": 32, "patch_size": 8, "image_size": 16, "head_width": 16},
             "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


@pytest.fixture()
def tiny_clip(tmp_path):
    """open_clip's name for a tiny config written here (no weights, nothing downloaded)."""
    open_clip = pytest.importorskip("open_clip")
    (tmp_path / "tiny-exemplar-clip.json").write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(tmp_path / "tiny-exemplar-clip.json")
    return "tiny-exemplar-clip"


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_tta_embeddings_against_open_clip(tmp_path, tiny_clip) -> None:
    import open_clip
    import torch

    image = _jpeg(tmp_path / "img.jpg", 40, 48)
    exemplars = {"1": [{"file_name": str(image), "bbox": [4, 6, 20, 24]}, {"file_name": str(image), "bbox": None}],
                 "2": [{"file_name": str(image), "bbox": [10, 10, 30, 30]}]}
    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms(tiny_clip, pretrained=None)
    model.eval()
    pixels = np.asarray(Image.open(image).convert("RGB"))
    crop = Image.fromarray(pixels[6:30, 4:24])  # rows y..y+h, columns x..x+w

    def encode(pil) -> np.ndarray:
        with torch.no_grad():
            return model.encode_image(preprocess(pil)[None])[0].numpy().astype(np.float64)

    one = exemplar_embeddings(exemplars, model, preprocess, num_augs=1)
    assert one.shape == (2, 2, 16) and not one[1, 1].any()  # category 2 has one exemplar: a zero pad
    np.testing.assert_allclose(one[0, 0], _unit(encode(crop)), atol=1e-5)
    np.testing.assert_allclose(one[0, 1], _unit(encode(Image.fromarray(pixels))), atol=1e-5)
    np.testing.assert_allclose(one[1, 0], _unit(encode(Image.fromarray(pixels[10:40, 10:40]))), atol=1e-5)

    views = exemplar_views(crop, 3, preprocess, seed=7)
    assert views.shape == (3, 3, 16, 16)
    torch.testing.assert_close(views[0], preprocess(crop))
    assert not torch.equal(views[1], views[2]) and torch.equal(views, exemplar_views(crop, 3, preprocess, seed=7))
    three = exemplar_embeddings({"1": exemplars["1"][:1]}, model, preprocess, num_augs=3, seed=0)
    views0 = exemplar_views(crop, 3, preprocess, seed=0)  # exemplar 0 of seed 0
    with torch.no_grad():
        per_view = np.stack([_unit(model.encode_image(v[None])[0].numpy().astype(np.float64)) for v in views0])
    np.testing.assert_allclose(three[0, 0], _unit(per_view.mean(axis=0)), atol=1e-5)


def test_exemplar_features_and_classifiers_end_to_end(tmp_path, tiny_clip) -> None:
    import torch

    image = _jpeg(tmp_path / "img.jpg", 32, 32)
    exemplars = {"2": [{"file_name": str(image), "bbox": [0, 0, 16, 16]}],
                 "1": [{"file_name": str(image), "bbox": None}, {"file_name": str(image), "bbox": [8, 8, 16, 16]}]}
    (tmp_path / "ex.json").write_text(json.dumps(exemplars))
    torch.manual_seed(0)
    feats = prepare("exemplar_features", tmp_path / "ex.json", tmp_path / "out", model=tiny_clip, pretrained="", num_augs=2)
    x = np.load(feats["output"])
    assert x.shape == (2, 2, 16) and not x[1, 1].any() and x[0, 1].any()  # rows in id order: "1" then "2"
    np.testing.assert_allclose(np.linalg.norm(x[0], axis=-1), 1.0, atol=1e-5)
    cls = prepare("exemplar_classifiers", feats["output"], tmp_path / "out")
    got = np.load(cls["output"])
    assert Path(cls["output"]).name == "ex_clip_tta-2_avg.npy"
    np.testing.assert_allclose(got[0], _unit(x[0].astype(np.float64).mean(axis=0)), atol=1e-5)
    np.testing.assert_allclose(got[1], _unit(x[1, 0].astype(np.float64)), atol=1e-5)


def _export(module, path: Path, k: int = 2) -> None:
    """``torch.export.save`` of ``module(features [B, k, 4], mask [B, k])`` with a dynamic batch."""
    import torch

    batch = torch.export.Dim("batch")
    program = torch.export.export(module, (torch.zeros(2, k, 4), torch.ones(2, k, dtype=torch.bool)),
                                  dynamic_shapes=({0: batch}, {0: batch}))
    torch.export.save(program, str(path))


def test_mean_and_module_aggregators_against_numpy(tmp_path) -> None:
    import torch

    f = RNG.normal(size=(3, 2, 4)).astype(np.float32)
    f[1, 1] = 0.0  # category 1: one exemplar
    f[2] = 0.0  # category 2: none
    np.save(tmp_path / "feats.npy", f)
    mean = np.load(prepare("exemplar_classifiers", tmp_path / "feats.npy", tmp_path / "o")["output"])
    np.testing.assert_allclose(mean[0], _unit(_unit(f[0, 0]) + _unit(f[0, 1])), atol=1e-6)
    np.testing.assert_allclose(mean[1], _unit(f[1, 0]), atol=1e-6)
    assert not mean[2].any()

    class FirstPlusCount(torch.nn.Module):
        def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return features[:, 0] + mask.float().sum(dim=1, keepdim=True)

    _export(FirstPlusCount(), tmp_path / "agg.pt2")
    summary = prepare("exemplar_classifiers", tmp_path / "feats.npy", tmp_path / "o", aggregator=str(tmp_path / "agg.pt2"))
    got = np.load(summary["output"])
    assert Path(summary["output"]).name == "feats_agg.npy" and summary["categories_without_exemplars"] == [2]
    # categories 0 and 1 reach the module (2 and 1 exemplars); category 2 has none: a zero row
    np.testing.assert_allclose(got[:2], [_unit(f[0, 0] + 2.0), _unit(f[1, 0] + 1.0)], atol=1e-6)
    assert not got[2].any()


def test_aggregator_errors_are_one_line_and_write_nothing(tmp_path) -> None:
    import torch

    np.save(tmp_path / "feats.npy", RNG.normal(size=(2, 3, 4)).astype(np.float32))
    (tmp_path / "junk.pt").write_text("not a module")

    class WrongShape(torch.nn.Module):
        def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return features.sum(dim=2)

    _export(WrongShape(), tmp_path / "wrong.pt2", k=3)
    _export(WrongShape(), tmp_path / "other_k.pt2", k=2)  # exported for K = 2 exemplars, given 3
    (tmp_path / "junk.pt2").write_text("not a module")
    np.save(tmp_path / "flat.npy", np.ones((2, 4), np.float32))
    for args, message in (({"aggregator": str(tmp_path / "junk.pt2")}, "cannot load aggregator"),
                          ({"aggregator": str(tmp_path / "junk.pt")}, "torch.export .pt2 file"),
                          ({"aggregator": str(tmp_path / "wrong.pt2")}, r"returned \(2, 3\), expected \[2, 4\]"),
                          ({"aggregator": str(tmp_path / "other_k.pt2")}, r"failed on features \[2, 3, 4\]")):
        with pytest.raises(ValueError, match=message) as e:
            prepare("exemplar_classifiers", tmp_path / "feats.npy", tmp_path / "out", **args)
        assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match=r"float \[C, K, D\]"):
        prepare("exemplar_classifiers", tmp_path / "flat.npy", tmp_path / "out")
    assert not (tmp_path / "out").exists()
