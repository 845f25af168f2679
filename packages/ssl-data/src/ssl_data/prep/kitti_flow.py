"""KITTI 2015 scene flow (``data_scene_flow.zip``) -> ViRB's optical-flow task input.

Reads ``training/image_2/ID_10.png`` (first frame), ``ID_11.png`` (second frame) and
``training/flow_occ/ID_10.png``: a 16-bit RGB PNG whose channels are ``u``, ``v`` and a validity
flag, with ``flow = (value - 2**15) / 64`` pixels (KITTI's devkit convention). Writes
``OUT/{train,val}/first/ID.png``, ``second/ID.png`` and ``flow/ID.npy`` (float32 ``[H, W, 2]``,
``(u, v)``, NaN where the flag is 0). Like ViRB, the sorted pairs are split 90 % train / 10 % val.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ssl_data.atomic_files import make_temp_dir
from ssl_data.prep._roots import find_root
from ssl_data.prep.outputs import link_or_copy, require_dir, require_file
from ssl_data.sources.image_file import open_image

__all__ = ["kitti_flow", "read_kitti_flow"]


def read_kitti_flow(path: Path) -> np.ndarray:
    """A KITTI flow PNG -> float32 ``[H, W, 2]`` (u, v) in pixels, NaN where invalid."""
    import warnings

    import torch

    with warnings.catch_warnings():  # torchvision 0.29 deprecates its image codecs; PIL cannot read 16-bit RGB
        warnings.simplefilter("ignore", DeprecationWarning)
        from torchvision.io import ImageReadMode, decode_png

    with open_image(require_file(Path(path), "KITTI flow map"), what="KITTI flow map", decode=False):
        pass  # the header's pixel count, before torchvision decodes the whole file
    data = Path(path).read_bytes()
    try:
        raw = decode_png(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.UNCHANGED)
    except RuntimeError as e:
        raise ValueError(f"cannot read KITTI flow map {path}: {str(e).splitlines()[0]}") from None
    if raw.dtype != torch.uint16 or raw.shape[0] != 3:
        raise ValueError(f"KITTI flow map {path} must be a 16-bit RGB PNG, got {raw.dtype} with {raw.shape[0]} channels")
    values = raw.permute(1, 2, 0).numpy().astype(np.float64)
    flow = ((values[..., :2] - 2.0**15) / 64.0).astype(np.float32)
    flow[values[..., 2] == 0] = np.nan
    return flow


def kitti_flow(input_path: Path, output_dir: Path, train_fraction: float = 0.9) -> dict[str, Any]:
    """KITTI scene-flow training pairs -> first / second / flow folders (module docstring)."""
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    root = find_root(input_path, "training", ("data_scene_flow", "KITTI")) / "training"
    flows = sorted(require_dir(root / "flow_occ", "KITTI flow_occ folder").glob("*_10.png"))
    if len(flows) < 2:
        raise ValueError(f"{root / 'flow_occ'} needs at least 2 flow maps (train and val), found {len(flows)}")
    samples = []
    for flow_png in flows:
        ident = flow_png.name[: -len("_10.png")]
        first = require_file(root / "image_2" / f"{ident}_10.png", "KITTI first frame")
        second = require_file(root / "image_2" / f"{ident}_11.png", "KITTI second frame")
        flow = read_kitti_flow(flow_png)
        for frame in (first, second):
            with open_image(frame, what="KITTI frame", decode=False) as im:
                if im.size != (flow.shape[1], flow.shape[0]):
                    raise ValueError(f"{frame} is {im.size[0]}x{im.size[1]} but its flow map is {flow.shape[1]}x{flow.shape[0]}")
        samples.append((ident, first, second, flow))
    cut = min(len(samples) - 1, max(1, int(train_fraction * len(samples))))
    staging = make_temp_dir(Path(output_dir), "kitti-flow")
    try:
        for split, part in (("train", samples[:cut]), ("val", samples[cut:])):
            for sub in ("first", "second", "flow"):
                (staging / split / sub).mkdir(parents=True)
            for ident, first, second, flow in part:
                link_or_copy(first, staging / split / "first" / f"{ident}.png")
                link_or_copy(second, staging / split / "second" / f"{ident}.png")
                np.save(staging / split / "flow" / f"{ident}.npy", flow, allow_pickle=False)
        for split in ("train", "val"):
            final = Path(output_dir) / split
            if final.exists():
                shutil.rmtree(final)
            os.replace(staging / split, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {"output": str(output_dir), "pairs": {"train": cut, "val": len(samples) - cut}}
