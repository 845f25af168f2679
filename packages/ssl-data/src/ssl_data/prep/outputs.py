"""Writing data-prep outputs atomically: .npy/.json files and whole disk_folder split trees."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "IMAGE_EXTENSIONS",
    "link_or_copy",
    "list_images",
    "require_dir",
    "require_file",
    "save_json",
    "save_npy",
    "write_disk_folder",
    "write_filelist",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def require_file(path: Path, what: str) -> Path:
    """``path`` if it is a file, else FileNotFoundError naming ``what`` and the path."""
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path


def require_dir(path: Path, what: str) -> Path:
    """``path`` if it is a folder, else FileNotFoundError naming ``what`` and the path."""
    if not path.is_dir():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder`` (sorted)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _atomic_write(path: Path, write: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_npy(path: Path, array: Any) -> Path:
    """np.save, atomically (temp file in the same folder, fsync, rename)."""
    arr = np.asarray(array)
    return _atomic_write(path, lambda f: np.save(f, arr, allow_pickle=False))


def save_json(path: Path, obj: Any) -> Path:
    """json.dump, atomically."""
    data = json.dumps(obj).encode()
    return _atomic_write(path, lambda f: f.write(data))


def write_filelist(output_dir: Path, split: str, paths: Sequence[str | Path], labels: Any) -> dict[str, str]:
    """VISSL disk_filelist: ``{split}_images.npy`` (absolute paths, str) and ``{split}_labels.npy``."""
    if len(paths) == 0:
        raise ValueError(f"no images found for split {split!r}")
    images = save_npy(output_dir / f"{split}_images.npy", np.array([str(Path(p).resolve()) for p in paths]))
    lab = save_npy(output_dir / f"{split}_labels.npy", np.asarray(labels))
    return {"images": str(images), "labels": str(lab)}


def link_or_copy(src: Path, dst: Path) -> Path:
    """Hard-link ``src`` to ``dst`` (no extra disk space), or copy it when linking fails (another
    file system, no permission)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
    return dst


def _safe_name(label: str) -> str:
    name = str(label).strip().replace("/", "_").replace(os.sep, "_")
    if name in ("", ".", ".."):
        raise ValueError(f"label {label!r} cannot be a folder name")
    return name


def write_disk_folder(output_dir: Path, splits: Mapping[str, Iterable[tuple[Path, str]]]) -> dict[str, str]:
    """VISSL disk_folder: ``OUT/{split}/{label}/{image}`` for every (image path, label).

    Images are hard-linked when possible, else copied. Each split tree is built in a temporary
    folder inside ``output_dir`` and renamed into place only when complete (an existing split
    folder is replaced), so an interrupted run never leaves a partial split.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    for split, items in splits.items():
        tmp = Path(tempfile.mkdtemp(dir=output_dir, prefix=f".{split}."))
        try:
            count = 0
            for src, label in items:
                dst_dir = tmp / _safe_name(label)
                dst_dir.mkdir(exist_ok=True)
                link_or_copy(src, dst_dir / src.name)
                count += 1
            if count == 0:
                raise ValueError(f"no images found for split {split!r}")
            final = output_dir / split
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
            written[split] = str(final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return written
