"""ImageNet-21K (fall 2011 release) -> the ``imagenet21k_P`` layout MM-OVOD reads (after
Alibaba-MIIL's "ImageNet-21K Pretraining for the Masses" processing):

``OUT/imagenet21k_P/train/{wnid}/*.JPEG``, ``val/{wnid}/*.JPEG`` and
``imagenet21k_small_classes/{wnid}/*.JPEG``.

``-i`` holds the release's per-class archives (``n00005787.tar``, as ``fall11_whole.tar``
unpacks) and/or already extracted class folders (``n00005787/*.JPEG``). A class with fewer than
``min_images`` images goes whole to ``imagenet21k_small_classes``; every other class gives
``val_per_class`` images (seeded per class) to ``val`` and the rest to ``train``. ``resize``
> 0 re-encodes each image as JPEG (quality 95) with its shorter side ``resize`` pixels; 0 links
the original files (hard links when on one file system, else copies). The tree is built in a
hidden folder beside the output and renamed into place only when every class is done.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import shutil
import tarfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ssl_data.atomic_files import make_temp_dir
from ssl_data.prep.outputs import IMAGE_EXTENSIONS, link_or_copy, list_images, require_dir
from ssl_data.sources.image_file import open_image

__all__ = ["IMAGENET21K_SPLITS", "imagenet21k"]

#: The three folders of ``imagenet21k_P``.
IMAGENET21K_SPLITS = ("train", "val", "imagenet21k_small_classes")
_WNID = re.compile(r"^n\d{8}$")
_ARCHIVE_ERRORS = (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error)


def _class_sources(root: Path) -> dict[str, Path]:
    """``{wnid: folder or .tar}`` under ``root`` (a folder wins over an archive of the same class)."""
    found: dict[str, Path] = {}
    for entry in sorted(root.iterdir()):
        stem = entry.name[: -len(".tar")] if entry.name.endswith(".tar") else entry.name
        if _WNID.match(stem) and (entry.is_dir() or (entry.is_file() and entry.name.endswith(".tar"))):
            if stem not in found or entry.is_dir():
                found[stem] = entry
    if not found:
        raise ValueError(f"{root} has no class archive nXXXXXXXX.tar or class folder nXXXXXXXX/")
    return found


def _tar_images(archive: Path) -> list[tarfile.TarInfo]:
    try:
        with tarfile.open(archive, "r:*") as t:
            members = t.getmembers()  # reads the whole index: a truncated archive fails here
    except _ARCHIVE_ERRORS as e:
        raise ValueError(f"archive {archive} is truncated or corrupt ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    return sorted((m for m in members if m.isfile() and Path(m.name).suffix.lower() in IMAGE_EXTENSIONS), key=lambda m: m.name)


def _extract(archive: Path, members: list[tarfile.TarInfo], targets: list[Path]) -> None:
    """Write each member's bytes to its target; a short read is a ValueError naming the archive."""
    try:
        with tarfile.open(archive, "r:*") as t:
            for member, target in zip(members, targets):
                data = t.extractfile(member)
                if data is None:
                    raise ValueError(f"archive {archive}: cannot read {member.name}")
                with target.open("wb") as f:
                    shutil.copyfileobj(data, f)
    except _ARCHIVE_ERRORS as e:
        raise ValueError(f"archive {archive} is truncated or corrupt ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None


def _shrink(path: Path, side: int) -> None:
    """Re-encode ``path`` (in place) as JPEG with its shorter side ``side`` px."""
    with open_image(path, what="ImageNet-21K image", rgb=True) as im:
        w, h = im.size
        scale = side / min(w, h)
        small = im.resize((max(1, round(w * scale)), max(1, round(h * scale))), resample=3)  # bicubic
    small.save(path, format="JPEG", quality=95)


def imagenet21k(input_path: Path, output_dir: Path, min_images: int = 500, val_per_class: int = 50,
                resize: int = 0, seed: int = 0) -> dict[str, Any]:
    """Per-class ImageNet-21K archives or folders -> ``OUT/imagenet21k_P`` (module docstring).

    Returns ``{"output", "classes": {split: n}, "images": {split: n}}``; a corrupt archive or
    unreadable image is a ValueError naming it, and nothing is left in ``OUT``.
    """
    if min_images < 1 or val_per_class < 0 or val_per_class >= min_images:
        raise ValueError(f"need min_images >= 1 and 0 <= val_per_class < min_images, got {min_images} and {val_per_class}")
    if resize < 0:
        raise ValueError(f"resize must be >= 0 (0 keeps the files), got {resize}")
    sources = _class_sources(require_dir(Path(input_path), "ImageNet-21K folder"))
    out_dir = Path(output_dir)
    final = out_dir / "imagenet21k_P"
    created = not out_dir.exists()
    staging = make_temp_dir(out_dir, "imagenet21k_P")
    classes = dict.fromkeys(IMAGENET21K_SPLITS, 0)
    images = dict.fromkeys(IMAGENET21K_SPLITS, 0)
    try:
        for wnid, src in sources.items():
            members = _tar_images(src) if src.is_file() else list_images(src)
            names = [Path(m.name).name if isinstance(m, tarfile.TarInfo) else m.name for m in members]
            if len(set(names)) != len(names):
                raise ValueError(f"{src} holds two images of one file name")
            if not names:
                continue
            split_of = ["imagenet21k_small_classes"] * len(names) if len(names) < min_images else ["train"] * len(names)
            if len(names) >= min_images:
                for i in np.random.default_rng([seed, int(wnid[1:])]).choice(len(names), val_per_class, replace=False):
                    split_of[i] = "val"
            for split in set(split_of):
                (staging / split / wnid).mkdir(parents=True)
                classes[split] += 1
            if src.is_file():
                _extract(src, members, [staging / split / wnid / name for name, split in zip(names, split_of)])
            else:
                for path, name, split in zip(members, names, split_of):
                    link_or_copy(path, staging / split / wnid / name)
            for name, split in zip(names, split_of):
                if resize:
                    target = staging / split / wnid / name
                    if target.stat().st_nlink > 1:  # a hard link to the user's file: write a copy instead
                        tmp = target.with_name(target.name + ".copy")
                        shutil.copyfile(target, tmp)
                        os.replace(tmp, target)
                    _shrink(target, resize)
                images[split] += 1
        if not any(images.values()):
            raise ValueError(f"no images in the class archives or folders of {input_path}")
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created:
            with contextlib.suppress(OSError):
                out_dir.rmdir()  # only if empty: the folder this call made
        raise
    return {"output": str(final), "classes": classes, "images": images}
