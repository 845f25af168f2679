"""Tiny benchmark datasets written to disk as real image files, in the layouts the benchmarks read:
ImageFolder trees, Pascal VOC (XML + class lists), COCO JSON, revisited Oxford (gnd pickle),
CopyDays folders and an ImageNet-R-style wnid tree. Every class has its own colour, so a random
trunk already separates the classes."""

from __future__ import annotations

import colorsys
import json
import pickle
from pathlib import Path

import numpy as np
import torch
from PIL import Image

__all__ = [
    "VOC_CLASSES",
    "class_colour",
    "save_tiny_checkpoint",
    "write_coco",
    "write_copydays",
    "write_image_folder",
    "write_instre",
    "write_ood_folder",
    "write_revisited",
    "write_voc",
]

VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
    "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)


def class_colour(c: int, num_classes: int) -> np.ndarray:
    """A saturated colour per class, hues evenly spaced (uint8 [3])."""
    r, g, b = colorsys.hsv_to_rgb(c / num_classes, 0.9, 0.9)
    return (np.array([r, g, b]) * 255).astype(np.uint8)


def _noisy(colour: np.ndarray, size: int, rng: np.random.Generator, noise: int = 12) -> np.ndarray:
    base = np.broadcast_to(colour.astype(np.int16), (size, size, 3))
    return np.clip(base + rng.integers(-noise, noise + 1, (size, size, 3)), 0, 255).astype(np.uint8)


def save_tiny_checkpoint(path: Path, num_outputs: int = 0, favourite: int | None = None) -> Path:
    """A tiny untrained ResNet-18 trunk (width 1/8, small input, 64 features) as an ssl checkpoint.

    With ``num_outputs`` a linear ``mlp`` head ``[64 -> num_outputs]`` follows, all weights zero
    and bias 10 at ``favourite`` (so every image is predicted as class ``favourite``).
    """
    import ssl_models
    from ssl_models import checkpoint as ckpt

    torch.manual_seed(0)
    trunk = ssl_models.build_trunk("resnet18", width_multiplier=0.125, small_input=True)
    heads = []
    if num_outputs:
        head = ssl_models.MLPHead([trunk.num_features, num_outputs])
        with torch.no_grad():
            for p in head.parameters():
                p.zero_()
            if favourite is not None:
                head.clf[0].bias[favourite] = 10.0
        heads.append(head)
    return ckpt.save_checkpoint(ckpt.model_payload(trunk, heads=heads), path)


def write_image_folder(root: Path, num_classes: int = 3, train_per_class: int = 8, test_per_class: int = 4,
                       size: int = 16) -> Path:
    """``root/train/cK/*.png`` and ``root/val/cK/*.png``: noisy solid colours, one colour per class."""
    rng = np.random.default_rng(0)
    for split, count in (("train", train_per_class), ("val", test_per_class)):
        for c in range(num_classes):
            folder = root / split / f"c{c}"
            folder.mkdir(parents=True)
            for i in range(count):
                Image.fromarray(_noisy(class_colour(c, num_classes), size, rng)).save(folder / f"{i}.png")
    return root


