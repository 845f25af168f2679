"""Colorization: quantised ab colour bins and their empirical priors from a set of images."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ssl_data.prep.outputs import IMAGE_EXTENSIONS, require_file, save_npy
from ssl_data.sources.image_file import open_image
from ssl_data.transforms.tensor_conversion import rgb_to_lab

__all__ = ["color_bins", "colorization_bins"]


def colorization_bins(
    image_paths: Sequence[str | Path], grid_size: float = 10.0, ab_max: float = 110.0, resize: int | None = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Histogram the Lab ``ab`` values of the images on a ``grid_size`` grid over
    ``[-ab_max, ab_max]^2`` (Zhang et al.: 10, 110 -> the ~313 in-gamut bins on natural images).

    Returns ``bins`` float32 [K, 2] (ab centres of the non-empty cells, row-major a then b) and
    ``priors`` float64 [K] (fraction of pixels per bin, sums to 1). ``resize`` shrinks the
    smaller image side first (speed); None keeps full resolution.
    """
    if not image_paths:
        raise ValueError("no images given for the colour bins")
    cells = int(round(2 * ab_max / grid_size))
    counts = np.zeros((cells, cells), dtype=np.int64)
    for p in image_paths:
        path = Path(p)
        require_file(path, "image")
        img = open_image(path, rgb=True)
        if resize is not None and min(img.size) > resize:
            scale = resize / min(img.size)
            img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.BILINEAR)
        rgb = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).double() / 255.0
        lab = rgb_to_lab(rgb).numpy()
        idx = np.clip(np.floor((lab[1:] + ab_max) / grid_size).astype(np.int64), 0, cells - 1)
        np.add.at(counts, (idx[0].ravel(), idx[1].ravel()), 1)
    ia, ib = np.nonzero(counts)
    centres = -ab_max + grid_size * (np.stack([ia, ib], 1) + 0.5)
    priors = counts[ia, ib] / counts.sum()
    return centres.astype(np.float32), priors


def _image_list(input_path: Path) -> list[Path]:
    if input_path.is_file() and input_path.suffix == ".npy":
        return [Path(str(p)) for p in np.load(input_path, allow_pickle=False)]
    if input_path.is_dir():
        return sorted(p for p in input_path.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    raise FileNotFoundError(f"colour-bin input must be an images .npy filelist or a folder of images: {input_path}")


def color_bins(
    input_path: Path, output_dir: Path, grid_size: float = 10.0, ab_max: float = 110.0, max_images: int | None = None, seed: int = 0
) -> dict[str, Any]:
    """Preparer ``color_bins``: ``-i`` a disk_filelist images .npy (or a folder of images) ->
    ``OUT/color_bins.npy`` (float32 [K, 2] ab centres) and ``OUT/color_priors.npy`` ([K]).
    ``max_images`` draws a seeded random subset. FAIR benchmark's
    ``generate_colorization_bins_priors``."""
    paths = _image_list(Path(input_path))
    if not paths:
        raise ValueError(f"no images found in {input_path}")
    if max_images is not None and len(paths) > max_images:
        keep = np.random.default_rng(seed).choice(len(paths), max_images, replace=False)
        paths = [paths[i] for i in sorted(keep)]
    bins, priors = colorization_bins(paths, grid_size, ab_max)
    out = Path(output_dir)
    return {
        "bins": str(save_npy(out / "color_bins.npy", bins)),
        "priors": str(save_npy(out / "color_priors.npy", priors)),
        "num_bins": int(len(bins)),
        "num_images": len(paths),
    }
