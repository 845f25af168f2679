"""ViRB's pixelwise datasets -> the layouts ``ssl benchmark segmentation`` / ``depth`` read.

Segmentation: ``OUT/{train,val}/images/NAME.EXT`` + ``OUT/{train,val}/masks/NAME.png`` (one
channel of class ids, 255 = ignore). Depth: ``OUT/{train,val}/images/NAME.EXT`` +
``OUT/{train,val}/depth/NAME.npy`` (float32 ``[H, W]``, 0 = no depth). Images are hard-linked
(or copied). Every input is read and checked before anything is written; the splits are built in
a hidden folder inside ``OUT`` and renamed into place only when all of them are complete.

Official layouts read (ViRB README's download table):

- ``cityscapes``: ``leftImg8bit/{train,val}/CITY/X_leftImg8bit.png`` +
  ``gtFine/{split}/CITY/X_gtFine_labelIds.png`` -> the 19 training classes (trainId), others 255;
- ``pets_masks``: ``images/NAME.jpg`` + ``annotations/trimaps/NAME.png`` (1 pet, 2 background,
  3 border) + ``annotations/{trainval,test}.txt`` -> masks 1 pet / 0 background / border 255;
- ``egohands``: ``_LABELLED_SAMPLES/VIDEO/frame_NNNN.jpg`` + ``VIDEO/polygons.mat`` (one struct
  per frame, fields myleft, myright, yourleft, yourright: [K, 2] x, y polygons) -> masks
  0 background, 1 yourleft, 2 yourright, 3 myleft, 4 myright (ViRB's class order); whole videos
  go to val (seeded, ``val_fraction``);
- ``nyu_depth`` / ``nyu_walkable``: ViRB's ``nyu.zip``: ``nyu/{train,test}/images/*.png`` +
  ``depths/*.tiff`` (metres) / ``walkable/*.png`` (non-zero = walkable), paired in sorted order;
- ``thor_depth``: ``thor_depth_prediction/{train,test}/SCENE/X_rgb.jpg`` + ``X_depth.jpg``
  (8-bit relative depth; written as ``(grey + 1) / 256`` so that every pixel is valid);
- ``taskonomy_depth``: ``BUILDING/rgb/point_P_view_V_domain_rgb.png`` +
  ``BUILDING/depth_zbuffer/point_P_view_V_domain_depth_zbuffer.png`` (uint16, 1/512 m, 65535 =
  no depth) -> metres; whole buildings go to val (seeded, ``val_fraction``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ssl_data.atomic_files import make_temp_dir
from ssl_data.prep._roots import find_root
from ssl_data.prep.outputs import link_or_copy, list_images, require_dir, require_file
from ssl_data.sources.image_file import open_image

__all__ = [
    "CITYSCAPES_TRAIN_IDS",
    "cityscapes",
    "egohands",
    "nyu_depth",
    "nyu_walkable",
    "pets_masks",
    "taskonomy_depth",
    "thor_depth",
]

#: Cityscapes labelId -> trainId of its 19 evaluated classes (road ... bicycle); the rest is 255.
CITYSCAPES_TRAIN_IDS = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12,
                        26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}  # fmt: skip
IGNORE = 255
_EGOHANDS_CLASSES = ("yourleft", "yourright", "myleft", "myright")  # ids 1..4

#: one sample: (output name without extension, source image, the target array)
Sample = tuple[str, Path, np.ndarray]


def _publish(output_dir: Path, splits: Mapping[str, Sequence[Sample]], kind: str) -> dict[str, Any]:
    """Write ``OUT/{split}/images`` + ``masks`` (kind "masks": uint8 PNG) or ``depth`` (float32
    .npy) for every split, all or nothing."""
    for split, samples in splits.items():
        if not samples:
            raise ValueError(f"no samples found for split {split!r}")
    output_dir = Path(output_dir)
    staging = make_temp_dir(output_dir, "virb")
    try:
        for split, samples in splits.items():
            (staging / split / "images").mkdir(parents=True)
            (staging / split / kind).mkdir()
            for name, image, target in samples:
                link_or_copy(image, staging / split / "images" / f"{name}{image.suffix.lower()}")
                if kind == "masks":
                    Image.fromarray(target.astype(np.uint8), mode="L").save(staging / split / kind / f"{name}.png")
                else:
                    np.save(staging / split / kind / f"{name}.npy", target.astype(np.float32), allow_pickle=False)
        written = {}
        for split in splits:
            final = output_dir / split
            if final.exists():
                shutil.rmtree(final)
            os.replace(staging / split, final)
            written[split] = len(splits[split])
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {"output": str(output_dir), "samples": written, "targets": kind}


def _read_grey(path: Path, what: str) -> np.ndarray:
    with open_image(require_file(path, what), what=what) as im:
        return np.asarray(im)


def _check_size(image: Path, target: np.ndarray, what: str) -> np.ndarray:
    with open_image(image, decode=False) as im:
        size = im.size
    if target.shape[:2] != (size[1], size[0]):
        raise ValueError(f"{what} is {target.shape[1]}x{target.shape[0]} but image {image} is {size[0]}x{size[1]}")
    return target


def cityscapes(input_path: Path, output_dir: Path) -> dict[str, Any]:
    """Cityscapes fine annotations -> segmentation layout with trainIds (module docstring)."""
    root = find_root(input_path, "gtFine", ("cityscapes",))
    lut = np.full(256, IGNORE, dtype=np.uint8)
    for label_id, train_id in CITYSCAPES_TRAIN_IDS.items():
        lut[label_id] = train_id
    splits: dict[str, list[Sample]] = {}
    for split in ("train", "val"):
        images = sorted(require_dir(root / "leftImg8bit" / split, "Cityscapes images").glob("*/*_leftImg8bit.png"))
        samples = []
        for image in images:
            stem = image.name[: -len("_leftImg8bit.png")]
            label = root / "gtFine" / split / image.parent.name / f"{stem}_gtFine_labelIds.png"
            ids = _read_grey(label, "Cityscapes label")
            if ids.ndim != 2:
                raise ValueError(f"Cityscapes label {label} must be one channel of label ids, got shape {ids.shape}")
            samples.append((stem, image, _check_size(image, lut[ids], f"label {label}")))
        splits[split] = samples
    return _publish(Path(output_dir), splits, "masks")


def pets_masks(input_path: Path, output_dir: Path, border: str = "ignore") -> dict[str, Any]:
    """Oxford-IIIT Pets trimaps -> binary segmentation (pet 1, background 0); the border class
    becomes 255 (``border="ignore"``), 1 (``"pet"``) or 0 (``"background"``)."""
    fill = {"ignore": IGNORE, "pet": 1, "background": 0}
    if border not in fill:
        raise ValueError(f"border must be one of {sorted(fill)}, got {border!r}")
    root = find_root(input_path, "annotations", ("oxford-iiit-pet", "pets"))
    lut = np.full(256, IGNORE, dtype=np.uint8)
    lut[1], lut[2], lut[3] = 1, 0, fill[border]
    splits: dict[str, list[Sample]] = {}
    for split, listing in (("train", "trainval.txt"), ("val", "test.txt")):
        lines = require_file(root / "annotations" / listing, "Pets split list").read_text().splitlines()
        samples = []
        for line in lines:
            if not line.strip() or line.startswith("#"):
                continue
            name = line.split()[0]
            trimap = _read_grey(root / "annotations" / "trimaps" / f"{name}.png", "Pets trimap")
            if trimap.ndim != 2 or not np.isin(trimap, (1, 2, 3)).all():
                raise ValueError(f"Pets trimap {name}.png must hold only the values 1, 2, 3")
            image = require_file(root / "images" / f"{name}.jpg", "Pets image")
            samples.append((name, image, _check_size(image, lut[trimap], f"trimap {name}.png")))
        splits[split] = samples
    return _publish(Path(output_dir), splits, "masks")


def _polygon_mask(size: tuple[int, int], frame: Any, source: Path) -> np.ndarray:
    from PIL import ImageDraw

    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    for class_id, field in enumerate(_EGOHANDS_CLASSES, start=1):
        try:
            points = np.asarray(frame[field], dtype=np.float64)
        except (ValueError, KeyError, IndexError, TypeError):
            raise ValueError(f"{source}: a frame has no {field} polygon field") from None
        if points.size == 0:
            continue
        if points.ndim != 2 or points.shape[1] != 2 or len(points) < 3:
            raise ValueError(f"{source}: {field} polygon must be [K >= 3, 2] x, y points, got shape {points.shape}")
        draw.polygon([(float(x), float(y)) for x, y in points], fill=class_id)
    return np.asarray(mask)


def egohands(input_path: Path, output_dir: Path, val_fraction: float = 0.1, seed: int = 0) -> dict[str, Any]:
    """EgoHands (``egohands_data.zip``) -> 5-class hand segmentation (module docstring). Needs scipy."""
    from scipy.io import loadmat

    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    root = find_root(input_path, "_LABELLED_SAMPLES", ("egohands_data", "egohands")) / "_LABELLED_SAMPLES"
    videos = sorted(v for v in root.iterdir() if v.is_dir())
    if len(videos) < 2:
        raise ValueError(f"{root} needs at least 2 video folders (train and val), found {len(videos)}")
    per_video: dict[str, list[Sample]] = {}
    for video in videos:
        mat = require_file(video / "polygons.mat", "EgoHands polygons")
        try:
            polygons = np.atleast_1d(loadmat(mat, squeeze_me=True)["polygons"])
        except (ValueError, KeyError, OSError, TypeError) as e:
            raise ValueError(f"{mat} is not EgoHands' polygons.mat ({type(e).__name__}: {e})") from None
        frames = list_images(video)
        if len(frames) != len(polygons):
            raise ValueError(f"{video}: {len(frames)} frames but {len(polygons)} polygon records")
        samples = []
        for frame_path, record in zip(frames, polygons):
            with open_image(frame_path, what="EgoHands frame", decode=False) as im:
                size = im.size
            samples.append((f"{video.name}_{frame_path.stem}", frame_path, _polygon_mask(size, record, mat)))
        per_video[video.name] = samples
    order = np.random.default_rng(seed).permutation(len(videos))
    n_val = max(1, int(round(len(videos) * val_fraction)))
    val = {videos[i].name for i in order[:n_val]}
    return _publish(Path(output_dir), {
        "train": [s for v, ss in per_video.items() if v not in val for s in ss],
        "val": [s for v, ss in per_video.items() if v in val for s in ss],
    }, "masks")  # fmt: skip


def _nyu(input_path: Path, folder: str, read: Callable[[Path], np.ndarray]) -> dict[str, list[Sample]]:
    root = find_root(input_path, "train", ("nyu",))
    splits: dict[str, list[Sample]] = {}
    for split, out in (("train", "train"), ("test", "val")):
        images = list_images(require_dir(root / split / "images", "NYU images"))
        targets = sorted(p for p in require_dir(root / split / folder, f"NYU {folder}").iterdir() if p.is_file())
        if len(images) != len(targets):
            raise ValueError(f"NYU {split}: {len(images)} images but {len(targets)} files in {folder}/")
        splits[out] = [(img.stem, img, _check_size(img, read(t), f"{folder} file {t}")) for img, t in zip(images, targets)]
    return splits


def nyu_depth(input_path: Path, output_dir: Path) -> dict[str, Any]:
    """ViRB's NYU folder -> depth layout (metres from the float ``.tiff`` maps)."""

    def read(path: Path) -> np.ndarray:
        depth = _read_grey(path, "NYU depth map").astype(np.float32)
        if depth.ndim != 2:
            raise ValueError(f"NYU depth map {path} must be one channel, got shape {depth.shape}")
        return np.where(np.isfinite(depth) & (depth > 0), depth, 0.0)

    return _publish(Path(output_dir), _nyu(input_path, "depths", read), "depth")


