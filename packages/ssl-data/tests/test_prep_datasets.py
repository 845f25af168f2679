"""Dataset preparers on tiny fake copies of each official layout (real files in tmp_path)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ssl_data.prep import PREPARERS, VOC_CLASSES, prepare, preparer_options


def _img(path: Path, value: int = 0, size: tuple[int, int] = (4, 4)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (value, value, value)).save(path)
    return path


def _tree(root: Path) -> dict[str, list[str]]:
    """split -> sorted 'class/file' entries of a disk_folder output."""
    return {s.name: sorted(f"{c.name}/{f.name}" for c in s.iterdir() for f in c.iterdir()) for s in root.iterdir() if s.is_dir()}


def test_folder_filelist_imagenet_layout(tmp_path) -> None:
    for split in ("train", "val"):
        for cls in ("n01", "n02"):
            for i in range(2):
                _img(tmp_path / "in" / split / cls / f"{cls}_{i}.JPEG")
    out = prepare("imagenet", tmp_path / "in", tmp_path / "out")
    imgs = np.load(tmp_path / "out" / "train_images.npy")
    labels = np.load(tmp_path / "out" / "train_labels.npy")
    assert out["classes"] == 2 and len(imgs) == 4
    assert [Path(p).parent.name for p in imgs] == ["n01", "n01", "n02", "n02"] and labels.tolist() == [0, 0, 1, 1]
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in imgs)


# Objects per image (class, difficult) of a tiny VOC2007: 000005 has a person and a difficult
# chair, 000007 only a difficult aeroplane and a car, 000009 two dogs (one difficult) and a chair.
_VOC_OBJECTS = {
    "000005": [("person", False), ("chair", True)],
    "000007": [("aeroplane", True), ("car", False)],
    "000009": [("dog", False), ("dog", True), ("chair", False)],
}


def _fake_voc(root: Path, objects: dict[str, list[tuple[str, bool]]], split: str = "trainval") -> Path:
    """A VOC20xx folder: one grey JPEG per image (value = position * 60), ``Annotations/*.xml``
    from ``objects``, and the ``{class}_{split}.txt`` lists VOC's devkit writes from them
    (1: a non-difficult object of the class, 0: only difficult ones, -1: none)."""
    main = root / "ImageSets" / "Main"
    main.mkdir(parents=True)
    (root / "Annotations").mkdir()
    for position, (image_id, objs) in enumerate(objects.items()):
        _img(root / "JPEGImages" / f"{image_id}.jpg", value=60 * position)
        body = "".join(f"<object><name>{c}</name><difficult>{int(d)}</difficult></object>" for c, d in objs)
        (root / "Annotations" / f"{image_id}.xml").write_text(f"<annotation><filename>{image_id}.jpg</filename>{body}</annotation>")
    for cls in VOC_CLASSES:
        lines = []
        for image_id, objs in objects.items():
            flags = [d for c, d in objs if c == cls]
            lines.append(f"{image_id} {(1 if not all(flags) else 0) if flags else -1:>2}\n")
        (main / f"{cls}_{split}.txt").write_text("".join(lines))
    (main / f"{split}.txt").write_text("".join(f"{i}\n" for i in objects))
    return root


def _vissl_targets_from_xml(root: Path, image_ids: list[str]) -> np.ndarray:
    """VISSL's VOC targets read straight from the XML: 1 present (a non-difficult object),
    -1 difficult only (ignored), 0 absent."""
    import xml.etree.ElementTree as ET

    out = np.zeros((len(image_ids), len(VOC_CLASSES)), dtype=np.int64)
    for row, image_id in enumerate(image_ids):
        for obj in ET.parse(root / "Annotations" / f"{image_id}.xml").getroot().iter("object"):
            col = VOC_CLASSES.index(obj.findtext("name"))
            if obj.findtext("difficult") == "0":
                out[row, col] = 1
            elif out[row, col] == 0:
                out[row, col] = -1
    return out


def test_voc_filelist_uses_vissl_targets(tmp_path) -> None:
    voc = _fake_voc(tmp_path / "VOC2007", _VOC_OBJECTS)
    summary = prepare("voc07", voc, tmp_path / "out")
    assert set(summary) == {"trainval"}
    paths = np.load(tmp_path / "out" / "trainval_images.npy")
    labels = np.load(tmp_path / "out" / "trainval_labels.npy")
    ids = [Path(p).stem for p in paths]
    assert ids == sorted(_VOC_OBJECTS) and all(Path(p).is_file() for p in paths)
    assert labels.dtype == np.int64 and labels.shape == (3, 20)
    np.testing.assert_array_equal(labels, _vissl_targets_from_xml(voc, ids))
    # the same facts spelled out: the difficult-only chair of 000005 is ignored, absent classes are 0
    chair, person, dog = (VOC_CLASSES.index(c) for c in ("chair", "person", "dog"))
    assert labels[0, person] == 1 and labels[0, chair] == -1 and labels[2, chair] == 1 and labels[2, dog] == 1
    assert labels[1, VOC_CLASSES.index("aeroplane")] == -1 and (labels == 0).sum() == 60 - 6


def test_voc_filelist_errors(tmp_path) -> None:
    (tmp_path / "VOC2012" / "ImageSets" / "Main").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="JPEGImages"):
        prepare("voc12", tmp_path / "VOC2012", tmp_path / "o2")
    voc = _fake_voc(tmp_path / "VOC2007", _VOC_OBJECTS)
    (voc / "ImageSets" / "Main" / "car_trainval.txt").write_text("000005 -1\n000007 2\n")
    with pytest.raises(ValueError, match=r"car_trainval.txt line 2: expected 'image_id 1\|-1\|0'"):
        prepare("voc07", voc, tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_voc_and_coco_outputs_open_with_filelist_source(tmp_path) -> None:
    from torch.utils.data import DataLoader

    from ssl_data import FileListSource

    voc = _fake_voc(tmp_path / "VOC2007", _VOC_OBJECTS)
    prepare("voc07", voc, tmp_path / "voc")
    ds = FileListSource(tmp_path / "voc" / "trainval_images.npy", tmp_path / "voc" / "trainval_labels.npy")
    assert len(ds) == 3 and ds.multi_label and ds.classes is None
    expected = _vissl_targets_from_xml(voc, sorted(_VOC_OBJECTS))
    image, label, index = ds[2]
    assert index == 2 and label.dtype == torch.int64 and label.tolist() == expected[2].tolist()
    assert np.abs(np.asarray(image, dtype=int) - 120).max() <= 2  # 000009: the third image written (JPEG)
    assert ds.targets == expected.tolist()
    ds.transform = lambda im: torch.from_numpy(np.asarray(im).copy())
    batch = next(iter(DataLoader(ds, batch_size=3)))
    assert batch[1].shape == (3, 20) and torch.equal(batch[1], torch.from_numpy(expected))
    _coco_layout(tmp_path / "coco")
    prepare("coco", tmp_path / "coco", tmp_path / "coco_out")
    coco = FileListSource(tmp_path / "coco_out" / "val_images.npy", tmp_path / "coco_out" / "val_labels.npy", mmap=False)
    # a.jpg (id 1) has category 90 -> column 1; b.jpg (id 2) has categories 1 and 90 -> both
    assert [coco[i][1].tolist() for i in range(2)] == [[0, 1], [1, 1]]


def _coco_layout(root: Path) -> Path:
    """COCO 2014: a.jpg (id 1) with category 90, b.jpg (id 2) with categories 1 and 90, per split."""
    for split in ("train", "val"):
        _img(root / f"{split}2014" / "a.jpg")
        _img(root / f"{split}2014" / "b.jpg")
        ann = {
            "images": [{"id": 2, "file_name": "b.jpg"}, {"id": 1, "file_name": "a.jpg"}],
            "categories": [{"id": 90, "name": "x"}, {"id": 1, "name": "y"}],
            "annotations": [{"image_id": 1, "category_id": 90}, {"image_id": 2, "category_id": 1}, {"image_id": 2, "category_id": 90}],
        }
        (root / "annotations").mkdir(exist_ok=True)
        (root / "annotations" / f"instances_{split}2014.json").write_text(json.dumps(ann))
    return root


def test_coco_filelist(tmp_path) -> None:
    prepare("coco", _coco_layout(tmp_path / "coco"), tmp_path / "out")
    # VISSL's convention as for VOC: 1 present, 0 absent (COCO has no "difficult", so no -1);
    # categories sorted by id: 1 -> column 0, 90 -> column 1
    assert np.load(tmp_path / "out" / "val_labels.npy").tolist() == [[0, 1], [1, 1]]
    assert Path(np.load(tmp_path / "out" / "val_images.npy")[0]).name == "a.jpg"


def test_dtd_food_pets(tmp_path) -> None:
    dtd = tmp_path / "dtd_in" / "dtd"
    for cls in ("banded", "dotted"):
        for i in range(3):
            _img(dtd / "images" / cls / f"{cls}_{i}.jpg")
    (dtd / "labels").mkdir()
    (dtd / "labels" / "train1.txt").write_text("banded/banded_0.jpg\ndotted/dotted_0.jpg\n")
    (dtd / "labels" / "val1.txt").write_text("banded/banded_1.jpg\n")
    (dtd / "labels" / "test1.txt").write_text("dotted/dotted_2.jpg\n")
    prepare("dtd", tmp_path / "dtd_in", tmp_path / "dtd_out")
    assert _tree(tmp_path / "dtd_out") == {
        "train": ["banded/banded_0.jpg", "banded/banded_1.jpg", "dotted/dotted_0.jpg"], "test": ["dotted/dotted_2.jpg"],
    }
    food = tmp_path / "food-101"
    for cls, i in (("pizza", "1"), ("sushi", "2"), ("pizza", "3")):
        _img(food / "images" / cls / f"{i}.jpg")
    (food / "meta").mkdir()
    (food / "meta" / "train.txt").write_text("pizza/1\nsushi/2\n")
    (food / "meta" / "test.txt").write_text("pizza/3\n")
    prepare("food101", tmp_path, tmp_path / "food_out")
    assert _tree(tmp_path / "food_out") == {"train": ["pizza/1.jpg", "sushi/2.jpg"], "val": ["pizza/3.jpg"]}
    pets = tmp_path / "pets"
    for n in ("Abyssinian_1", "american_bulldog_2", "Abyssinian_3"):
        _img(pets / "images" / f"{n}.jpg")
    (pets / "annotations").mkdir()
    (pets / "annotations" / "trainval.txt").write_text("Abyssinian_1 1 1 1\namerican_bulldog_2 2 2 1\n")
    (pets / "annotations" / "test.txt").write_text("Abyssinian_3 1 1 1\n")
    prepare("oxford_pets", pets, tmp_path / "pets_out")
    assert _tree(tmp_path / "pets_out")["train"] == ["Abyssinian/Abyssinian_1.jpg", "american_bulldog/american_bulldog_2.jpg"]


def test_eurosat_and_caltech_seeded_splits(tmp_path) -> None:
    for cls in ("AnnualCrop", "Forest"):
        for i in range(10):
            _img(tmp_path / "eu" / "2750" / cls / f"{cls}_{i}.jpg")
    prepare("euro_sat", tmp_path / "eu", tmp_path / "eu_out", val_fraction=0.2, seed=1)
    tree = _tree(tmp_path / "eu_out")
    assert len(tree["train"]) == 16 and len(tree["val"]) == 4 and not set(tree["train"]) & set(tree["val"])
    for cls in ("ant", "BACKGROUND_Google"):
        for i in range(5):
            _img(tmp_path / "cal" / "caltech101" / "101_ObjectCategories" / cls / f"image_{i:04d}.jpg")
    prepare("caltech101", tmp_path / "cal", tmp_path / "cal_out", train_per_class=3)
    tree = _tree(tmp_path / "cal_out")
    assert len(tree["train"]) == 3 and len(tree["test"]) == 2 and all(e.startswith("ant/") for e in tree["train"])


def test_aircraft_gtsrb_flowers(tmp_path) -> None:
    data = tmp_path / "fgvc-aircraft-2013b" / "data"
    for i in ("1025794", "1340192"):
        _img(data / "images" / f"{i}.jpg")
    (data / "images_variant_trainval.txt").write_text("1025794 707-320\n")
    (data / "images_variant_test.txt").write_text("1340192 F-16A/B\n")
    prepare("fgvc_aircraft", tmp_path, tmp_path / "air_out")
    assert _tree(tmp_path / "air_out") == {"trainval": ["707-320/1025794.jpg"], "test": ["F-16A_B/1340192.jpg"]}

    g = tmp_path / "GTSRB"
    _img(g / "Final_Training" / "Images" / "00000" / "00000_00000.ppm")
    _img(g / "Final_Training" / "Images" / "00012" / "00000_00001.ppm")
    _img(g / "Final_Test" / "Images" / "00000.ppm")
    with (g / "Final_Test" / "Images" / "GT-final_test.csv").open("w", newline="") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow(["Filename", "Width", "Height", "Roi.X1", "Roi.Y1", "Roi.X2", "Roi.Y2", "ClassId"])
        w.writerow(["00000.ppm", 4, 4, 0, 0, 3, 3, 12])
    prepare("gtsrb", tmp_path, tmp_path / "gtsrb_out")
    assert _tree(tmp_path / "gtsrb_out") == {"train": ["0/00000_00000.ppm", "12/00000_00001.ppm"], "test": ["12/00000.ppm"]}

    savemat = pytest.importorskip("scipy.io").savemat
    fl = tmp_path / "flowers-102"
    for i in range(1, 5):
        _img(fl / "jpg" / f"image_{i:05d}.jpg")
    savemat(fl / "imagelabels.mat", {"labels": np.array([[1, 2, 1, 102]])})
    savemat(fl / "setid.mat", {"trnid": np.array([[1]]), "valid": np.array([[2]]), "tstid": np.array([[3, 4]])})
    prepare("oxford_flowers", tmp_path, tmp_path / "fl_out")
    assert _tree(tmp_path / "fl_out") == {"train": ["0/image_00001.jpg", "1/image_00002.jpg"], "test": ["0/image_00003.jpg", "101/image_00004.jpg"]}


def test_dsprites(tmp_path) -> None:
    n = 12
    classes = np.zeros((n, 6), dtype=np.int64)
    classes[:, 3] = np.arange(n) * 3  # orientation 0..33
    classes[:, 4] = np.arange(n) * 2  # x position 0..22
    imgs = np.zeros((n, 8, 8), dtype=np.uint8)
    np.savez(tmp_path / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz", imgs=imgs, latents_classes=classes)
    prepare("dsprites_location", tmp_path, tmp_path / "loc", num_train=8, num_val=4)
    labels = sorted(int(e.split("/")[0]) for s in _tree(tmp_path / "loc").values() for e in s)
    assert labels == sorted(int(x) // 2 for x in classes[:, 4])
    prepare("dsprites_orientation", tmp_path, tmp_path / "ori", num_train=8, num_val=4)
    labels = sorted(int(e.split("/")[0]) for s in _tree(tmp_path / "ori").values() for e in s)
    assert labels == sorted(int(x) * 16 // 40 for x in classes[:, 3])
    assert not (tmp_path / "loc" / ".dsprites_png").exists()


def test_sun397_imagenet_ood_inaturalist(tmp_path) -> None:
    sun = tmp_path / "sun"
    _img(sun / "SUN397" / "a" / "abbey" / "sun_a.jpg")
    _img(sun / "SUN397" / "b" / "bakery" / "shop" / "sun_b.jpg")
    (sun / "Partitions").mkdir()
    (sun / "Partitions" / "Training_01.txt").write_text("/a/abbey/sun_a.jpg\n")
    (sun / "Partitions" / "Testing_01.txt").write_text("/b/bakery/shop/sun_b.jpg\n")
    prepare("sun397", sun, tmp_path / "sun_out")
    assert np.load(tmp_path / "sun_out" / "val_labels.npy").tolist() == ["b/bakery/shop"]

    for name in ("imagenet-a", "imagenet-r"):
        _img(tmp_path / "ood" / name / "n01498041" / "0.jpg")
    (tmp_path / "wnids.txt").write_text("n01440764\nn01498041\n")
    prepare("imagenet_ood", tmp_path / "ood", tmp_path / "ood_out", class_index_file=tmp_path / "wnids.txt")
    assert np.load(tmp_path / "ood_out" / "imagenet-r" / "test_labels.npy").tolist() == [1]

    inat = tmp_path / "inat"
    _img(inat / "train_val2018" / "Aves" / "2229" / "x.jpg")
    for split in ("train", "val"):
        (inat / f"{split}2018.json").write_text(json.dumps({
            "images": [{"id": 7, "file_name": "train_val2018/Aves/2229/x.jpg"}],
            "annotations": [{"image_id": 7, "category_id": 2229}],
        }))  # fmt: skip
    prepare("inaturalist2018", inat, tmp_path / "inat_out")
    assert np.load(tmp_path / "inat_out" / "train_labels.npy").tolist() == [2229]


def test_clevr_count_and_dist(tmp_path) -> None:
    root = tmp_path / "CLEVR_v1.0"
    (root / "scenes").mkdir(parents=True)
    for split in ("train", "val"):
        scenes = []
        for i, depths in enumerate(([12.0, 8.2, 9.0], [10.5, 11.0, 12.0, 13.0, 9.7])):
            fn = f"CLEVR_{split}_{i:06d}.png"
            _img(root / "images" / split / fn)
            scenes.append({"image_filename": fn, "objects": [{"pixel_coords": [1, 2, d]} for d in depths]})
        (root / "scenes" / f"CLEVR_{split}_scenes.json").write_text(json.dumps({"scenes": scenes}))
    prepare("clevr_count", tmp_path, tmp_path / "count")
    assert np.load(tmp_path / "count" / "train_labels.npy").tolist() == [0, 2]
    prepare("clevr_dist", tmp_path, tmp_path / "dist")
    # bins [0,8) [8,8.5) [8.5,9) [9,9.5) [9.5,10) [10,100): 8.2 -> 1, 9.7 -> 4
    assert np.load(tmp_path / "dist" / "val_labels.npy").tolist() == [1, 4]


def test_errors_and_atomicity(tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        prepare("nope", tmp_path, tmp_path / "o")
    with pytest.raises(ValueError, match="unknown option"):
        prepare("dtd", tmp_path, tmp_path / "o", bogus=1)
    with pytest.raises(FileNotFoundError, match="official layout not found"):
        prepare("dtd", tmp_path, tmp_path / "o")
    with pytest.raises(ValueError, match="no automatic download"):
        prepare("coco", tmp_path, tmp_path / "o", download=True)
    # a split that refers to a missing image fails without leaving a partial split folder
    dtd = tmp_path / "dtd"
    _img(dtd / "images" / "banded" / "banded_0.jpg")
    (dtd / "labels").mkdir()
    (dtd / "labels" / "train1.txt").write_text("banded/banded_0.jpg\nbanded/missing.jpg\n")
    (dtd / "labels" / "val1.txt").write_text("")
    (dtd / "labels" / "test1.txt").write_text("banded/banded_0.jpg\n")
    with pytest.raises(FileNotFoundError):
        prepare("dtd", tmp_path, tmp_path / "dtd_out")
    assert list((tmp_path / "dtd_out").iterdir()) == []
    assert all(callable(f) for f in PREPARERS.values()) and "partition" in preparer_options("dtd")


def test_stanford_cars(tmp_path) -> None:
    savemat = pytest.importorskip("scipy.io").savemat
    root = tmp_path / "stanford_cars"
    (root / "devkit").mkdir(parents=True)
    for folder, fname in (("cars_train", "00001.jpg"), ("cars_train", "00002.jpg"), ("cars_test", "00001.jpg")):
        _img(root / folder / fname)
    savemat(root / "devkit" / "cars_meta.mat", {"class_names": np.array(["AM General Hummer SUV 2000", "Ram C/V Cargo Van 2012"], dtype=object)})
    rec = np.dtype([("fname", "O"), ("class", "O")])
    savemat(root / "devkit" / "cars_train_annos.mat", {"annotations": np.array([("00001.jpg", 2), ("00002.jpg", 1)], dtype=rec)})
    savemat(root / "cars_test_annos_withlabels.mat", {"annotations": np.array([("00001.jpg", 1)], dtype=rec)})
    prepare("stanford_cars", tmp_path, tmp_path / "out")
    assert _tree(tmp_path / "out") == {
        "train": ["AM General Hummer SUV 2000/00002.jpg", "Ram C_V Cargo Van 2012/00001.jpg"],
        "val": ["AM General Hummer SUV 2000/00001.jpg"],
    }


def test_kitti_dist(tmp_path) -> None:
    root = tmp_path / "training"
    (root / "label_2").mkdir(parents=True)
    objects = {  # closest vehicle z -> expected class (VTAB: <8, 8-20, >20, none)
        "000000": (["Car 0 0 0 1 2 3 4 1.5 1.6 3.9 1.0 1.5 25.0 0.1", "Van 0 0 0 1 2 3 4 2 2 5 1.0 1.5 7.5 0.1"], "0"),
        "000001": (["Truck 0 0 0 1 2 3 4 3 2 9 1.0 1.5 12.0 0.1", "Pedestrian 0 0 0 1 2 3 4 1.7 0.6 0.8 1 1.5 3.0 0"], "1"),
        "000002": (["Car 0 0 0 1 2 3 4 1.5 1.6 3.9 1.0 1.5 45.0 0.1"], "2"),
        "000003": (["Cyclist 0 0 0 1 2 3 4 1.7 0.6 1.8 1 1.5 4.0 0", "DontCare -1 -1 -10 1 2 3 4 -1 -1 -1 -1000 -1000 -1000 -10"], "3"),
    }
    for stem, (lines, _) in objects.items():
        _img(root / "image_2" / f"{stem}.png")
        (root / "label_2" / f"{stem}.txt").write_text("\n".join(lines) + "\n")
    prepare("kitti_dist", tmp_path, tmp_path / "out", val_fraction=0.25)
    got = {e.split("/")[1][:-4]: e.split("/")[0] for s in _tree(tmp_path / "out").values() for e in s}
    assert got == {stem: label for stem, (_, label) in objects.items()}
    assert len(_tree(tmp_path / "out")["val"]) == 1
