"""Detection transfer on tiny generated VOC / COCO datasets written as real files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader
from torchvision.models import resnet18

from ssl_evaluation.detection import (
    DETECTRON2_RECIPES,
    COCODetection,
    Detectron2Unavailable,
    VOCDetection,
    build_detector,
    detection_collate,
    detectron2_available,
    evaluate_detector,
    read_voc_annotation,
    run_detectron2,
    train_detector,
    trunk_backbone,
    write_detectron2_config,
)


class TinyTrunk(nn.Module):
    """ssl-models-style trunk: feature_names() and forward_features(x, names)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU())
        self.stage = nn.Sequential(nn.Conv2d(8, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU())

    def feature_names(self) -> list[str]:
        return ["res2", "res3"]

    def forward_features(self, x, names):
        a = self.stem(x)
        feats = {"res2": a, "res3": self.stage(a)}
        return {n: feats[n] for n in names}


OBJECTS = {  # image id -> (class, xmin, ymin, xmax, ymax, difficult) in VOC 1-based pixels
    "000001": [("cat", 9, 9, 40, 40, 0)],
    "000002": [("dog", 21, 5, 60, 30, 0), ("cat", 3, 40, 20, 62, 1)],
    "000003": [("dog", 5, 25, 50, 60, 0)],
}


def write_voc(root) -> None:
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / sub).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for img_id, objs in OBJECTS.items():
        arr = rng.integers(0, 60, size=(64, 64, 3), dtype=np.uint8)
        xml = [f"<annotation><filename>{img_id}.jpg</filename><size><width>64</width><height>64</height><depth>3</depth></size>"]
        for name, x0, y0, x1, y1, diff in objs:
            arr[y0 - 1 : y1, x0 - 1 : x1] = (220, 40, 40) if name == "cat" else (40, 40, 220)
            xml.append(
                f"<object><name>{name}</name><difficult>{diff}</difficult><bndbox><xmin>{x0}</xmin>"
                f"<ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
            )
        xml.append("</annotation>")
        Image.fromarray(arr).save(root / "JPEGImages" / f"{img_id}.jpg", quality=95)
        (root / "Annotations" / f"{img_id}.xml").write_text("".join(xml))
    (root / "ImageSets/Main/trainval.txt").write_text("000001\n000002\n")
    (root / "ImageSets/Main/test.txt").write_text("000002\n000003\n")


@pytest.fixture
def voc(tmp_path):
    root = tmp_path / "VOC2007"
    write_voc(root)
    return root


def test_voc_reader_matches_the_xml(voc):
    ann = read_voc_annotation(voc / "Annotations" / "000002.xml")
    assert ann["boxes"].tolist() == [[20.0, 4.0, 60.0, 30.0], [2.0, 39.0, 20.0, 62.0]]
    assert ann["labels"].tolist() == [12, 8]  # dog is the 12th VOC class, cat the 8th
    assert ann["difficult"].tolist() == [False, True]
    ds = VOCDetection(voc, "trainval", keep_difficult=False)
    image, target = ds[1]
    assert image.shape == (3, 64, 64) and image.dtype == torch.float32 and float(image.max()) <= 1.0
    assert target["labels"].tolist() == [12]
    with pytest.raises(FileNotFoundError, match="val.txt"):
        VOCDetection(voc, "val")
    (voc / "ImageSets/Main/empty.txt").write_text("\n")
    with pytest.raises(ValueError, match="empty"):
        VOCDetection(voc, "empty")
    (voc / "Annotations" / "bad.xml").write_text("<annotation><object><name>unicorn</name></object></annotation>")
    with pytest.raises(ValueError, match="unicorn"):
        read_voc_annotation(voc / "Annotations" / "bad.xml")


