"""Writing data-prep outputs atomically: .npy/.json files and whole disk_folder split trees
(:mod:`ssl_data.atomic_files`: files and folders follow the user's umask)."""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ssl_data.atomic_files import explain_os_error, make_temp_dir, write_atomically
from ssl_data.progress import ProgressFn, tracked

__all__ = [
    "IMAGE_EXTENSIONS",
    "link_or_copy",
    "list_images",
    "read_json",
    "require_dir",
    "require_file",
    "save_json",
    "save_npy",
    "write_disk_folder",
    "write_filelist",
]

#: Older name of :func:`ssl_data.atomic_files.write_atomically`, still imported by prep modules.
_atomic_write = write_atomically

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def require_file(path: Path, what: str) -> Path:
    """``path`` if it is a file, else FileNotFoundError naming ``what`` and the path."""
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path


def read_json(path: Path, what: str) -> Any:
    """The parsed JSON file ``path``: FileNotFoundError naming ``what`` when it is missing,
    ValueError naming the file when it does not parse."""
    try:
        return json.loads(require_file(Path(path), what).read_text())
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
        raise ValueError(f"{path} is not valid JSON ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None


def require_dir(path: Path, what: str) -> Path:
    """``path`` if it is a folder, else FileNotFoundError naming ``what`` and the path."""
    if not path.is_dir():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder`` (sorted)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def save_npy(path: Path, array: Any) -> Path:
    """np.save, atomically (:mod:`ssl_data.atomic_files`: the user's umask, one-line disk-full and
    read-only errors)."""
    arr = np.asarray(array)
    return write_atomically(path, lambda f: np.save(f, arr, allow_pickle=False))


def save_json(path: Path, obj: Any) -> Path:
    """json.dump, atomically."""
    data = json.dumps(obj).encode()
    return write_atomically(path, lambda f: f.write(data))


def write_filelist(output_dir: Path, split: str, paths: Sequence[str | Path], labels: Any,
                   progress: ProgressFn | None = None) -> dict[str, str]:
    """VISSL disk_filelist: ``{split}_images.npy`` (absolute paths, str) and ``{split}_labels.npy``;
    ``progress(f"filelist ({split})", paths resolved, N)`` (about 40 us a path: ImageNet's 1.28 M
    take most of a minute)."""
    if len(paths) == 0:
        raise ValueError(f"no images found for split {split!r}")
    resolved = [str(Path(p).resolve()) for p in tracked(paths, f"filelist ({split})", len(paths), progress)]
    images = save_npy(output_dir / f"{split}_images.npy", np.array(resolved))
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


def write_disk_folder(output_dir: Path, splits: Mapping[str, Iterable[tuple[Path, str]]],
                      progress: ProgressFn | None = None) -> dict[str, str]:
    """VISSL disk_folder: ``OUT/{split}/{label}/{image}`` for every (image path, label);
    ``progress(f"images ({split})", linked or copied, N)``.

    Images are hard-linked when possible, else copied. Each split tree is built in a temporary
    folder inside ``output_dir`` and renamed into place only when complete (an existing split
    folder is replaced), so an interrupted run never leaves a partial split. Folders follow the
    user's umask; a full disk or read-only folder is one ``OSError`` line (the size of the images
    to copy and the space free, or the folder).
    """
    written: dict[str, str] = {}
    for split, items in splits.items():
        tmp = make_temp_dir(output_dir, split)
        final = output_dir / split
        pairs = list(items)
        try:
            for src, label in tracked(pairs, f"images ({split})", len(pairs), progress):
                dst_dir = tmp / _safe_name(label)
                dst_dir.mkdir(exist_ok=True)
                link_or_copy(src, dst_dir / src.name)
            if not pairs:
                raise ValueError(f"no images found for split {split!r}")
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
            written[split] = str(final)
        except OSError as err:
            shutil.rmtree(tmp, ignore_errors=True)
            full = err.errno in (errno.ENOSPC, errno.EDQUOT)
            needed = sum(src.stat().st_size for src, _ in pairs) if full else None  # copies, not links
            raise explain_os_error(err, final, output_dir, needed) from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return written
