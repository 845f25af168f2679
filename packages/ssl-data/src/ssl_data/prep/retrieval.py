"""Instance-retrieval sets (revisited Oxford/Paris) and ImageNet subsets as filelists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ssl_data.prep.outputs import require_dir, require_file, save_npy, write_filelist
from ssl_data.prep.safe_pickle import load_array_pickle
from ssl_data.progress import ProgressFn

__all__ = ["imagenet_subset", "revisited_retrieval"]


def revisited_retrieval(input_path: Path, output_dir: Path, name: str = "roxford5k") -> dict[str, Any]:
    """Revisited Oxford/Paris (``IN/{name}/gnd_{name}.pkl`` with ``imlist``/``qimlist`` and
    ``IN/{name}/jpg/``) -> ``OUT/{name}/database_images.npy`` and ``query_images.npy`` (absolute
    paths) and ``query_bbox.npy`` (float [Q, 4] query boxes, x1 y1 x2 y2). The ground truth pickle
    is read through the allow-list unpickler of :mod:`ssl_data.prep.safe_pickle` (a file naming
    anything but containers and NumPy arrays is a one-line ``ValueError``, before any of it runs)
    and stays where it is (the retrieval benchmark reads it)."""
    if name not in ("roxford5k", "rparis6k"):
        raise ValueError(f"name must be roxford5k or rparis6k, got {name!r}")
    base = Path(input_path)
    root = base / name if (base / name).is_dir() else base
    gnd_path = require_file(root / f"gnd_{name}.pkl", "ground-truth file")
    jpg = require_dir(root / "jpg", "image folder")
    gnd = load_array_pickle(gnd_path, "ground-truth file")  # allow-list: the file runs no code
    try:
        imlist, qimlist = list(gnd["imlist"]), list(gnd["qimlist"])
        boxes = np.array([g["bbx"] for g in gnd["gnd"]], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{gnd_path} is not a revisited-dataset ground-truth file ({type(e).__name__}: {e})") from None
    out = Path(output_dir) / name
    db = [jpg / f"{n}.jpg" for n in imlist]
    missing = [str(p) for p in db[:1] + [jpg / f"{q}.jpg" for q in qimlist[:1]] if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"image listed in {gnd_path.name} not found: {missing[0]}")
    return {
        "database": str(save_npy(out / "database_images.npy", np.array([str(p.resolve()) for p in db]))),
        "queries": str(save_npy(out / "query_images.npy", np.array([str((jpg / f"{q}.jpg").resolve()) for q in qimlist]))),
        "query_bbox": str(save_npy(out / "query_bbox.npy", boxes)),
    }


def imagenet_subset(input_path: Path, output_dir: Path, subset_file: Path, split: str = "train",
                    progress: ProgressFn | None = None) -> dict[str, Any]:
    """SimCLR's ImageNet 1 % / 10 % subsets: ``subset_file`` (lines "n01440764_10026.JPEG", from
    google-research/simclr ``imagenet_subsets``) + ``-i`` the ImageNet folder (``train/{wnid}/``)
    -> ``OUT/{split}_images.npy`` + ``{split}_labels.npy`` (labels: the wnid's index among the
    sorted class folders, as the full-ImageNet filelist); ``progress``: ``filelist ({split})``."""
    root = require_dir(Path(input_path), "ImageNet folder")
    train = root / "train" if (root / "train").is_dir() else root
    classes = sorted(p.name for p in train.iterdir() if p.is_dir())
    index = {c: i for i, c in enumerate(classes)}
    names = [ln.strip() for ln in require_file(Path(subset_file), "subset file").read_text().splitlines() if ln.strip()]
    paths, labels = [], []
    for n in names:
        wnid = n.split("_")[0]
        if wnid not in index:
            raise ValueError(f"{n} (in {subset_file}): class folder {train / wnid} not found")
        path = train / wnid / n
        if not path.is_file():
            raise FileNotFoundError(f"image listed in {subset_file} not found: {path}")
        paths.append(path)
        labels.append(index[wnid])
    return write_filelist(Path(output_dir), split, paths, np.array(labels, dtype=np.int64), progress)