def nyu_walkable(input_path: Path, output_dir: Path) -> dict[str, Any]:
    """ViRB's NYU folder -> binary walkable-surface segmentation (non-zero -> 1)."""

    def read(path: Path) -> np.ndarray:
        mask = _read_grey(path, "NYU walkable mask")
        return (mask.reshape(mask.shape[0], mask.shape[1], -1).max(axis=2) != 0).astype(np.uint8)

    return _publish(Path(output_dir), _nyu(input_path, "walkable", read), "masks")


def thor_depth(input_path: Path, output_dir: Path) -> dict[str, Any]:
    """ViRB's THOR depth archive -> depth layout (relative depth, module docstring)."""
    root = find_root(input_path, "train", ("thor_depth_prediction",))
    splits: dict[str, list[Sample]] = {}
    for split, out in (("train", "train"), ("test", "val")):
        samples = []
        for image in sorted(require_dir(root / split, f"THOR {split} folder").glob("*/*rgb.jpg")):
            grey = _read_grey(image.with_name(image.name[: -len("rgb.jpg")] + "depth.jpg"), "THOR depth image")
            grey = grey if grey.ndim == 2 else grey[..., 0]
            depth = (grey.astype(np.float32) + 1.0) / 256.0
            samples.append((f"{image.parent.name}_{image.name[: -len('_rgb.jpg')]}", image, _check_size(image, depth, f"depth of {image}")))
        splits[out] = samples
    return _publish(Path(output_dir), splits, "depth")