def test_faster_rcnn_fpn_trains_and_evaluates_on_cpu(voc):
    torch.manual_seed(0)
    trunk = TinyTrunk()
    before = trunk.stem[0].weight.detach().clone()
    backbone = trunk_backbone(trunk, ["res2", "res3"], out_channels=16)
    model = build_detector(
        backbone, num_classes=21, min_size=64, max_size=64, anchor_sizes=(16, 32, 64), box_batch_size_per_image=64
    )
    train = DataLoader(VOCDetection(voc, "trainval", keep_difficult=False), batch_size=2, collate_fn=detection_collate)
    history = train_detector(model, train, max_iter=2, base_lr=0.01, warmup_iters=1)
    assert len(history) == 2 and all(np.isfinite(history))
    assert not torch.equal(trunk.stem[0].weight, before)  # the trunk is fine-tuned
    test = DataLoader(VOCDetection(voc, "test"), batch_size=2, collate_fn=detection_collate)
    res = evaluate_detector(model, test)
    assert set(res["bbox"]) == {"AP", "AP50", "AP75", "APs", "APm", "APl"}
    assert all(v == -1.0 or 0.0 <= v <= 100.0 for v in res["bbox"].values())


class Oracle(nn.Module):
    """Returns given boxes as detections (tests the evaluation wiring, not a detector)."""

    def __init__(self, outputs):
        super().__init__()
        self.outputs = outputs
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, images):
        return [self.outputs.pop(0) for _ in images]


def test_evaluation_perfect_and_difficult_ignored(voc):
    ds = VOCDetection(voc, "test")
    loader = DataLoader(ds, batch_size=1, collate_fn=detection_collate)
    non_difficult = []
    for i in range(len(ds)):
        t = ds[i][1]
        keep = ~t["difficult"]
        non_difficult.append({"boxes": t["boxes"][keep], "labels": t["labels"][keep], "scores": torch.ones(int(keep.sum()))})
    # perfect on non-difficult objects; the missed difficult cat is ignored -> AP 100
    assert evaluate_detector(Oracle(list(non_difficult)), loader)["bbox"]["AP"] == pytest.approx(100.0)
    # the same detections scored with difficult objects counted lose the cat class's recall
    counted = DataLoader(
        [(im, {**t, "iscrowd": torch.zeros_like(t["iscrowd"])}) for im, t in ds], batch_size=1, collate_fn=detection_collate
    )
    assert evaluate_detector(Oracle(list(non_difficult)), counted)["bbox"]["AP"] < 100.0
    with pytest.raises(ValueError, match="empty"):
        evaluate_detector(Oracle([]), [])
    with pytest.raises(ValueError, match="iou_types"):
        evaluate_detector(Oracle([]), loader, iou_types=("keypoints",))


def test_mask_rcnn_on_coco_json(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    anns, imgs = [], []
    for i in range(2):
        arr = np.zeros((48, 48, 3), dtype=np.uint8)
        arr[8:30, 10:40] = (200, 200, 30)
        Image.fromarray(arr).save(images / f"{i}.jpg")
        imgs.append({"id": 10 + i, "file_name": f"{i}.jpg", "width": 48, "height": 48})
        poly = [10, 8, 40, 8, 40, 30, 10, 30]
        anns.append({"id": i, "image_id": 10 + i, "category_id": 7, "bbox": [10, 8, 30, 22], "iscrowd": 0, "segmentation": [poly]})
    ann_file = tmp_path / "instances.json"
    ann_file.write_text(json.dumps({"images": imgs, "annotations": anns, "categories": [{"id": 7, "name": "box"}]}))
    ds = COCODetection(images, ann_file, with_masks=True)
    image, target = ds[0]
    assert ds.num_classes == 2 and target["labels"].tolist() == [1]
    assert target["boxes"].tolist() == [[10.0, 8.0, 40.0, 30.0]]
    assert target["masks"].shape == (1, 48, 48) and target["masks"][0, 15, 20] == 1 and target["masks"][0, 40, 5] == 0
    torch.manual_seed(0)
    backbone = trunk_backbone(TinyTrunk(), ["res2", "res3"], out_channels=16)
    model = build_detector(
        backbone, ds.num_classes, "mask_rcnn", min_size=48, max_size=48, anchor_sizes=(16, 32, 64),
        box_detections_per_img=5, box_batch_size_per_image=32,
    )
    loader = DataLoader(ds, batch_size=2, collate_fn=detection_collate)
    assert len(train_detector(model, loader, max_iter=1, warmup_iters=1, base_lr=0.005)) == 1
    res = evaluate_detector(model, loader, iou_types=("bbox", "segm"))
    assert set(res) == {"bbox", "segm"}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"images": imgs, "annotations": [{**anns[0], "category_id": 99}], "categories": [{"id": 7}]}))
    with pytest.raises(ValueError, match="unknown category 99"):
        COCODetection(images, bad)
    with pytest.raises(FileNotFoundError, match="missing.json"):
        COCODetection(images, tmp_path / "missing.json")


