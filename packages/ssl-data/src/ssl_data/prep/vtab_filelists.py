"""VTAB/CLIP-style datasets converted to VISSL's disk_filelist layout (``{split}_images.npy``).

Each preparer reports ``progress(f"filelist ({split})", paths resolved, N)``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ssl_data.prep._roots import find_root
from ssl_data.prep.outputs import list_images, require_dir, require_file, write_filelist
from ssl_data.progress import ProgressFn

__all__ = ["clevr_count", "clevr_dist", "imagenet_ood", "inaturalist2018", "sun397"]


def _json(path: Path) -> Any:
    try:
        return json.loads(require_file(path, "annotation file").read_text())
    except ValueError as e:
        raise ValueError(f"{path} is not valid JSON ({e})") from None


def sun397(input_path: Path, output_dir: Path, partition: int = 1, progress: ProgressFn | None = None) -> dict[str, Any]:
    """SUN397 (``SUN397/{letter}/{class}/.../*.jpg`` and ``Partitions/{Training,Testing}_{p:02d}.txt``
    of "/a/abbey/sun_x.jpg" lines) -> filelist ``train`` / ``val`` with string class labels
    ("a/abbey")."""
    base = Path(input_path)
    root = find_root(base, "a", ("SUN397",))
    parts = next((p for p in (base / "Partitions", root / "Partitions", root) if (p / f"Training_{partition:02d}.txt").is_file()), None)
    if parts is None:
        raise FileNotFoundError(f"SUN397 partition files not found: {base / 'Partitions' / f'Training_{partition:02d}.txt'}")
    out = {}
    for split, name in (("train", "Training"), ("val", "Testing")):
        rels = [ln.strip().lstrip("/") for ln in (parts / f"{name}_{partition:02d}.txt").read_text().splitlines() if ln.strip()]
        labels = np.array([str(Path(r).parent) for r in rels])
        out[split] = write_filelist(Path(output_dir), split, [root / r for r in rels], labels, progress)
    return out


def imagenet_ood(input_path: Path, output_dir: Path, class_index_file: Path | None = None, progress: ProgressFn | None = None) -> dict[str, Any]:
    """ImageNet-A and ImageNet-R (``imagenet-a/{wnid}/*.jpg``, ``imagenet-r/{wnid}/*.jpg``) ->
    ``OUT/imagenet-a/test_images.npy`` + ``test_labels.npy`` (and the same for -r). Labels are the
    wnids (string labels), or ImageNet-1k class indices when ``class_index_file`` (one wnid per
    line, in class order) is given. The images stay in place."""
    base = require_dir(Path(input_path), "input folder")
    index = None
    if class_index_file is not None:
        wnids = [ln.strip() for ln in require_file(Path(class_index_file), "class index file").read_text().splitlines() if ln.strip()]
        index = {w: i for i, w in enumerate(wnids)}
    out = {}
    for name in ("imagenet-a", "imagenet-r"):
        root = base / name
        if not root.is_dir():
            continue
        paths, labels = [], []
        for cdir in sorted(c for c in root.iterdir() if c.is_dir()):
            imgs = list_images(cdir)
            if index is not None and cdir.name not in index:
                raise ValueError(f"{cdir.name} (in {root}) is not in {class_index_file}")
            paths += imgs
            labels += [index[cdir.name] if index is not None else cdir.name] * len(imgs)
        out[name] = write_filelist(Path(output_dir) / name, "test", paths, np.array(labels), progress)
    if not out:
        raise FileNotFoundError(f"neither {base / 'imagenet-a'} nor {base / 'imagenet-r'} exists")
    return out


def inaturalist2018(input_path: Path, output_dir: Path, progress: ProgressFn | None = None) -> dict[str, Any]:
    """iNaturalist 2018 (``train2018.json`` / ``val2018.json`` COCO-style, images under IN) ->
    filelist ``train`` / ``val`` with the category ids as labels."""
    root = require_dir(Path(input_path), "input folder")
    out = {}
    for split in ("train", "val"):
        data = _json(root / f"{split}2018.json")
        try:
            label = {a["image_id"]: int(a["category_id"]) for a in data["annotations"]}
            images = [(root / im["file_name"], label[im["id"]]) for im in data["images"]]
        except (KeyError, TypeError) as e:
            raise ValueError(f"{root / f'{split}2018.json'} lacks images/annotations fields ({e})") from None
        out[split] = write_filelist(Path(output_dir), split, [p for p, _ in images], np.array([c for _, c in images], dtype=np.int64), progress)
    return out


#: VTAB's CLEVR-distance bins on the closest object's depth (pixel_coords[2]).
CLEVR_DIST_THRESHOLDS = (0.0, 8.0, 8.5, 9.0, 9.5, 10.0, 100.0)


def _clevr(input_path: Path, output_dir: Path, label_of: Any, progress: ProgressFn | None = None) -> dict[str, Any]:
    root = find_root(input_path, "scenes", ("CLEVR_v1.0",))
    out = {}
    for split in ("train", "val"):
        scenes = _json(root / "scenes" / f"CLEVR_{split}_scenes.json")["scenes"]
        paths = [root / "images" / split / s["image_filename"] for s in scenes]
        out[split] = write_filelist(Path(output_dir), split, paths, np.array([label_of(s) for s in scenes], dtype=np.int64), progress)
    return out


def clevr_count(input_path: Path, output_dir: Path, progress: ProgressFn | None = None) -> dict[str, Any]:
    """CLEVR v1.0 (``scenes/CLEVR_{train,val}_scenes.json``, ``images/{split}/``) -> filelist with
    label = number of objects - 3 (3..10 objects -> classes 0..7, VTAB)."""
    return _clevr(input_path, output_dir, lambda s: len(s["objects"]) - 3, progress)


def clevr_dist(input_path: Path, output_dir: Path, progress: ProgressFn | None = None) -> dict[str, Any]:
    """CLEVR v1.0 -> filelist with the closest object's depth binned by VTAB's thresholds
    (0, 8, 8.5, 9, 9.5, 10, 100 -> classes 0..5)."""
    edges = np.array(CLEVR_DIST_THRESHOLDS)

    def label(s: dict[str, Any]) -> int:
        depth = min(o["pixel_coords"][2] for o in s["objects"])
        return int(np.searchsorted(edges, depth, side="right") - 1)

    return _clevr(input_path, output_dir, label, progress)