def taskonomy_depth(input_path: Path, output_dir: Path, val_fraction: float = 0.2, seed: int = 0) -> dict[str, Any]:
    """Taskonomy rgb + depth_zbuffer per building -> depth layout in metres (module docstring)."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    base = require_dir(Path(input_path), "Taskonomy folder")
    buildings = sorted(b for b in base.iterdir() if (b / "rgb").is_dir())
    if len(buildings) < 2:
        raise ValueError(f"{base} needs at least 2 building folders with rgb/ and depth_zbuffer/, found {len(buildings)}")
    per_building: dict[str, list[Sample]] = {}
    for building in buildings:
        samples = []
        for image in sorted((building / "rgb").glob("*_domain_rgb.png")):
            stem = image.name[: -len("_domain_rgb.png")]
            raw = _read_grey(building / "depth_zbuffer" / f"{stem}_domain_depth_zbuffer.png", "Taskonomy depth")
            if raw.ndim != 2 or raw.dtype != np.uint16 and raw.dtype != np.int32:
                raise ValueError(f"Taskonomy depth {stem} must be a 16-bit one-channel PNG, got {raw.dtype} {raw.shape}")
            depth = np.where(raw == 65535, 0.0, raw.astype(np.float32) / 512.0)
            samples.append((f"{building.name}_{stem}", image, _check_size(image, depth, f"depth of {image}")))
        per_building[building.name] = samples
    order = np.random.default_rng(seed).permutation(len(buildings))
    val = {buildings[i].name for i in order[: max(1, int(round(len(buildings) * val_fraction)))]}
    return _publish(Path(output_dir), {
        "train": [s for b, ss in per_building.items() if b not in val for s in ss],
        "val": [s for b, ss in per_building.items() if b in val for s in ss],
    }, "depth")  # fmt: skip
