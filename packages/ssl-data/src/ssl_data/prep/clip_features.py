"""MM-OVOD's CLIP classifier tools: ``dump_clip_features.py`` (one CLIP text embedding per LVIS
category from a prompt), ``dump_clip_features_lvis_sentences.py`` (the mean embedding of each
category's descriptions) and ``norm_feat_sum_norm.py`` (fuse two classifiers).

CLIP comes from open_clip (``pip install 'ssl-data[clip]'``): ``model`` / ``pretrained`` are
open_clip names, whose weights open_clip downloads and caches on first use (e.g. ``ViT-B-32`` /
``openai``, MM-OVOD's choice). Every embedding is L2-normalised; outputs are float32
``[num_categories, D]`` .npy files in category-id order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ssl_data.prep.lvis import _lvis
from ssl_data.prep.outputs import require_file, save_npy

__all__ = ["clip_text_features", "encode_texts", "feature_sum_norm", "load_clip", "lvis_sentence_features"]


def load_clip(model: str, pretrained: str) -> tuple[Any, Any, Any]:
    """``(model in eval mode, tokenizer, image preprocessing)`` of open_clip's ``model`` with
    ``pretrained`` weights ("" = random initialisation)."""
    try:
        import open_clip
    except ImportError:
        raise ImportError("CLIP features need open_clip: pip install 'ssl-data[clip]'") from None
    net, _, preprocess = open_clip.create_model_and_transforms(model, pretrained=pretrained or None)
    return net.eval(), open_clip.get_tokenizer(model), preprocess


def encode_texts(model: Any, tokenizer: Any, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
    """L2-normalised CLIP text embeddings ``[len(texts), D]`` (float32) of an open_clip model."""
    import torch

    out = []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            emb = model.encode_text(tokenizer(list(texts[start : start + batch_size]))).float()
            out.append(torch.nn.functional.normalize(emb, dim=-1).numpy())
    return np.concatenate(out).astype(np.float32)


def _names(categories: list[dict[str, Any]]) -> list[str]:
    return [str(c.get("synonyms", [c["name"]])[0] if c.get("synonyms") else c["name"]).replace("_", " ") for c in categories]


def clip_text_features(input_path: Path, output_dir: Path, model: str = "ViT-B-32", pretrained: str = "openai", prompt: str = "a {}") -> dict[str, Any]:
    """``-i lvis_v1_val.json`` -> ``OUT/{stem}_clip_{prompt}.npy``: CLIP text embedding of
    ``prompt.format(category name)`` per category (Detic's ``a+cname``)."""
    if "{}" not in prompt:
        raise ValueError(f"prompt must contain {{}} for the category name, got {prompt!r}")
    cats = sorted(_lvis(Path(input_path))["categories"], key=lambda c: c["id"])
    net, tokenizer, _ = load_clip(model, pretrained)
    feats = encode_texts(net, tokenizer, [prompt.format(n) for n in _names(cats)])
    tag = prompt.replace("{}", "cname").replace(" ", "+")
    out = save_npy(Path(output_dir) / f"{Path(input_path).stem}_clip_{tag}.npy", feats)
    return {"output": str(out), "shape": list(feats.shape)}


def lvis_sentence_features(input_path: Path, output_dir: Path, descriptions_path: Path, model: str = "ViT-B-32", pretrained: str = "openai") -> dict[str, Any]:
    """``-i lvis json`` + ``descriptions_path`` (json ``{category name: [sentence, ...]}``) ->
    ``OUT/{descriptions stem}_features.npy``: per category the L2-normalised mean of its
    sentences' embeddings."""
    cats = sorted(_lvis(Path(input_path))["categories"], key=lambda c: c["id"])
    try:
        descriptions = json.loads(require_file(Path(descriptions_path), "descriptions file").read_text())
    except ValueError as e:
        raise ValueError(f"{descriptions_path} is not valid JSON ({e})") from None
    missing = [c["name"] for c in cats if not descriptions.get(c["name"])]
    if missing:
        raise ValueError(f"{descriptions_path} has no sentences for {len(missing)} categories, e.g. {missing[:3]}")
    net, tokenizer, _ = load_clip(model, pretrained)
    rows = []
    for c in cats:
        mean = encode_texts(net, tokenizer, [str(s) for s in descriptions[c["name"]]]).mean(axis=0)
        rows.append(mean / max(float(np.linalg.norm(mean)), 1e-12))
    feats = np.stack(rows).astype(np.float32)
    out = save_npy(Path(output_dir) / f"{Path(descriptions_path).stem}_features.npy", feats)
    return {"output": str(out), "shape": list(feats.shape)}


def feature_sum_norm(input_path: Path, output_dir: Path, other_path: Path) -> dict[str, Any]:
    """``norm_feat_sum_norm.py``: ``-i a.npy`` + ``other_path`` (both ``[C, D]``) ->
    ``OUT/{a}_plus_{b}.npy`` = ``normalize(normalize(a) + normalize(b))`` row-wise (the
    multi-modal classifier from text and image-exemplar classifiers)."""
    a = np.load(require_file(Path(input_path), "first feature file"), allow_pickle=False)
    b = np.load(require_file(Path(other_path), "second feature file"), allow_pickle=False)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"features must be two [C, D] arrays of one shape, got {a.shape} and {b.shape}")

    def unit(x: np.ndarray) -> np.ndarray:
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    fused = unit(unit(a.astype(np.float64)) + unit(b.astype(np.float64))).astype(np.float32)
    out = save_npy(Path(output_dir) / f"{Path(input_path).stem}_plus_{Path(other_path).stem}.npy", fused)
    return {"output": str(out), "shape": list(fused.shape)}
