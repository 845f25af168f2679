"""Detection-data tools of MM-OVOD / Detic: LVIS rare-category removal, category info,
the ImageNet-21K subset overlapping LVIS, and exemplar sampling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ssl_data.prep.outputs import list_images, read_json, require_dir, save_json
from ssl_data.prep.wordnet_ids import category_wnids
from ssl_data.sources.image_file import open_image

__all__ = ["imagenet_lvis", "lvis_cat_info", "lvis_remove_rare", "sample_exemplars"]


def _lvis(path: Path) -> dict[str, Any]:
    data = read_json(path, "LVIS annotation file")
    if not isinstance(data, dict) or not {"categories", "annotations", "images"} <= set(data):
        raise ValueError(f"{path} is not an LVIS annotation file (needs images, annotations, categories)")
    return data


def lvis_remove_rare(input_path: Path, output_dir: Path) -> dict[str, Any]:
    """``-i lvis_v1_train.json`` -> ``OUT/lvis_v1_train_norare.json``: the annotations of rare
    categories (``frequency == "r"``) removed; categories and images kept (the open-vocabulary
    LVIS training set). MM-OVOD ``tools/remove_lvis_rare.py``."""
    data = _lvis(Path(input_path))
    rare = {c["id"] for c in data["categories"] if c.get("frequency") == "r"}
    before = len(data["annotations"])
    data["annotations"] = [a for a in data["annotations"] if a["category_id"] not in rare]
    out = save_json(Path(output_dir) / f"{Path(input_path).stem}_norare.json", data)
    return {"output": str(out), "rare_categories": len(rare), "removed_annotations": before - len(data["annotations"])}


def lvis_cat_info(input_path: Path, output_dir: Path) -> dict[str, Any]:
    """``-i lvis_v1_train.json`` -> ``OUT/{stem}_cat_info.json``: the categories, each with
    ``image_count`` (images with at least one instance) and ``instance_count`` recomputed from the
    annotations (what the federated loss samples from). MM-OVOD ``tools/get_lvis_cat_info.py``."""
    data = _lvis(Path(input_path))
    instances: dict[int, int] = {}
    images: dict[int, set[int]] = {}
    for a in data["annotations"]:
        instances[a["category_id"]] = instances.get(a["category_id"], 0) + 1
        images.setdefault(a["category_id"], set()).add(a["image_id"])
    cats = sorted(data["categories"], key=lambda c: c["id"])
    for c in cats:
        c["image_count"] = len(images.get(c["id"], ()))
        c["instance_count"] = instances.get(c["id"], 0)
    out = save_json(Path(output_dir) / f"{Path(input_path).stem}_cat_info.json", cats)
    return {"output": str(out), "categories": len(cats)}


def imagenet_lvis(input_path: Path, output_dir: Path, lvis_path: Path, wnid_map: Path | None = None,
                  wordnet_index: Path | None = None) -> dict[str, Any]:
    """The ImageNet-21K images whose class is an LVIS category (IN-L): ``-i imagenet21k_P`` (folder
    with ``train/{wnid}/*.JPEG``) + ``lvis_path`` (LVIS json) -> ``OUT/imagenet_lvis_image_info.json``
    ``{"images": [{"id", "file_name": "wnid/x.JPEG", "pos_category_ids": [lvis id], "width",
    "height"}], "categories": [...]}``. A category's wnid comes from its ``"wnid"`` field or from
    ``wnid_map`` (json ``{synset name or category id: wnid}``) or, for LVIS v1's WordNet synset
    names, from WordNet 3.0's ``index.noun`` given as ``wordnet_index`` (:mod:`ssl_data.prep.wordnet_ids`).
    MM-OVOD ``tools/create_imagenetlvis_json.py``."""
    root = require_dir(Path(input_path), "ImageNet-21K folder")
    train = root / "train" if (root / "train").is_dir() else root
    lvis = _lvis(Path(lvis_path))
    mapping = read_json(Path(wnid_map), "wnid map") if wnid_map is not None else {}
    by_wnid = category_wnids(lvis["categories"], mapping, Path(wordnet_index) if wordnet_index else None)
    if not by_wnid:
        raise ValueError("no LVIS category has a wnid: give wordnet_index (WordNet's index.noun) or wnid_map")
    images = []
    for wnid in sorted(by_wnid):
        folder = train / wnid
        if not folder.is_dir():
            continue
        for p in list_images(folder):
            with open_image(p, decode=False) as im:
                width, height = im.size
            images.append({
                "id": len(images) + 1, "file_name": f"{wnid}/{p.name}", "pos_category_ids": [by_wnid[wnid]],
                "width": width, "height": height,
            })  # fmt: skip
    if not images:
        raise ValueError(f"no image folder of an LVIS wnid under {train}")
    out = save_json(Path(output_dir) / "imagenet_lvis_image_info.json", {"images": images, "categories": lvis["categories"]})
    return {"output": str(out), "images": len(images), "categories": len({i["pos_category_ids"][0] for i in images})}


def sample_exemplars(input_path: Path, output_dir: Path, k: int = 5, seed: int = 0) -> dict[str, Any]:
    """``-i exemplar_dict.json`` (``{category: [exemplar, ...]}``) -> ``OUT/exemplar_dict_K-{k:03d}.json``
    with ``k`` exemplars per category drawn without replacement (seeded; all of them when a
    category has fewer). MM-OVOD ``tools/sample_exemplars.py -K``."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    data = read_json(Path(input_path), "exemplar dictionary")
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise ValueError(f"{input_path} must map each category to a list of exemplars")
    rng = np.random.default_rng(seed)
    sampled = {cat: [ex[i] for i in sorted(rng.choice(len(ex), min(k, len(ex)), replace=False))] for cat, ex in data.items()}
    short = sorted(cat for cat, ex in data.items() if len(ex) < k)
    out = save_json(Path(output_dir) / f"exemplar_dict_K-{k:03d}.json", sampled)
    return {"output": str(out), "categories": len(sampled), "categories_with_fewer_than_k": short}