def test_torchvision_resnet_c4_backbone_via_intermediate_layer_getter(voc):
    torch.manual_seed(0)
    backbone = trunk_backbone(resnet18(), ["layer1", "layer2", "layer3"], fpn=False)
    assert backbone.out_channels == 256
    model = build_detector(backbone, 21, min_size=64, max_size=64, anchor_sizes=(16, 32, 64))
    loader = DataLoader(VOCDetection(voc, "trainval"), batch_size=2, collate_fn=detection_collate)
    assert len(train_detector(model, loader, max_iter=1, warmup_iters=1, base_lr=0.001)) == 1
    with pytest.raises(ValueError, match="layer9"):
        trunk_backbone(resnet18(), ["layer9"])
    with pytest.raises(ValueError, match="anchor_sizes"):
        build_detector(trunk_backbone(resnet18(), ["layer2", "layer3"]), 21, anchor_sizes=(32, 64))


def test_detectron2_configs_written_as_yaml(tmp_path):
    out = write_detectron2_config("voc0712_r50_c4", tmp_path / "voc.yaml", weights="w.pkl", output_dir=tmp_path / "run")
    cfg = yaml.safe_load(out.read_text())
    assert cfg["MODEL"]["WEIGHTS"] == "w.pkl" and cfg["OUTPUT_DIR"] == str(tmp_path / "run")
    assert cfg["SOLVER"] == {"STEPS": [18000, 22000], "MAX_ITER": 24000, "WARMUP_ITERS": 1000, "IMS_PER_BATCH": 16, "BASE_LR": 0.02}
    assert cfg["DATASETS"]["TRAIN"] == ["voc_2007_trainval", "voc_2012_trainval"]
    assert DETECTRON2_RECIPES["voc0712_r50_c4"]["MODEL"]["WEIGHTS"] == ""  # the table is not mutated
    assert DETECTRON2_RECIPES["voc07_r50_c4_pirl_npid"]["SOLVER"]["BASE_LR"] == 0.002
    assert list(tmp_path.glob(".*tmp")) == []
    with pytest.raises(ValueError, match="unknown detectron2 recipe"):
        write_detectron2_config("nope", tmp_path / "x.yaml")
    assert write_detectron2_config("coco_r50_fpn_mask", tmp_path / "new" / "m.yaml").is_file()


@pytest.mark.skipif(detectron2_available(), reason="detectron2 is installed: the unavailable path cannot be shown")
def test_detectron2_route_reports_missing_install(tmp_path):
    path = write_detectron2_config("voc07_r50_c4", tmp_path / "c.yaml")
    with pytest.raises(Detectron2Unavailable, match="not installed"):
        run_detectron2(path)


@pytest.mark.skipif(not detectron2_available(), reason="detectron2 is not installed (not on PyPI); its route is skipped")
def test_detectron2_route_loads_config(tmp_path):
    with pytest.raises(FileNotFoundError):
        run_detectron2(tmp_path / "missing.yaml")
