"""VTAB datasets shipped as arrays (SmallNORB binary matrices, PatchCamelyon HDF5) -> disk_folder
of PNG files."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ssl_data.atomic_files import make_temp_dir
from ssl_data.prep._roots import find_root
from ssl_data.prep.outputs import require_file, write_disk_folder
from ssl_data.progress import ProgressFn

__all__ = ["patch_camelyon", "read_norb_matrix", "small_norb_azimuth", "small_norb_elevation"]

_NORB_DTYPES = {0x1E3D4C55: np.uint8, 0x1E3D4C54: np.int32}


def read_norb_matrix(path: Path) -> np.ndarray:
    """Read a SmallNORB binary matrix (``*-dat.mat``, ``*-cat.mat``, ``*-info.mat``; not MATLAB
    files): little-endian int32 magic (uint8 0x1E3D4C55 / int32 0x1E3D4C54), ndim, max(3, ndim)
    dims, then the data."""
    raw = require_file(Path(path), "SmallNORB file").read_bytes()
    header = np.frombuffer(raw[:8], dtype="<i4")
    if len(header) < 2 or int(header[0]) not in _NORB_DTYPES:
        raise ValueError(f"{path} is not a SmallNORB binary matrix")
    ndim = int(header[1])
    dims = np.frombuffer(raw[8 : 8 + 4 * max(3, ndim)], dtype="<i4")[:ndim]
    offset = 8 + 4 * max(3, ndim)
    return np.frombuffer(raw[offset:], dtype=np.dtype(_NORB_DTYPES[int(header[0])]).newbyteorder("<")).reshape(dims)


def _png_splits(output_dir: Path, splits: dict[str, Iterable[tuple[np.ndarray, str]]],
                progress: ProgressFn | None = None) -> dict[str, Any]:
    """Write each (image array, label) as PNG in a scratch folder, then publish the disk_folder;
    ``progress(f"PNGs ({split})", written, total)`` (total 0 when ``pairs`` has no length), then
    ``progress(f"images ({split})", linked, total)``."""
    scratch = make_temp_dir(Path(output_dir), "png-scratch")
    try:
        items: dict[str, list[tuple[Path, str]]] = {}
        for split, pairs in splits.items():
            items[split] = []
            total = len(pairs) if hasattr(pairs, "__len__") else 0
            for i, (arr, label) in enumerate(pairs):
                png = scratch / f"{split}_{i:07d}.png"
                Image.fromarray(arr).save(png)
                items[split].append((png, label))
                if progress is not None:
                    progress(f"PNGs ({split})", i + 1, total)
        return write_disk_folder(Path(output_dir), items, progress)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _small_norb(input_path: Path, output_dir: Path, column: int, to_label: Callable[[int], int],
                progress: ProgressFn | None = None) -> dict[str, Any]:
    root = find_root(input_path, "smallnorb-5x46789x9x18x6x2x96x96-training-dat.mat", ("smallnorb", "norb"))

    def pairs(kind: str) -> Iterator[tuple[np.ndarray, str]]:
        stem = {"train": "smallnorb-5x46789x9x18x6x2x96x96-training", "val": "smallnorb-5x01235x9x18x6x2x96x96-testing"}[kind]
        dat = read_norb_matrix(root / f"{stem}-dat.mat")
        info = read_norb_matrix(root / f"{stem}-info.mat")
        if len(dat) != len(info):
            raise ValueError(f"{stem}: {len(dat)} images but {len(info)} info rows")
        for img, row in zip(dat, info):
            yield img[0], str(to_label(int(row[column])))  # first camera of the stereo pair (VTAB)

    return _png_splits(Path(output_dir), {"train": pairs("train"), "val": pairs("val")}, progress)


def small_norb_azimuth(input_path: Path, output_dir: Path, progress: ProgressFn | None = None) -> dict[str, Any]:
    """SmallNORB (the official ``*-dat.mat``/``*-info.mat`` binary files) -> disk_folder with the
    azimuth (0, 2, ..., 34 -> classes 0..17) of the first camera's image; train/val = the official
    training/testing files."""
    return _small_norb(input_path, output_dir, 2, lambda v: v // 2, progress)


def small_norb_elevation(input_path: Path, output_dir: Path, progress: ProgressFn | None = None) -> dict[str, Any]:
    """SmallNORB -> disk_folder with the elevation (classes 0..8)."""
    return _small_norb(input_path, output_dir, 1, lambda v: v, progress)


def patch_camelyon(input_path: Path, output_dir: Path, progress: ProgressFn | None = None) -> dict[str, Any]:
    """PatchCamelyon (``camelyonpatch_level_2_split_{train,valid,test}_{x,y}.h5``) -> disk_folder
    ``train/``, ``val/`` (valid), ``test/`` with classes 0/1 (96x96 PNG). Needs h5py."""
    try:
        import h5py
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("patch_camelyon needs h5py: pip install 'ssl-data[prep]'") from None
    root = find_root(input_path, "camelyonpatch_level_2_split_train_x.h5", ("pcam",))

    def pairs(split: str) -> Iterator[tuple[np.ndarray, str]]:
        x_path = require_file(root / f"camelyonpatch_level_2_split_{split}_x.h5", "PCam images")
        y_path = require_file(root / f"camelyonpatch_level_2_split_{split}_y.h5", "PCam labels")
        with h5py.File(x_path, "r") as fx, h5py.File(y_path, "r") as fy:
            xs, ys = fx["x"], fy["y"]
            for i in range(len(xs)):
                yield np.asarray(xs[i]), str(int(np.asarray(ys[i]).ravel()[0]))

    return _png_splits(Path(output_dir), {"train": pairs("train"), "val": pairs("valid"), "test": pairs("test")}, progress)
