"""ViRB's image-level datasets -> the layouts ``ssl benchmark virb-image`` reads.

- ``cifar100``: the python version (``cifar-100-python/{train,test,meta}``) -> disk_folder
  ``train/`` + ``val/`` of PNGs, one folder per fine label name (so ``--data OUT`` works for
  classification);
- ``thor_num_steps``: ``thor_num_steps/{train,val}/SCENE/X_rgb.jpg`` + ``{train,val}_labels.txt``
  ("train/SCENE/X steps") -> counting folders ``OUT/{train,val}/{steps}/SCENE_X_rgb.jpg``;
- ``thor_egomotion``: ``thor_action_prediction/{train,val}_labels.txt`` ("NAME ACTION") + images
  ``NAME_rgb_a.jpg`` / ``NAME_rgb_b.jpg`` -> ``OUT/train.csv`` / ``OUT/val.csv`` with
  ``first,second,action`` (MoveAhead 0, RotateLeft 1, RotateRight 2, LookUp 3, LookDown 4; the
  image paths absolute, the images stay in place).
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ssl_data.atomic_files import make_temp_dir
from ssl_data.prep._roots import find_root
from ssl_data.prep.binary_datasets import _png_splits
from ssl_data.prep.outputs import _atomic_write, link_or_copy, require_file, write_disk_folder
from ssl_data.prep.safe_pickle import load_array_pickle
from ssl_data.progress import ProgressFn

__all__ = ["THOR_ACTIONS", "cifar100", "thor_egomotion", "thor_num_steps"]

#: ViRB's THOR egomotion actions -> class ids.
THOR_ACTIONS = {"MoveAhead": 0, "RotateLeft": 1, "RotateRight": 2, "LookUp": 3, "LookDown": 4}


def cifar100(input_path: Path, output_dir: Path, progress: ProgressFn | None = None) -> dict[str, Any]:
    """CIFAR-100 python batches -> disk_folder ``train/`` / ``val/`` (the test set) of 32x32 PNGs
    named by fine label; ``progress("PNGs (train|val)", written, total)``."""
    root = find_root(input_path, "meta", ("cifar-100-python",))
    meta = load_array_pickle(root / "meta", "CIFAR-100 meta")
    names = meta.get("fine_label_names") if isinstance(meta, dict) else None
    if not isinstance(names, list) or len(names) != 100:
        raise ValueError(f"{root / 'meta'} has no list of 100 fine_label_names")

    def pairs(batch: str) -> list[tuple[np.ndarray, str]]:
        data = load_array_pickle(root / batch, f"CIFAR-100 {batch} batch")
        try:
            x, y = np.asarray(data["data"], dtype=np.uint8), [int(v) for v in data["fine_labels"]]
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{root / batch} lacks data / fine_labels ({e})") from None
        if x.ndim != 2 or x.shape[1] != 3072 or len(x) != len(y) or not all(0 <= v < 100 for v in y):
            raise ValueError(f"{root / batch}: expected data [N, 3072] and N fine labels in [0, 100), got {x.shape} and {len(y)}")
        images = x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return [(img, names[label]) for img, label in zip(images, y)]

    return _png_splits(Path(output_dir), {"train": pairs("train"), "val": pairs("test")}, progress)


def _label_lines(path: Path) -> list[tuple[str, str]]:
    rows = []
    for number, line in enumerate(require_file(path, "THOR label list").read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"{path}:{number}: expected 'NAME LABEL', got {line!r}")
        rows.append((parts[0], parts[1]))
    return rows


def thor_num_steps(input_path: Path, output_dir: Path) -> dict[str, Any]:
    """ViRB's THOR number-of-steps task -> counting folders (module docstring)."""
    root = find_root(input_path, "train_labels.txt", ("thor_num_steps",))
    checked = {}
    for split in ("train", "val"):
        items = []
        for key, label in _label_lines(root / f"{split}_labels.txt"):
            if not label.isdigit():
                raise ValueError(f"{root / f'{split}_labels.txt'}: the step count of {key} must be a whole number, got {label!r}")
            items.append((require_file(root / f"{key}_rgb.jpg", "THOR image"), str(int(label))))
        checked[split] = items
    # scenes reuse file names: link each image under "SCENE_NAME" first, so no two collide
    scratch = make_temp_dir(Path(output_dir), "thor")
    try:
        splits = {}
        for split, items in checked.items():
            (scratch / split).mkdir()
            splits[split] = [(link_or_copy(p, scratch / split / f"{p.parent.name}_{p.name}"), lab) for p, lab in items]
        return write_disk_folder(Path(output_dir), splits)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def thor_egomotion(input_path: Path, output_dir: Path) -> dict[str, Any]:
    """ViRB's THOR egomotion task -> ``train.csv`` / ``val.csv`` of image pairs (module docstring)."""
    root = find_root(input_path, "train_labels.txt", ("thor_action_prediction",))
    tables = {}
    for split in ("train", "val"):
        rows = []
        for name, action in _label_lines(root / f"{split}_labels.txt"):
            if action not in THOR_ACTIONS:
                raise ValueError(f"{root / f'{split}_labels.txt'}: unknown action {action!r}; known: {', '.join(THOR_ACTIONS)}")
            first = require_file(root / f"{name}_rgb_a.jpg", "THOR image").resolve()
            second = require_file(root / f"{name}_rgb_b.jpg", "THOR image").resolve()
            rows.append((str(first), str(second), THOR_ACTIONS[action]))
        if not rows:
            raise ValueError(f"{root / f'{split}_labels.txt'} lists no pairs")
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["first", "second", "action"])
        writer.writerows(rows)
        tables[split] = buf.getvalue().encode()
    out = {s: str(_atomic_write(Path(output_dir) / f"{s}.csv", lambda f, d=data: f.write(d))) for s, data in tables.items()}
    return {"output": out, "pairs": {s: t.count(b"\n") - 1 for s, t in tables.items()}}
