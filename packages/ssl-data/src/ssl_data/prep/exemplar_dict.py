"""MM-OVOD's ``collate_exemplar_dict.py``: every LVIS category's image exemplars from LVIS boxes,
ImageNet-21K images and Visual Genome boxes, in one dictionary file.

``-i`` is MM-OVOD's ``datasets/`` folder (the sources it finds are used; LVIS is required):

- ``lvis/lvis_v1_train.json`` with the COCO images under ``coco/`` (an LVIS image's file is the
  last two parts of its ``coco_url``, e.g. ``coco/train2017/000000391895.jpg``): one exemplar per
  box of the category;
- ``imagenet/annotations/imagenet_lvis_image_info.json`` (``ssl data prepare imagenet_lvis``) with
  the images under ``imagenet/imagenet21k_P/train/``: whole images whose ``pos_category_ids``
  hold the category;
- ``VisualGenome/objects.json`` + ``image_data.json`` with ``VG_100K*/``: one exemplar per object
  box whose ``synsets`` hold the category's LVIS ``synset``.

Writes ``OUT/exemplar_dict.json``: ``{category id: [{"source": "imagenet" | "lvis" |
"visual_genome", "file_name": absolute path, "bbox": [x, y, w, h] or null, "id": source id},
...]}`` for every LVIS category in id order (the input of ``sample_exemplars``). Boxes smaller
than ``min_area`` px are skipped; per source and category the ``max_per_source`` largest boxes
(ImageNet: the first images in file order) are kept, 0 keeps all. MM-OVOD asks for at least 10
exemplars per category: those with fewer than ``min_exemplars`` are listed in the summary. The
selection rules are ours: MM-OVOD's documentation gives the sources and the file, not the rules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ssl_data.prep.lvis import _lvis
from ssl_data.prep.outputs import read_json, require_dir, require_file, save_json

__all__ = ["EXEMPLAR_SOURCES", "collate_exemplars"]

#: The sources of an exemplar, in the order they appear in each category's list.
EXEMPLAR_SOURCES = ("imagenet", "lvis", "visual_genome")


def _url_path(root: Path, url: str, where: str) -> Path:
    parts = str(url).replace("\\", "/").rstrip("/").split("/")
    if len(parts) < 2 or not parts[-1]:
        raise ValueError(f"{where}: cannot find a file name in {url!r}")
    return root / parts[-2] / parts[-1]


def _box(values: Any, where: str) -> list[float]:
    try:
        box = [float(v) for v in values]
    except (TypeError, ValueError):
        raise ValueError(f"{where}: bbox must be 4 numbers [x, y, w, h], got {values!r}") from None
    if len(box) != 4:
        raise ValueError(f"{where}: bbox must be 4 numbers [x, y, w, h], got {values!r}")
    return box


def _keep(items: list[dict[str, Any]], max_per_source: int, by_area: bool) -> list[dict[str, Any]]:
    if by_area:
        items = sorted(items, key=lambda e: (-e["bbox"][2] * e["bbox"][3], str(e["id"])))
    return items[:max_per_source] if max_per_source > 0 else items


def _lvis_exemplars(root: Path, data: dict[str, Any], min_area: float) -> dict[int, list[dict[str, Any]]]:
    coco = require_dir(root / "coco", "COCO image folder of LVIS")
    files = {}
    for img in data["images"]:
        url = img.get("coco_url") or img.get("file_name")
        if url is None:
            raise ValueError(f"LVIS image {img.get('id')} has neither coco_url nor file_name")
        files[img["id"]] = _url_path(coco, url, f"LVIS image {img.get('id')}")
    out: dict[int, list[dict[str, Any]]] = {}
    for a in data["annotations"]:
        box = _box(a.get("bbox"), f"LVIS annotation {a.get('id')}")
        if box[2] * box[3] < min_area:
            continue
        if a["image_id"] not in files:
            raise ValueError(f"LVIS annotation {a.get('id')} names image {a['image_id']}, which the file does not list")
        out.setdefault(a["category_id"], []).append(
            {"source": "lvis", "file_name": str(files[a["image_id"]]), "bbox": box, "id": a.get("id")})
    return out


def _imagenet_exemplars(root: Path) -> dict[int, list[dict[str, Any]]]:
    info = read_json(root / "annotations" / "imagenet_lvis_image_info.json", "ImageNet-LVIS image info")
    if not isinstance(info, dict) or not isinstance(info.get("images"), list):
        raise ValueError(f"{root / 'annotations/imagenet_lvis_image_info.json'} has no list of images")
    train = root / "imagenet21k_P" / "train"
    out: dict[int, list[dict[str, Any]]] = {}
    for img in info["images"]:
        for cat in img.get("pos_category_ids", []):
            out.setdefault(int(cat), []).append(
                {"source": "imagenet", "file_name": str(train / img["file_name"]), "bbox": None, "id": img.get("id")})
    return out


def _visual_genome_exemplars(root: Path, synsets: dict[str, int], min_area: float) -> dict[int, list[dict[str, Any]]]:
    objects = read_json(root / "objects.json", "Visual Genome objects.json")
    images = read_json(root / "image_data.json", "Visual Genome image_data.json")
    if not isinstance(objects, list) or not isinstance(images, list):
        raise ValueError(f"{root}: objects.json and image_data.json must be JSON lists")
    files = {}
    for img in images:
        ident = img.get("image_id", img.get("id"))
        if ident is None or "url" not in img:
            raise ValueError(f"{root / 'image_data.json'}: an image record lacks image_id or url")
        files[ident] = _url_path(root, img["url"], f"Visual Genome image {ident}")
    out: dict[int, list[dict[str, Any]]] = {}
    for entry in objects:
        ident = entry.get("image_id", entry.get("id"))
        for obj in entry.get("objects", []):
            cats = {synsets[s] for s in obj.get("synsets", []) if s in synsets}
            if not cats:
                continue
            box = _box([obj.get(k) for k in ("x", "y", "w", "h")], f"Visual Genome object {obj.get('object_id')}")
            if box[2] * box[3] < min_area:
                continue
            if ident not in files:
                raise ValueError(f"Visual Genome object {obj.get('object_id')} names image {ident}, which image_data.json lacks")
            for cat in cats:
                out.setdefault(cat, []).append(
                    {"source": "visual_genome", "file_name": str(files[ident]), "bbox": box, "id": obj.get("object_id")})
    return out


def collate_exemplars(input_path: Path, output_dir: Path, min_area: float = 1024.0, max_per_source: int = 50,
                      min_exemplars: int = 10, check_files: bool = True) -> dict[str, Any]:
    """MM-OVOD's ``datasets/`` -> ``OUT/exemplar_dict.json`` (module docstring). ``check_files``
    refuses, before writing, an exemplar whose image file is missing."""
    if min_area < 0 or max_per_source < 0 or min_exemplars < 0:
        raise ValueError(f"min_area, max_per_source and min_exemplars must be >= 0, got {min_area}, {max_per_source}, {min_exemplars}")
    root = require_dir(Path(input_path), "MM-OVOD datasets folder").resolve()
    lvis = _lvis(require_file(root / "lvis" / "lvis_v1_train.json", "LVIS train annotations"))
    cats = sorted(lvis["categories"], key=lambda c: c["id"])
    found = {"lvis": _lvis_exemplars(root, lvis, min_area)}
    if (root / "imagenet" / "annotations" / "imagenet_lvis_image_info.json").is_file():
        found["imagenet"] = _imagenet_exemplars(root / "imagenet")
    if (root / "VisualGenome" / "objects.json").is_file():
        synsets = {c["synset"]: c["id"] for c in cats if c.get("synset")}
        found["visual_genome"] = _visual_genome_exemplars(root / "VisualGenome", synsets, min_area)
    collated: dict[str, list[dict[str, Any]]] = {}
    for c in cats:
        collated[str(c["id"])] = [e for source in EXEMPLAR_SOURCES if source in found
                                  for e in _keep(found[source].get(c["id"], []), max_per_source, source != "imagenet")]
    if check_files:
        for path in sorted({e["file_name"] for ex in collated.values() for e in ex}):
            require_file(Path(path), "exemplar image")
    out = save_json(Path(output_dir) / "exemplar_dict.json", collated)
    counts = {s: sum(1 for ex in collated.values() for e in ex if e["source"] == s) for s in found}
    few = [int(k) for k, ex in collated.items() if len(ex) < min_exemplars]
    return {"output": str(out), "categories": len(collated), "exemplars": counts,
            "categories_with_fewer_than_min": few[:50], "num_categories_with_fewer_than_min": len(few)}