def _box_image(c: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Grey noise with one coloured square of class ``c``; the box is (x0, y0, x1, y1), pixels x0..x1-1."""
    image = _noisy(np.array([128, 128, 128], dtype=np.uint8), size, rng)
    side = int(rng.integers(size // 3, size // 2 + 1))
    x0, y0 = (int(v) for v in rng.integers(0, size - side, 2))
    image[y0 : y0 + side, x0 : x0 + side] = class_colour(c, len(VOC_CLASSES))
    return image, (x0, y0, x0 + side, y0 + side)


def write_voc(root: Path, trainval_per_class: int = 3, test_per_class: int = 2, size: int = 32) -> Path:
    """A ``VOC2007``-style folder: one object per image, class ``i % 20``; in the test split every
    second image of class 0 is marked difficult (class list value 0, XML ``<difficult>1``)."""
    rng = np.random.default_rng(1)
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / sub).mkdir(parents=True)
    index = 0
    for split, per_class in (("trainval", trainval_per_class), ("test", test_per_class)):
        ids, flags = [], []
        for i in range(per_class * len(VOC_CLASSES)):
            c = i % len(VOC_CLASSES)
            image_id = f"{index:06d}"
            index += 1
            difficult = split == "test" and c == 0 and (i // len(VOC_CLASSES)) % 2 == 1
            image, (x0, y0, x1, y1) = _box_image(c, size, rng)
            Image.fromarray(image).save(root / "JPEGImages" / f"{image_id}.jpg", quality=95)
            (root / "Annotations" / f"{image_id}.xml").write_text(
                f"<annotation><filename>{image_id}.jpg</filename><size><width>{size}</width>"
                f"<height>{size}</height><depth>3</depth></size><object><name>{VOC_CLASSES[c]}</name>"
                f"<pose>Unspecified</pose><truncated>0</truncated><difficult>{int(difficult)}</difficult><bndbox><xmin>{x0 + 1}</xmin><ymin>{y0 + 1}</ymin>"
                f"<xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object></annotation>"
            )
            ids.append(image_id)
            flags.append((c, difficult))
        (root / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(ids) + "\n")
        for k, name in enumerate(VOC_CLASSES):
            lines = [f"{i} {0 if (c == k and d) else 1 if c == k else -1}" for i, (c, d) in zip(ids, flags)]
            (root / "ImageSets" / "Main" / f"{name}_{split}.txt").write_text("\n".join(lines) + "\n")
    return root


def write_coco(root: Path, num_classes: int = 2, per_split: dict[str, int] | None = None, size: int = 32) -> Path:
    """``root/annotations/instances_{split}.json`` + ``root/{split}/*.jpg`` (COCO 2017 layout),
    category ids 3, 5, ... (not contiguous, as in COCO)."""
    rng = np.random.default_rng(2)
    categories = [{"id": 3 + 2 * k, "name": f"thing{k}"} for k in range(num_classes)]
    (root / "annotations").mkdir(parents=True)
    for split, count in (per_split or {"train2017": 4, "val2017": 4}).items():
        (root / split).mkdir()
        images, annotations = [], []
        for i in range(count):
            c = i % num_classes
            image, (x0, y0, x1, y1) = _box_image(c, size, rng)
            name = f"{i:012d}.jpg"
            Image.fromarray(image).save(root / split / name, quality=95)
            images.append({"id": i + 1, "file_name": name, "width": size, "height": size})
            annotations.append({"id": i + 1, "image_id": i + 1, "category_id": categories[c]["id"], "iscrowd": 0,
                                "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0)})
        doc = {"images": images, "annotations": annotations, "categories": categories}
        (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(doc))
    return root


def write_revisited(root: Path, name: str = "roxford5k", size: int = 24) -> Path:
    """Revisited layout: ``gnd_<name>.pkl`` + ``jpg/``. Database: 3 colours x 2 images; query q
    has colour q: easy = the two images of its colour; query 1 also lists one as hard and the
    other colour's images as junk."""
    rng = np.random.default_rng(3)
    (root / "jpg").mkdir(parents=True)
    imlist, qimlist = [], []
    for c in range(3):
        for i in range(2):
            imlist.append(f"db_{c}_{i}")
            Image.fromarray(_noisy(class_colour(c, 3), size, rng)).save(root / "jpg" / f"db_{c}_{i}.jpg", quality=95)
    for q in range(2):
        qimlist.append(f"query_{q}")
        Image.fromarray(_noisy(class_colour(q, 3), size, rng)).save(root / "jpg" / f"query_{q}.jpg", quality=95)
    gnd = [
        {"easy": np.array([0, 1]), "hard": np.array([], dtype=np.int64), "junk": np.array([], dtype=np.int64),
         "bbx": np.array([0.0, 0.0, size, size])},
        {"easy": np.array([2]), "hard": np.array([3]), "junk": np.array([4]), "bbx": np.array([0.0, 0.0, size, size])},
    ]
    with (root / f"gnd_{name}.pkl").open("wb") as f:
        pickle.dump({"imlist": imlist, "qimlist": qimlist, "gnd": gnd}, f)
    return root


def write_copydays(root: Path, size: int = 24) -> Path:
    """CopyDays layout: ``database/2000{b}00.jpg`` originals and ``queries/strong_2000{b}01.jpg``
    copies of 3 blocks ``b`` (same colour per block)."""
    rng = np.random.default_rng(4)
    for sub in ("database", "queries"):
        (root / sub).mkdir(parents=True)
    for b in range(3):
        colour = class_colour(b, 3)
        Image.fromarray(_noisy(colour, size, rng)).save(root / "database" / f"2000{b}00.jpg", quality=95)
        Image.fromarray(_noisy(colour, size, rng)).save(root / "queries" / f"strong_2000{b}01.jpg", quality=95)
    return root


def write_ood_folder(root: Path, wnids: list[str], per_class: int = 2, size: int = 20) -> Path:
    """``root/<wnid>/*.png``, ``per_class`` images per wnid."""
    rng = np.random.default_rng(5)
    for c, wnid in enumerate(wnids):
        (root / wnid).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(_noisy(class_colour(c, len(wnids)), size, rng)).save(root / wnid / f"{i}.png")
    return root


def write_instre(root: Path, size: int = 24) -> Path:
    """INSTRE layout: ``gnd_instre.mat`` (cell arrays ``imlist``, ``qimlist``; struct array ``gnd``
    with 1-based ``ok``) and the images it names. Database: 3 colours x 2; query q has colour q."""
    from scipy.io import savemat

    rng = np.random.default_rng(6)
    names, queries = [], []
    for c in range(3):
        (root / f"obj{c}").mkdir(parents=True)
        for i in range(2):
            names.append(f"obj{c}/{i}.jpg")
            Image.fromarray(_noisy(class_colour(c, 3), size, rng)).save(root / names[-1], quality=95)
        queries.append(f"obj{c}/query.jpg")
        Image.fromarray(_noisy(class_colour(c, 3), size, rng)).save(root / queries[-1], quality=95)
    imlist = np.empty((len(names), 1), dtype=object)
    imlist[:, 0] = names
    qimlist = np.empty((len(queries), 1), dtype=object)
    qimlist[:, 0] = queries
    gnd = np.empty((1, len(queries)), dtype=[("ok", object)])
    for q in range(len(queries)):
        gnd[0, q]["ok"] = np.array([[2 * q + 1, 2 * q + 2]], dtype=np.float64)
    savemat(root / "gnd_instre.mat", {"imlist": imlist, "qimlist": qimlist, "gnd": gnd})
    return root
