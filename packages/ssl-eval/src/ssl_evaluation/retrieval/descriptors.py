"""Image descriptors for retrieval: load, resize (largest side), normalise, feature map,
pool (GeM / R-MAC / max / avg), average over scales, L2-normalise."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from os import PathLike
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF

from ssl_data.sources import open_image
from ssl_data.transforms import IMAGENET_MEAN, IMAGENET_STD

from ssl_evaluation.progress import ProgressFn, Ticker
from ssl_evaluation.retrieval.pooling import gem_pool, rmac_pool

__all__ = [
    "Pooling",
    "load_retrieval_image",
    "extract_descriptors",
    "feature_map_of",
]

Pooling = Literal["gem", "rmac", "max", "avg", "none"]


def load_retrieval_image(
    path: str | PathLike[str],
    resize_max: int = 1024,
    roi: Sequence[float] | None = None,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> torch.Tensor:
    """Read an image as normalised float ``[3, H, W]``.

    ``resize_max > 0`` resizes (bilinear) so the larger side equals it (VISSL's RESIZE_IMG);
    ``resize_max <= 0`` keeps the size. ``roi`` ``(xmin, ymin, xmax, ymax)`` in original pixel
    coordinates crops after resizing (scaled by the same ratio; VISSL's CROP_QUERY_ROI).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"image not found: {p}")
    img = TF.to_image(open_image(p, rgb=True))
    h, w = img.shape[-2:]
    ratio = 1.0
    if resize_max > 0:
        ratio = resize_max / max(h, w)
        img = TF.resize(img, [max(1, round(h * ratio)), max(1, round(w * ratio))], antialias=True)
    x = TF.normalize(TF.to_dtype(img, torch.float32, scale=True), list(mean), list(std))
    if roi is not None:
        if len(roi) != 4:
            raise ValueError(f"roi must be (xmin, ymin, xmax, ymax), got {roi}")
        x0, y0, x1, y1 = (int(round(float(v) * ratio)) for v in roi)
        x = x[:, max(0, y0) : max(y0 + 1, y1), max(0, x0) : max(x0 + 1, x1)]
    return x


def _pool(fmap: torch.Tensor, pooling: Pooling, gem_p: float, rmac_levels: int) -> torch.Tensor:
    if pooling == "none":
        if fmap.ndim != 2:
            raise ValueError(f"pooling='none' needs [B, D] model outputs, got {tuple(fmap.shape)}")
        return fmap
    if fmap.ndim != 4:
        raise ValueError(
            f"pooling={pooling!r} needs a feature map [B, C, H, W] from the model, got {tuple(fmap.shape)}"
        )
    if pooling == "gem":
        return gem_pool(fmap, gem_p)
    if pooling == "rmac":
        return rmac_pool(fmap, rmac_levels)
    if pooling == "max":
        return fmap.amax(dim=(2, 3))
    if pooling == "avg":
        return fmap.mean(dim=(2, 3))
    raise ValueError(f"pooling must be one of gem, rmac, max, avg, none; got {pooling!r}")


@torch.no_grad()
def extract_descriptors(
    feature_fn: Callable[[torch.Tensor], torch.Tensor],
    image_paths: Sequence[str | PathLike[str]],
    *,
    pooling: Pooling = "gem",
    gem_p: float = 4.0,
    rmac_levels: int = 3,
    scales: Sequence[float] = (1.0,),
    resize_max: int = 1024,
    rois: Sequence[Sequence[float] | None] | None = None,
    normalize: bool = True,
    device: str | torch.device = "cpu",
    progress: ProgressFn | None = None,
    stage: str = "descriptors",
) -> torch.Tensor:
    """Descriptors ``float32 [len(image_paths), D]``, one image at a time (sizes differ);
    ``progress(stage, images done, len(image_paths))`` after each.

    ``feature_fn`` maps ``[1, 3, H, W]`` to a feature map ``[1, C, h, w]`` (VISSL uses ``res5``
    of the trunk with identity pooling; see :func:`ssl_evaluation.retrieval.feature_map_of`) or, with
    ``pooling="none"``, to ``[1, D]``. For each scale ``s`` (VISSL's IMG_SCALINGS) the image is
    rescaled by ``s`` and pooled; the per-scale descriptors are averaged, then L2-normalised
    when ``normalize`` (NORMALIZE_FEATURES).
    """
    if len(image_paths) == 0:
        raise ValueError("image_paths is empty: nothing to describe")
    if not scales or any(s <= 0 for s in scales):
        raise ValueError(f"scales must be a non-empty list of positive factors, got {list(scales)}")
    if rois is not None and len(rois) != len(image_paths):
        raise ValueError(f"rois has {len(rois)} entries but image_paths has {len(image_paths)}")
    rows = []
    ticker = Ticker(progress, stage, len(image_paths))
    for i, path in enumerate(image_paths):
        img = load_retrieval_image(path, resize_max, rois[i] if rois is not None else None).to(device)
        acc = None
        for s in scales:
            x = img[None]
            if s != 1.0:
                size = [max(1, round(img.shape[1] * s)), max(1, round(img.shape[2] * s))]
                x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
            d = _pool(feature_fn(x), pooling, gem_p, rmac_levels).float()
            acc = d if acc is None else acc + d
        desc = acc / len(scales)
        rows.append(F.normalize(desc, dim=1) if normalize else desc)
        ticker.advance()
    return torch.cat(rows).cpu()


def feature_map_of(model: torch.nn.Module, layer: str = "res5") -> Callable[[torch.Tensor], torch.Tensor]:
    """A ``feature_fn`` for :func:`extract_descriptors` from a trunk.

    Uses ``model.forward_features(x, [layer])[layer]`` when the model has the ssl-models
    trunk interface (``feature_names()``), else calls ``model(x)`` (which must then return the map).
    """
    names = getattr(model, "feature_names", None)
    if callable(names):
        available = list(names())
        if layer not in available:
            raise ValueError(f"layer {layer!r} is not a feature of this trunk; it has {available}")

        def fn(x: torch.Tensor) -> torch.Tensor:
            return model.forward_features(x, [layer])[layer]

        return fn
    return model
