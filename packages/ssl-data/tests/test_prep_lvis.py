"""MM-OVOD detection-data tools on small LVIS-like JSON files."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from ssl_data.prep import prepare

LVIS = {
    "images": [{"id": 1}, {"id": 2}],
    "categories": [
        {"id": 1, "name": "apple", "frequency": "r", "synset": "apple.n.01"},
        {"id": 2, "name": "ball", "frequency": "f", "synset": "ball.n.01"},
        {"id": 3, "name": "cat", "frequency": "c", "synset": "cat.n.01"},
    ],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1},
        {"id": 2, "image_id": 1, "category_id": 2},
        {"id": 3, "image_id": 2, "category_id": 2},
        {"id": 4, "image_id": 2, "category_id": 2},
    ],
}


@pytest.fixture
def lvis_file(tmp_path):
    p = tmp_path / "lvis_v1_train.json"
    p.write_text(json.dumps(LVIS))
    return p


def test_remove_rare_and_cat_info(tmp_path, lvis_file) -> None:
    out = prepare("lvis_remove_rare", lvis_file, tmp_path / "o")
    data = json.loads((tmp_path / "o" / "lvis_v1_train_norare.json").read_text())
    assert out["removed_annotations"] == 1 and [a["id"] for a in data["annotations"]] == [2, 3, 4]
    assert len(data["categories"]) == 3
    prepare("lvis_cat_info", lvis_file, tmp_path / "o")
    cats = {c["id"]: c for c in json.loads((tmp_path / "o" / "lvis_v1_train_cat_info.json").read_text())}
    assert (cats[2]["image_count"], cats[2]["instance_count"]) == (2, 3)
    assert (cats[1]["image_count"], cats[3]["instance_count"]) == (1, 0)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        prepare("lvis_cat_info", tmp_path / "bad.json", tmp_path / "o")


def test_imagenet_lvis(tmp_path, lvis_file) -> None:
    for wnid, size in (("n07739125", (5, 3)), ("n99999999", (4, 4))):
        (tmp_path / "in21k" / "train" / wnid).mkdir(parents=True)
        Image.new("RGB", size).save(tmp_path / "in21k" / "train" / wnid / f"{wnid}_1.JPEG")
    (tmp_path / "map.json").write_text(json.dumps({"apple.n.01": "n07739125"}))
    prepare("imagenet_lvis", tmp_path / "in21k", tmp_path / "o", lvis_path=lvis_file, wnid_map=tmp_path / "map.json")
    info = json.loads((tmp_path / "o" / "imagenet_lvis_image_info.json").read_text())
    assert info["images"] == [
        {"id": 1, "file_name": "n07739125/n07739125_1.JPEG", "pos_category_ids": [1], "width": 5, "height": 3}
    ]
    with pytest.raises(ValueError, match="wnid_map"):
        prepare("imagenet_lvis", tmp_path / "in21k", tmp_path / "o", lvis_path=lvis_file)


def test_sample_exemplars(tmp_path) -> None:
    (tmp_path / "ex.json").write_text(json.dumps({"apple": list(range(10)), "ball": [1, 2]}))
    a = prepare("sample_exemplars", tmp_path / "ex.json", tmp_path / "a", k=3, seed=0)
    b = prepare("sample_exemplars", tmp_path / "ex.json", tmp_path / "b", k=3, seed=0)
    da, db = (json.loads(open(x["output"]).read()) for x in (a, b))
    assert da == db and len(da["apple"]) == 3 and set(da["apple"]) <= set(range(10)) and da["ball"] == [1, 2]
    assert a["categories_with_fewer_than_k"] == ["ball"]
