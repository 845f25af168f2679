"""CLIP image embeddings of image exemplars with test-time augmentation (the encoding step of
MM-OVOD's ``get_exemplars_tta.py`` and ``generate_vision_classifier_agg.py --tta``).

Each exemplar (an entry of ``collate_exemplars`` / ``sample_exemplars``' dictionary: ``file_name``
and an optional ``bbox [x, y, w, h]``) is cropped to its box, turned into ``num_augs`` views
(view 0: the crop itself; the others: a random resized crop keeping 50-100 % of its area,
flipped left-right with probability 1/2; seeded per exemplar), each put through the CLIP model's
own preprocessing and encoded. The exemplar's embedding is the mean of its views' L2-normalised
embeddings, L2-normalised again. ``exemplar_classifiers`` then turns the ``K`` exemplar
embeddings of a category into one classifier.

CLIP comes from open_clip (``pip install 'ssl-data[clip]'``); ``model`` / ``pretrained`` are
open_clip names (MM-OVOD: ``ViT-B-32`` / ``openai``; the weights are open_clip's download).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ssl_data.prep.clip_features import load_clip
from ssl_data.prep.outputs import read_json, require_file, save_npy
from ssl_data.sources.image_file import open_image

__all__ = ["exemplar_crop", "exemplar_embeddings", "exemplar_features", "exemplar_views", "tta_embedding"]

#: The area range of the random resized crops of views 1 ... num_augs - 1.
TTA_SCALE = (0.5, 1.0)


def exemplar_crop(exemplar: Mapping[str, Any]) -> Any:
    """The RGB PIL image of an exemplar: its file, cut to ``bbox`` ``[x, y, w, h]`` (pixels,
    clipped to the image) when it has one."""
    if not isinstance(exemplar, Mapping) or "file_name" not in exemplar:
        raise ValueError(f"an exemplar must be an object with a file_name, got {str(exemplar)[:80]}")
    image = open_image(require_file(Path(exemplar["file_name"]), "exemplar image"), what="exemplar image", rgb=True)
    box = exemplar.get("bbox")
    if box is None:
        return image
    try:
        x, y, w, h = (float(v) for v in box)
    except (TypeError, ValueError):
        raise ValueError(f"exemplar {exemplar['file_name']}: bbox must be [x, y, w, h], got {box!r}") from None
    left, top = max(0, math.floor(x)), max(0, math.floor(y))
    right, bottom = min(image.width, math.ceil(x + w)), min(image.height, math.ceil(y + h))
    if right <= left or bottom <= top:
        raise ValueError(f"exemplar {exemplar['file_name']}: bbox {box} holds no pixel of the {image.width}x{image.height} image")
    return image.crop((left, top, right, bottom))


def exemplar_views(image: Any, num_augs: int, preprocess: Callable[[Any], Any], seed: int) -> Any:
    """``num_augs`` preprocessed views ``[num_augs, 3, S, S]`` of a PIL image (module docstring);
    the random views depend on ``seed`` only."""
    import torch
    from torchvision.transforms import v2

    if num_augs < 1:
        raise ValueError(f"num_augs must be >= 1, got {num_augs}")
    augment = v2.Compose([v2.RandomResizedCrop((image.height, image.width), scale=TTA_SCALE, antialias=True),
                          v2.RandomHorizontalFlip()])
    views = [preprocess(image)]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        views += [preprocess(augment(image)) for _ in range(num_augs - 1)]
    return torch.stack(views)


def tta_embedding(encode_image: Callable[[Any], Any], views: Any) -> Any:
    """``normalize(mean_v normalize(encode_image(views)[v]))``: views ``[V, 3, S, S]`` -> ``[D]``."""
    import torch
    from torch.nn.functional import normalize

    with torch.no_grad():
        return normalize(normalize(encode_image(views).float(), dim=-1).mean(dim=0), dim=0)


def exemplar_embeddings(exemplars: Mapping[str, Sequence[Mapping[str, Any]]], model: Any, preprocess: Callable[[Any], Any],
                        num_augs: int = 5, seed: int = 0) -> np.ndarray:
    """float32 ``[C, K, D]``: row ``c`` holds the TTA embeddings of the ``c``-th category's
    exemplars (dictionary order), ``K`` = the most exemplars of a category; missing ones are zero
    rows (an embedding is never zero: it has norm 1)."""
    keys = list(exemplars)
    width = max((len(exemplars[k]) for k in keys), default=0)
    if not keys or width == 0:
        raise ValueError("the exemplar dictionary has no exemplars")
    rows: list[list[np.ndarray]] = []
    index = 0
    for key in keys:
        row = []
        for exemplar in exemplars[key]:
            views = exemplar_views(exemplar_crop(exemplar), num_augs, preprocess, seed * 1_000_003 + index)
            row.append(tta_embedding(model.encode_image, views).numpy())
            index += 1
        rows.append(row)
    dim = next(len(e) for row in rows for e in row)
    out = np.zeros((len(keys), width, dim), dtype=np.float32)
    for c, row in enumerate(rows):
        for k, emb in enumerate(row):
            out[c, k] = emb
    return out


def _categories(path: Path) -> dict[str, list[Any]]:
    data = read_json(path, "exemplar dictionary")
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise ValueError(f"{path} must map each category to a list of exemplars")
    if all(str(k).lstrip("-").isdigit() for k in data):  # category ids: rows in id order
        return {k: data[k] for k in sorted(data, key=int)}
    return data


def exemplar_features(input_path: Path, output_dir: Path, model: str = "ViT-B-32", pretrained: str = "openai",
                      num_augs: int = 5, seed: int = 0) -> dict[str, Any]:
    """``-i exemplar_dict_K-005.json`` -> ``OUT/{stem}_clip_tta-{num_augs}.npy``, float32
    ``[C, K, D]`` exemplar embeddings (``exemplar_embeddings``), rows in category-id order (or
    the file's order when the keys are not ids). Every exemplar is read before anything is written."""
    exemplars = _categories(Path(input_path))
    net, _, preprocess = load_clip(model, pretrained)
    feats = exemplar_embeddings(exemplars, net, preprocess, num_augs, seed)
    out = save_npy(Path(output_dir) / f"{Path(input_path).stem}_clip_tta-{num_augs}.npy", feats)
    empty = [k for k, v in exemplars.items() if not v]
    return {"output": str(out), "shape": list(feats.shape), "categories": list(exemplars)[:5] + (["..."] if len(exemplars) > 5 else []),
            "categories_without_exemplars": empty}
